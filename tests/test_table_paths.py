"""Table paths a policy names must resolve inside its folder (after symlinks) unless the host
allows more folders: ``../../etc/passwd``, ``/etc/passwd``, ``/proc/self/environ`` and a
symlink to ``/etc/shadow`` are refused with the policy's file:line, before anything is opened."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from payer_rules import Engine, PolicyError
from payer_rules.tables import TableError, policy_table, required_table, table_path_problems

PTP = "column1,column2,deletion_date,modifier_indicator,rationale\n97140,97124,*,0,x\n"

POLICY = textwrap.dedent("""\
    schema_version: 1
    payer: tp
    name: Table path payer
    unit_method: cms_total_time
    codes:
      timed: {"97110": 15, "97140": 15, "97124": 15}
    tables:
      ptp:
        file: FILE
        version: test
    ncci: {associated_modifiers: ["59"]}
    versions:
      - version: "1"
        effective_from: "2024-01-01"
    """)
FILE_LINE = 9  # the line of `file:` in POLICY


def policy_dir(tmp_path: Path, file: str, text: str = POLICY) -> Path:
    d = tmp_path / "pol"
    (d / "tables").mkdir(parents=True, exist_ok=True)
    (d / "tp.yaml").write_text(text.replace("FILE", file))
    return d


def cli(*args, stdin=""):
    return subprocess.run([sys.executable, "-m", "payer_rules.cli", *args], input=stdin,
                          capture_output=True, text=True)


def hostile(tmp_path: Path) -> dict[str, str]:
    up = "../" * (len(tmp_path.parts) + 2)
    return {"dotdot": f"{up}etc/passwd", "absolute": "/etc/passwd", "proc": "/proc/self/environ",
            "symlink": "tables/shadow.csv"}


@pytest.mark.parametrize("case", ["dotdot", "absolute", "proc", "symlink"])
def test_escaping_table_paths_are_refused_with_file_line(tmp_path, case, monkeypatch):
    file = hostile(tmp_path)[case]
    d = policy_dir(tmp_path, file)
    if case == "symlink":
        os.symlink("/etc/shadow", d / "tables" / "shadow.csv")
    opened = []
    real_open = open

    def watch(path, *a, **kw):  # nothing outside the folder is opened, not even to fail
        if str(path).startswith(("/etc", "/proc")):
            opened.append(str(path))
        return real_open(path, *a, **kw)

    monkeypatch.setattr("builtins.open", watch)
    with pytest.raises(PolicyError) as exc:
        Engine(d)
    monkeypatch.undo()
    assert not opened
    (problem,) = exc.value.problems
    assert problem.path == str(d / "tp.yaml") and problem.line == FILE_LINE
    assert "tables.ptp" in problem.message and "lies outside the policy's folder" in problem.message
    assert "table_roots" in problem.message
    r = cli("check", "--policies", str(d), "-", stdin="{}")
    assert r.returncode == 2 and f"{d / 'tp.yaml'}:{FILE_LINE}:" in r.stderr and "Traceback" not in r.stderr
    r = cli("lint", str(d))
    assert r.returncode == 1 and f"{d / 'tp.yaml'}:{FILE_LINE}:" in r.stdout and "outside" in r.stdout


def test_tables_inside_the_folder_and_symlinks_within_it_load(tmp_path):
    d = policy_dir(tmp_path, "tables/link.csv")
    (d / "tables" / "ptp.csv").write_text(PTP)
    os.symlink("ptp.csv", d / "tables" / "link.csv")
    engine = Engine(d)
    assert engine.policies.versions("tp")


def test_a_symlinked_policy_folder_is_its_own_root(tmp_path):
    d = policy_dir(tmp_path, "tables/ptp.csv")
    (d / "tables" / "ptp.csv").write_text(PTP)
    os.symlink(d, tmp_path / "alias")
    assert Engine(tmp_path / "alias").policies.versions("tp")


def test_the_line_is_the_versions_override_when_it_names_the_table(tmp_path):
    text = POLICY + (
        '  - version: "2"\n'
        '    effective_from: "2025-01-01"\n'
        '    overrides:\n'
        '      tables:\n'
        '        ptp:\n'
        '          files: [tables/ptp.csv, /etc/passwd]\n')
    text = text.replace('effective_from: "2024-01-01"', 'effective_from: "2024-01-01"\n    effective_to: "2024-12-31"')
    d = policy_dir(tmp_path, "tables/ptp.csv", text)
    (d / "tables" / "ptp.csv").write_text(PTP)
    with pytest.raises(PolicyError) as exc:
        Engine(d)
    (problem,) = exc.value.problems
    lines = text.splitlines()
    assert problem.line == next(i for i, ln in enumerate(lines, 1) if "files: [tables/ptp.csv" in ln)
    assert "'/etc/passwd'" in problem.message


def _policy(d: Path, file: str) -> SimpleNamespace:
    spec = {"file": file, "version": "v"}
    return SimpleNamespace(payer="tp", version="1", path=str(d / "tp.yaml"), lines=None,
                           settings={"tables": {"ptp": spec}})


def test_the_host_may_allow_more_folders(tmp_path):
    d = policy_dir(tmp_path, "x")
    shared = tmp_path / "shared-tables"
    shared.mkdir()
    (shared / "ptp.csv").write_text(PTP)
    pol = _policy(d, str(shared / "ptp.csv"))
    with pytest.raises(TableError, match="outside the policy's folder"):
        required_table(pol, "ptp", "ncci")
    table, version = required_table(pol, "ptp", "ncci", {"table_roots": (shared,)})
    assert table.lookup("97140", "97124", 20240101) is not None and version == "v"
    assert policy_table(pol, "ptp", {"table_roots": str(shared)})[0] is table  # one path as text is fine
    # allowing a folder allows only that folder
    other = _policy(d, "/etc/passwd")
    (problem,) = table_path_problems(other, {"table_roots": (shared,)})
    assert "and the folders the host allows" in problem.message
    # a symlink in an allowed folder pointing out of it is still refused
    os.symlink("/etc/passwd", shared / "out.csv")
    assert table_path_problems(_policy(d, str(shared / "out.csv")), {"table_roots": (shared,)})


def test_engine_table_roots_option(tmp_path):
    if "table_roots" not in inspect.signature(Engine).parameters:
        pytest.skip("Engine(table_roots=...) is not on this branch yet")
    shared = tmp_path / "shared-tables"
    shared.mkdir()
    (shared / "ptp.csv").write_text(PTP)
    d = policy_dir(tmp_path, str(shared / "ptp.csv"))
    with pytest.raises(PolicyError, match="outside the policy's folder"):
        Engine(d)
    assert Engine(d, table_roots=[shared]).policies.versions("tp")


def test_cli_table_root_flag(tmp_path):
    shared = tmp_path / "shared-tables"
    shared.mkdir()
    (shared / "ptp.csv").write_text(PTP)
    d = policy_dir(tmp_path, str(shared / "ptp.csv"))
    claim = ('{"claim_id":"A","payer":"tp","lines":[{"line":1,"code":"97140","date_of_service":"2024-03-05",'
             '"minutes":15,"modifiers":["GP"]},{"line":2,"code":"97124","date_of_service":"2024-03-05","minutes":15,'
             '"modifiers":["GP"]}]}')
    r = cli("check", "--policies", str(d), "-", stdin=claim)
    assert r.returncode == 2 and "outside the policy's folder" in r.stderr
    r = cli("check", "--policies", str(d), "--table-root", str(shared), "-", stdin=claim)
    assert r.returncode in (0, 1) and "ncci.ptp" in r.stdout, r.stderr
