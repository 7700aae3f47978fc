"""A policy bundle: policies, their tables, the PTP index cache and plugin code in one file.

An :class:`~payer_rules.Engine` cannot be pickled (it holds modules and hook callers), and
building one cold reads the PTP table into its index (about 7 s for the full CMS table).
A cluster therefore ships a *bundle* instead: a zip the driver builds once, holding

- ``policies/<n>/``: each policy source (a folder, or one file) with the table files its
  policies name, at the same relative paths, so ``tables.<kind>.file`` resolves unchanged;
- ``cache/ptp-<digest>.idx``: the prebuilt PTP index of every PTP table, under the name
  :func:`payer_rules.tables.load_ptp` looks for (keyed by the tables' content);
- ``python/``: the source of plugin modules named with ``plugins=`` (a module file or a
  package folder), importable once the bundle is opened;
- ``manifest.json``: format, package version, rules evaluator, the policy folders, the
  plugins, and the SHA-256 of every other member.

:func:`open_bundle` unpacks a bundle once per process into a temporary folder (checking
every SHA-256), and builds the Engine from it with ``PAYER_RULES_CACHE`` pointed at the
bundle's cache while the tables load, so no node rebuilds an index. The same inputs give a
byte-identical bundle (members sorted, fixed timestamps).
"""

from __future__ import annotations

import atexit
import hashlib
import importlib
import io
import json
import os
import shutil
import sys
import tempfile
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable

from . import __version__
from .engine import Engine
from .policy import bundled_dir, policy_files
from .tables import CACHE_ENV, ptp_cache_name, shared, table_paths
from .tables.validity import PROVENANCE_SUFFIX

FORMAT = 1
MANIFEST = "manifest.json"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_SKIP_DIRS = {"__pycache__", ".git", ".venv", ".pytest_cache"}


class BundleError(ValueError):
    """A bundle that cannot be built or opened; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Bundle:
    """An opened bundle: where it was unpacked and what its manifest says."""

    path: Path          # the bundle file
    root: Path          # the folder it was unpacked into
    sha256: str         # of the bundle file
    manifest: dict[str, Any]

    @property
    def policy_dirs(self) -> list[Path]:
        return [self.root / p for p in self.manifest["policies"]]

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _tree(root: Path) -> list[Path]:
    """Files under ``root`` (hidden files and caches left out), sorted."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
        for f in filenames:
            if not f.startswith(".") and not f.endswith(".pyc"):
                out.append(Path(dirpath) / f)
    return sorted(out)


def _module_files(name: str) -> tuple[Path, list[Path]]:
    """(folder to import from, files) of plugin module ``name``: a module file or a package."""
    try:
        module = importlib.import_module(name)
    except Exception as exc:
        raise BundleError(f"plugin module '{name}' cannot be imported on this machine "
                          f"({exc.__class__.__name__}): it must be importable where the bundle is built") from None
    file = getattr(module, "__file__", None)
    if not file:
        raise BundleError(f"plugin module '{name}' has no source file to bundle")
    top = name.split(".")[0]
    if "." in name:
        raise BundleError(f"plugin module '{name}': bundle a top-level module or package ('{top}')")
    path = Path(file)
    if path.name == "__init__.py":  # a package: the whole folder
        return path.parent.parent, _tree(path.parent)
    return path.parent, [path]


def build_bundle(
    out: str | Path,
    policies: str | Path | Iterable[str | Path] | None = None,
    *,
    plugins: Iterable[str] = (),
    rules_evaluator: str = "builtin",
) -> Path:
    """Write a bundle of ``policies`` (default: the bundled ones) to ``out`` and return its path.

    ``plugins``: names of top-level plugin modules (importable here) to ship in the bundle;
    policies name them in ``plugins:`` by the same name. The policies are loaded first (with
    the plugins), so a bundle that is written is one that loads; a table file outside its
    policy's folder is refused (the bundle keeps relative paths).
    """
    out = Path(out)
    plugin_names = list(dict.fromkeys(plugins))
    for name in plugin_names:
        _module_files(name)  # refused here, with a message, if it cannot be bundled
    modules = [(n, importlib.import_module(n)) for n in plugin_names]
    sources = [bundled_dir()] if policies is None else (
        [Path(policies)] if isinstance(policies, (str, Path)) else [Path(p) for p in policies])
    engine = Engine(sources, plugins=modules, rules_evaluator=rules_evaluator)

    members: dict[str, Path] = {}  # name in the bundle -> file here
    policy_roots: list[str] = []
    for n, src in enumerate(sources):
        root = src if src.is_dir() else src.parent
        prefix = f"policies/{n}"
        policy_roots.append(prefix if src.is_dir() else f"{prefix}/{src.name}")
        files = _tree(root) if src.is_dir() else list(policy_files(src))
        for f in files:
            members[f"{prefix}/{f.relative_to(root).as_posix()}"] = f
    ptp_tables: list[list[Path]] = []
    root_of = {str(Path(v.path).resolve()): n for n, src in enumerate(sources)
               for v in engine.policies.all() if _inside(Path(v.path), src)}
    for v in engine.policies.all():
        n = root_of.get(str(Path(v.path).resolve()))
        if n is None:
            raise BundleError(f"{v.path}: not under any policy source given")
        src = sources[n]
        root = src if src.is_dir() else src.parent
        for kind in ("ptp", "mue", "pfs"):
            found = table_paths(v, kind)
            if found is None:
                continue
            for p in found[0]:
                try:
                    rel = p.resolve().relative_to(root.resolve())
                except ValueError:
                    raise BundleError(f"{v.path}: tables.{kind} names a file outside the policy's folder; "
                                      f"keep the policy's tables under its folder to bundle it") from None
                members[f"policies/{n}/{rel.as_posix()}"] = p
                prov = Path(str(p) + PROVENANCE_SUFFIX)  # the table's dates (payer_rules.tables.validity)
                if prov.is_file():
                    members[f"policies/{n}/{rel.as_posix()}{PROVENANCE_SUFFIX}"] = prov
            if kind == "ptp" and found[0] not in ptp_tables:
                ptp_tables.append(found[0])
    plugin_entries = []
    for name in plugin_names:
        base, files = _module_files(name)
        for f in files:
            members[f"python/{f.relative_to(base).as_posix()}"] = f
        plugin_entries.append({"name": name, "module": name})

    with tempfile.TemporaryDirectory(prefix="payer-rules-bundle-") as tmp:
        for paths in ptp_tables:  # the index as this process has it (or its disk cache), saved once
            cname = ptp_cache_name(paths)
            target = Path(tmp) / cname
            shared("ptp", paths).save(target)
            members[f"cache/{cname}"] = target
        digests = {name: _sha256_file(f) for name, f in sorted(members.items())}
        manifest = {"format": FORMAT, "payer_rules": __version__, "rules_evaluator": rules_evaluator,
                    "policies": policy_roots, "plugins": plugin_entries, "files": digests}
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + f".tmp{os.getpid()}")
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            _write(zf, MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())
            for name in sorted(members):
                _write(zf, name, members[name].read_bytes())
        os.replace(partial, out)
    return out


def _inside(path: Path, src: Path) -> bool:
    path = path.resolve()
    src = src.resolve()
    return path == src if src.is_file() else src in path.parents


def _write(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


# -- opening (on a cluster node) --------------------------------------------------------------

_OPENED: dict[str, Bundle] = {}
_DIGESTS: dict[tuple, str] = {}
_ENGINES: dict[str, Engine] = {}
_LOCK = threading.Lock()


def open_bundle(path: str | Path) -> Bundle:
    """Unpack the bundle at ``path`` (once per process and bundle content) and check it."""
    path = Path(path)
    if not path.is_file():
        raise BundleError(f"{path}: bundle file not found")
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)  # hashed once, not once per task
    digest = _DIGESTS.get(key)
    if digest is None:
        digest = _DIGESTS[key] = _sha256_file(path)
    with _LOCK:
        hit = _OPENED.get(digest)
        if hit is not None:
            return hit
        root = Path(tempfile.mkdtemp(prefix=f"payer-rules-bundle-{digest[:12]}-"))
        try:
            manifest = _unpack(path, root)
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        atexit.register(shutil.rmtree, root, True)
        bundle = Bundle(path, root, digest, manifest)
        _OPENED[digest] = bundle
        return bundle


def _unpack(path: Path, root: Path) -> dict[str, Any]:
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise BundleError(f"{path}: not a payer-rules bundle (not a zip file)") from None
    with zf:
        try:
            manifest = json.loads(zf.read(MANIFEST))
        except KeyError:
            raise BundleError(f"{path}: not a payer-rules bundle (no {MANIFEST})") from None
        if manifest.get("format") != FORMAT:
            raise BundleError(f"{path}: bundle format {manifest.get('format')!r}; this payer-rules reads {FORMAT}")
        files: dict[str, str] = manifest.get("files", {})
        names = set(zf.namelist()) - {MANIFEST}
        if names != set(files):
            raise BundleError(f"{path}: members do not match the manifest")
        for name in sorted(files):
            target = (root / name).resolve()
            if root.resolve() not in target.parents:
                raise BundleError(f"{path}: member {name!r} would be written outside the bundle folder")
            data = zf.read(name)
            if hashlib.sha256(data).hexdigest() != files[name]:
                raise BundleError(f"{path}: member {name} does not match its SHA-256 in the manifest")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    return manifest


def bundle_plugins(bundle: Bundle) -> list[tuple[str, ModuleType]]:
    """The bundle's plugin modules, imported from its ``python/`` folder."""
    entries = bundle.manifest.get("plugins", [])
    if not entries:
        return []
    python = str(bundle.root / "python")
    if python not in sys.path:
        sys.path.insert(0, python)
    importlib.invalidate_caches()
    return [(e["name"], importlib.import_module(e["module"])) for e in entries]


def engine_from_bundle(path: str | Path) -> Engine:
    """The Engine of a bundle, built once per process and bundle content, then reused.

    The tables load with ``PAYER_RULES_CACHE`` pointed at the bundle's cache (restored
    after), so the PTP index is read from the bundle rather than rebuilt.
    """
    bundle = open_bundle(path)
    with _LOCK:
        engine = _ENGINES.get(bundle.sha256)
        if engine is not None:
            return engine
        before = os.environ.get(CACHE_ENV)
        os.environ[CACHE_ENV] = str(bundle.cache_dir)
        try:
            engine = Engine(bundle.policy_dirs, plugins=bundle_plugins(bundle),
                            rules_evaluator=bundle.manifest.get("rules_evaluator", "builtin"))
        finally:
            if before is None:
                os.environ.pop(CACHE_ENV, None)
            else:
                os.environ[CACHE_ENV] = before
        _ENGINES[bundle.sha256] = engine
        return engine


def describe(path: str | Path) -> str:
    """A short text of what a bundle holds (for the CLI): no claim data, only file names."""
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read(MANIFEST))
    files = manifest["files"]
    caches = [n for n in files if n.startswith("cache/")]
    out = io.StringIO()
    out.write(f"{path}: payer-rules bundle format {manifest['format']} (payer-rules {manifest['payer_rules']}), "
              f"sha256 {_sha256_file(Path(path))}\n")
    out.write(f"  policy sources: {', '.join(manifest['policies'])}\n")
    out.write(f"  files: {len(files)}; PTP index caches: {', '.join(caches) or 'none'}\n")
    out.write(f"  plugins: {', '.join(p['name'] for p in manifest['plugins']) or 'none'}\n")
    return out.getvalue()


def cmd_bundle(args: Any) -> int:
    """``payer-rules bundle OUT [--policies ...] [--plugin MODULE ...]``: build, then describe."""
    try:
        path = build_bundle(args.output, args.policies or None, plugins=args.plugin,
                            rules_evaluator=args.rules_evaluator)
    except BundleError as exc:
        sys.stderr.write(f"payer-rules: {exc}\n")
        return 2
    sys.stdout.write(describe(path))
    return 0


__all__ = ["Bundle", "BundleError", "build_bundle", "bundle_plugins", "cmd_bundle", "describe", "engine_from_bundle",
           "open_bundle"]
