"""Table readers (CMS TXT and CSV layouts, MUE and fee schedule), the compact PTP index and
its cache, the import command, and the real CMS data when ../shared is present."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from payer_rules.tables import (NO_DELETION, PtpTable, TableError, dos_int, iter_ptp_rows, load_ptp, read_mue,
                                read_pfs)

from conftest import SHARED

CMS_TXT = (
    "CPT only copyright 2023 American Medical Association. All rights reserved.\n"
    "\n"
    "Column 1\tColumn 2\t* = In existence prior to 1996\tEffective Date\tDeletion Date\tModifier\tPTP Edit Rationale\n"
    "\t\t\t\t*=no data\t0=not allowed\t\n"
    "\t\t\t\t\t1=allowed\t\n"
    "\t\t\t\t\t9=not applicable\t\n"
    "97140\t97124\t\t20020101\t*\t0\tStandards of medical/surgical practice\n"
    "97140\t97530\t\t20200101\t20191231\t1\tMutually exclusive procedures\n"
    "97140\t97530\t\t20160101\t20181231\t1\tMutually exclusive procedures\n"
    "97530\t97116\t*\t19960101\t*\t1\tMutually exclusive procedures\n"
)


def test_cms_txt_layout(tmp_path):
    f = tmp_path / "ccipra-v301r0-f1.txt"
    f.write_text(CMS_TXT)
    rows = list(iter_ptp_rows(f))
    assert [(r[1], r[2], r[3], r[4], r[5]) for r in rows] == [
        ("97140", "97124", 20020101, NO_DELETION, 0), ("97140", "97530", 20200101, 20191231, 1),
        ("97140", "97530", 20160101, 20181231, 1), ("97530", "97116", 19960101, NO_DELETION, 1)]
    t = PtpTable.build(iter_ptp_rows(f))
    assert t.lookup("97140", "97124", dos_int("2024-05-01")).modifier_indicator == 0
    assert t.lookup("97140", "97530", dos_int("2017-05-01")).effective == 20160101  # the covering window
    assert t.lookup("97140", "97530", dos_int("2020-05-01")) is None  # deleted before it took effect
    assert t.lookup("97124", "97140", dos_int("2024-05-01")) is None  # order matters


@pytest.mark.parametrize("bad,line,what", [
    ("97140\t97124\t\t2002010\t*\t0\tx\n", 7, "effective date"),
    ("97140\t97124\t\t20020101\t*\t7\tx\n", 7, "modifier indicator"),
    ("97140\t97124\t\t20020101\n", 7, "truncated"),
])
def test_cms_txt_errors_name_line(tmp_path, bad, line, what):
    f = tmp_path / "f.txt"
    f.write_text("\n".join(CMS_TXT.splitlines()[:6]) + "\n" + bad)
    with pytest.raises(TableError) as exc:
        list(iter_ptp_rows(f))
    assert exc.value.line == line and what in str(exc.value) and str(f) in str(exc.value)


def test_csv_layout_wrong_columns(tmp_path):
    f = tmp_path / "p.csv"
    f.write_text("column1,column2,deletion_date,modifier_indicator,rationale\n97140,97124,*,0\n")
    with pytest.raises(TableError, match="expected 5 columns"):
        list(iter_ptp_rows(f))


def test_cache_roundtrip_and_reuse(tmp_path, monkeypatch):
    monkeypatch.setenv("PAYER_RULES_CACHE", str(tmp_path / "cache"))
    f = tmp_path / "p.csv.gz"
    with gzip.open(f, "wt") as fh:
        fh.write("column1,column2,deletion_date,modifier_indicator,rationale\n97140,97124,*,0,a\n97530,97116,*,1,b\n")
    t1 = load_ptp([f])
    assert len(list((tmp_path / "cache").iterdir())) == 1
    t2 = load_ptp([f])  # from the cache
    assert [r for r in t1.iter_rows()] == [r for r in t2.iter_rows()]
    assert t2.lookup("97530", "97116", 20240101).rationale == "b"
    # a corrupt cache is rebuilt, not trusted
    (next((tmp_path / "cache").iterdir())).write_bytes(b"garbage")
    assert load_ptp([f]).lookup("97140", "97124", 20240101).modifier_indicator == 0


def test_cache_folder_env_override_and_platform_default(tmp_path, monkeypatch):
    import platformdirs

    from payer_rules.tables import cache_dir
    monkeypatch.setenv("PAYER_RULES_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.setenv("PAYER_RULES_CACHE", "")
    assert cache_dir() is None  # empty: caching off
    f = tmp_path / "p.csv"
    f.write_text("column1,column2,deletion_date,modifier_indicator,rationale\n97140,97124,*,0,a\n")
    assert load_ptp([f]).lookup("97140", "97124", 20240101) is not None  # and loading still works
    monkeypatch.delenv("PAYER_RULES_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == Path(platformdirs.user_cache_dir("payer-rules", appauthor=False))
    if sys.platform.startswith("linux"):
        assert cache_dir() == tmp_path / "xdg" / "payer-rules"


CMS_MUE = ('"CPT codes, descriptions and other data only are copyright 2023 American Medical Association."\n'
           '"HCPCS/CPT Code","Practitioner Services MUE Values","MUE Adjudication Indicator","MUE Rationale"\n'
           '97110,6,"3 Date of Service Edit: Clinical","Clinical: Data"\n'
           '98940,1,"2 Date of Service Edit: Policy","Code Descriptor / CPT Instruction"\n'
           '97750,8,"1 Line Edit","Clinical: Data"\n')


def test_mue_cms_layout(tmp_path):
    f = tmp_path / "MCR_MUE_PractitionerServices_Eff_04-01-2024.csv"
    f.write_text(CMS_MUE)
    t = read_mue(f)
    assert (t["97110"].value, t["97110"].mai) == (6, 3) and t["97750"].mai == 1 and t["98940"].mai == 2


def test_mue_bad_row(tmp_path):
    f = tmp_path / "m.csv"
    f.write_text(CMS_MUE + "97112,four,3 x,y\n")
    with pytest.raises(TableError) as exc:
        read_mue(f)
    assert exc.value.line == 6 and "MUE value" in str(exc.value)


def test_pfs_reader(tmp_path):
    f = tmp_path / "pfs.csv"
    f.write_text("hcpcs,modifier,status,mult_proc\n97010,,B,9\n97110,,A,5\n97110,26,A,0\n")
    t = read_pfs(f)
    assert t["97010"].status == "B" and t["97110"].mult_proc == "5"


def test_import_command_writes_table_and_provenance(tmp_path, monkeypatch):
    monkeypatch.setenv("PAYER_RULES_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "ccipra-v301r0-f1.txt"
    src.write_text(CMS_TXT)
    out = tmp_path / "pol" / "tables" / "ptp.csv.gz"
    r = subprocess.run([sys.executable, "-m", "payer_rules.cli", "tables", "import", "ptp", str(src),
                        "--out", str(out), "--version", "test v1", "--codes", "97[0-9]{3}"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    prov = json.loads(Path(str(out) + ".provenance.json").read_text())
    assert prov["rows"] == 4 and prov["version"] == "test v1" and prov["sources"][0]["file"] == src.name
    t = load_ptp([out])
    assert t.lookup("97140", "97530", 20170101).effective == 20160101  # effective dates survive
    # byte-identical on a second import
    first = out.read_bytes()
    subprocess.run([sys.executable, "-m", "payer_rules.cli", "tables", "import", "ptp", str(src),
                    "--out", str(out), "--version", "test v1", "--codes", "97[0-9]{3}"], check=True)
    assert out.read_bytes() == first


def test_import_command_bad_file(tmp_path):
    src = tmp_path / "x.txt"
    src.write_text("hello\n" * 20)
    r = subprocess.run([sys.executable, "-m", "payer_rules.cli", "tables", "import", "ptp", str(src),
                        "--out", str(tmp_path / "o.csv"), "--version", "v"], capture_output=True, text=True)
    assert r.returncode == 2 and "not a PTP file" in r.stderr and "Traceback" not in r.stderr


# -- the real CMS files in ../shared/data --------------------------------------------------

REAL = SHARED / "data" / "ncci"
needs_real = pytest.mark.skipif(not (REAL / "ptp_practitioner_v301r0.csv.gz").exists(),
                                reason="../shared/data is not present")


@pytest.fixture(scope="module")
def full_ptp(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("PAYER_RULES_CACHE", str(tmp_path_factory.mktemp("ptpcache")))
    yield load_ptp([REAL / "ptp_practitioner_v301r0.csv.gz"])
    mp.undo()


@needs_real
def test_real_ptp_full_table(full_ptp):
    t = full_ptp
    assert len(t) == 2_545_089
    assert t.lookup("97140", "97124", 20240401).modifier_indicator == 0  # domain.md s. 3
    assert t.lookup("97140", "97530", 20240401) is None  # deleted 2019-12-31
    cached = load_ptp([REAL / "ptp_practitioner_v301r0.csv.gz"])
    assert len(cached) == len(t)


@needs_real
def test_real_mue_values_from_domain():
    t = read_mue(REAL / "mue_practitioner_2024-04-01.csv")
    assert {c: t[c].value for c in ("97110", "97140", "97530", "97112", "97124", "97535")} == \
        {"97110": 6, "97140": 6, "97530": 6, "97112": 4, "97124": 4, "97535": 8}
    assert t["97535"].mai == 3 and t["98940"].mai == 2 and t["97161"].value == 1
    assert t["97010"].value == 0 and t["97014"].value == 0


@needs_real
def test_bundled_extract_matches_real_table(full_ptp):
    from payer_rules.policy import bundled_dir
    full = full_ptp
    shipped = load_ptp([bundled_dir() / "tables" / "medicare_ptp_v301r0_therapy.csv"])
    for row in shipped.iter_rows():
        real = full.rows_for(row.column1, row.column2)
        assert any(r.deletion == row.deletion and r.modifier_indicator == row.modifier_indicator for r in real)
    pfs = read_pfs(REAL.parent / "ncci" / "pfs_indicators_2024-07.csv")
    assert pfs["97010"].status == "B" and pfs["97014"].status == "I" and pfs["98943"].status == "N"
