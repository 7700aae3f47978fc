"""Caches of loaded tables: an index on disk keyed by the source files' content, and one
copy per process for every policy that names the same files.

The on-disk cache makes a large table's second load a few reads instead of a parse and a
sort; it is keyed by the SHA-256 of the source files, so a copy of the same files
elsewhere (another folder, a policy bundle on another machine) finds the same index, and
an edited file never meets a stale one. A cache file that cannot be read is rebuilt; a
cache folder that cannot be written only costs the speed-up.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Callable, TypeVar

import platformdirs

CACHE_ENV = "PAYER_RULES_CACHE"
APP_NAME = "payer-rules"

T = TypeVar("T")


def file_digest(paths: list[Path]) -> str:
    """SHA-256 over the files' bytes in order (a NUL after each)."""
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()


def cache_dir() -> Path | None:
    """Where table indexes are cached: $PAYER_RULES_CACHE (empty: no caching), else the
    user's cache folder as the platform defines it (platformdirs: ``$XDG_CACHE_HOME`` or
    ``~/.cache`` on Linux, ``~/Library/Caches`` on macOS, ``%LOCALAPPDATA%`` on Windows)."""
    env = os.environ.get(CACHE_ENV)
    if env is not None:
        return Path(env) if env else None  # empty: caching off
    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def cache_name(prefix: str, paths: list[Path]) -> str:
    """The cache file name of the index of ``paths``, keyed by their content."""
    return f"{prefix}-{file_digest(paths)[:32]}.idx"


def cached_index(prefix: str, paths: list[Path], build: Callable[[], T], load: Callable[[Path], T],
                 use_cache: bool = True) -> T:
    """``load`` the index of ``paths`` from the cache folder, else ``build`` it and save it
    there (``T.save(path)``). A cache file ``load`` rejects (OSError, ValueError, EOFError,
    KeyError) is rebuilt."""
    cdir = cache_dir() if use_cache else None
    cfile = cdir / cache_name(prefix, paths) if cdir else None
    if cfile is not None and cfile.is_file():
        try:
            return load(cfile)
        except (OSError, ValueError, EOFError, KeyError):
            pass  # unreadable cache: rebuild it
    index = build()
    if cfile is not None:
        try:
            cfile.parent.mkdir(parents=True, exist_ok=True)
            index.save(cfile)  # type: ignore[attr-defined]
        except OSError:
            pass  # a read-only home still works, just without the cache
    return index


_SHARED: dict[tuple, object] = {}
_SHARED_LOCK = threading.Lock()


def _key(kind: str, paths: list[Path]) -> tuple:
    out: list[object] = [kind]
    for p in paths:
        st = p.stat()
        out.append((str(p.resolve()), st.st_mtime_ns, st.st_size))
    return tuple(out)


def shared_table(kind: str, paths: list[Path], load: Callable[[list[Path]], T]) -> T:
    """``load(paths)`` once per process for the same files (same resolved paths, times and
    sizes): every policy naming them shares one copy. Tables are immutable once built."""
    key = _key(kind, paths)
    with _SHARED_LOCK:
        hit = _SHARED.get(key)
        if hit is None:
            hit = load(paths)
            _SHARED[key] = hit
        return hit  # type: ignore[return-value]
