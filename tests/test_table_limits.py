"""Every table problem is a TableError with file:line, and every bound names itself and the
setting that changes it: an oversized field or row, bad UTF-8, too many rows, a damaged gzip."""

from __future__ import annotations

import gzip
import subprocess
import sys
import textwrap

import pytest

from payer_rules import Engine, PolicyError
from payer_rules.tables import TableError, TableLimits, iter_ptp_rows, load_ptp, read_mue, read_pfs

HEAD = "column1,column2,deletion_date,modifier_indicator,rationale\n"
ROW = "97140,97124,*,0,x\n"


def write(tmp_path, text: str | bytes, name="ptp.csv"):
    p = tmp_path / name
    (p.write_bytes if isinstance(text, bytes) else p.write_text)(text)
    return p


def test_a_field_over_the_csv_limit_is_a_table_error(tmp_path, monkeypatch):
    # issue 12 item 6: a field over 131,072 characters gave _csv.Error
    p = write(tmp_path, HEAD + ROW + '97140,97530,*,1,"' + "x" * 140_000 + '"\n')
    with pytest.raises(TableError) as exc:
        list(iter_ptp_rows(p))
    assert exc.value.line == 3 and exc.value.path == str(p)
    assert "max_row_length" in exc.value.message and "PAYER_RULES_MAX_TABLE_ROW " in exc.value.message
    # raised past the csv module's own limit, that limit is named instead of a csv traceback
    monkeypatch.setenv("PAYER_RULES_MAX_TABLE_ROW", "1_000_000")
    with pytest.raises(TableError) as exc:
        list(iter_ptp_rows(p))
    assert exc.value.line == 3 and "131,072 characters" in exc.value.message


def test_a_quoted_field_over_many_lines_counts_as_one_row(tmp_path):
    cell = "\n".join(["y" * 1000] * 80)  # 80 lines of 1 KB, each under the bound
    p = write(tmp_path, HEAD + ROW + f'97140,97530,*,1,"{cell}"\n' + ROW)
    with pytest.raises(TableError, match="a row longer than 65,536 characters") as exc:
        list(iter_ptp_rows(p))
    assert exc.value.line > 3  # where the bound was crossed
    # within the bound, a multi-line cell is fine and lines after it keep their numbers
    p = write(tmp_path, HEAD + '97140,97530,*,1,"two\nlines"\n97140,97124,*,7,x\n')
    with pytest.raises(TableError, match="modifier_indicator") as exc:
        list(iter_ptp_rows(p))
    assert exc.value.line == 4


def test_one_long_line_is_refused_without_reading_it_all(tmp_path):
    p = write(tmp_path, HEAD + "9" * 5_000_000)
    with pytest.raises(TableError) as exc:
        list(iter_ptp_rows(p, TableLimits(max_row_length=1000)))
    assert exc.value.line == 2 and "a row longer than 1,000 characters" in exc.value.message


@pytest.mark.parametrize("reader,text", [
    (iter_ptp_rows, HEAD + ROW + "97140,97530,*,1,caf\xe9\n"),
    (iter_ptp_rows, "Column 1\tColumn 2\n97140\t97124\t\t20020101\t*\t0\tok\n97140\t97530\t\t20020101\t*\t0\t\xff\n"),
    (read_mue, "hcpcs,mue_value,mai,rationale\n97110,6,3,ok\n97112,4,3,\xe9t\xe9\n"),
    (read_pfs, "hcpcs,modifier,status,mult_proc\n97010,,B,9\n97110,,A,\xa05\n"),
])
def test_bad_utf8_names_its_line(tmp_path, reader, text):
    p = write(tmp_path, text.encode("latin-1"))
    with pytest.raises(TableError) as exc:
        r = reader(p)
        list(r) if not isinstance(r, dict) else None
    assert exc.value.line == 3 and "not UTF-8" in exc.value.message


def test_a_byte_order_mark_is_not_part_of_the_header(tmp_path):
    p = write(tmp_path, b"\xef\xbb\xbf" + (HEAD + ROW).encode())
    assert [r[1:3] for r in iter_ptp_rows(p)] == [("97140", "97124")]


def test_too_many_rows(tmp_path, monkeypatch):
    p = write(tmp_path, HEAD + ROW * 5)
    with pytest.raises(TableError) as exc:
        load_ptp([p, p], use_cache=False, limits=TableLimits(max_rows=8))  # counted over all the files
    assert exc.value.line == 5 and "more than 8 rows" in exc.value.message and "PAYER_RULES_MAX_TABLE_ROWS" in str(exc.value)
    monkeypatch.setenv("PAYER_RULES_MAX_TABLE_ROWS", "3")
    m = write(tmp_path, "hcpcs,mue_value,mai,rationale\n" + "97110,6,3,x\n" * 5, "mue.csv")
    with pytest.raises(TableError, match="more than 3 rows"):
        read_mue(m)
    f = write(tmp_path, "hcpcs,modifier,status,mult_proc\n" + "97010,,B,9\n" * 5, "pfs.csv")
    with pytest.raises(TableError, match="more than 3 rows"):
        read_pfs(f)
    monkeypatch.setenv("PAYER_RULES_MAX_TABLE_ROWS", "lots")
    with pytest.raises(TableError, match="PAYER_RULES_MAX_TABLE_ROWS: expected a positive whole number"):
        read_pfs(f)


def test_a_damaged_gzip_is_a_table_error(tmp_path):
    data = gzip.compress((HEAD + ROW * 2000).encode())
    p = write(tmp_path, data[: len(data) // 2], "ptp.csv.gz")
    with pytest.raises(TableError, match="cannot read file"):
        load_ptp([p], use_cache=False)
    p = write(tmp_path, data[:20] + b"\x00" * 200 + data[220:], "ptp2.csv.gz")
    with pytest.raises(TableError, match="cannot read file"):
        load_ptp([p], use_cache=False)


def test_through_the_engine_and_the_cli_a_table_problem_exits_2_with_file_line(tmp_path):
    (tmp_path / "tables").mkdir()
    write(tmp_path / "tables", HEAD + ROW + '97140,97530,*,1,"' + "x" * 140_000 + '"\n')
    (tmp_path / "tp.yaml").write_text(textwrap.dedent("""\
        schema_version: 1
        payer: tp
        name: Table limits payer
        unit_method: cms_total_time
        codes:
          timed: {"97140": 15, "97124": 15}
        tables:
          ptp: {file: tables/ptp.csv, version: test}
        ncci: {associated_modifiers: ["59"]}
        versions:
          - version: "1"
            effective_from: "2024-01-01"
        """))
    with pytest.raises(PolicyError) as exc:
        Engine(tmp_path)
    assert f"{tmp_path / 'tables' / 'ptp.csv'}:3" in str(exc.value)
    r = subprocess.run([sys.executable, "-m", "payer_rules.cli", "check", "--policies", str(tmp_path), "-"],
                       input="{}", capture_output=True, text=True)
    assert r.returncode == 2 and "ptp.csv:3:" in r.stderr and "max_row_length" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("block", [1, 2, 3, 7, 64, 1 << 20])
@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_block_reading_gives_the_lines_and_rows_csv_would(tmp_path, monkeypatch, block, ending):
    import csv
    import io

    from payer_rules.tables import source
    monkeypatch.setattr(source, "BLOCK", block)
    text = ending.join(["hcpcs,modifier,status,mult_proc", "97010,,B,9", '97110,,A,"5', 'x"', "",
                        "97112,,A,5", "97116,,A,caf\u00e9"])  # the last line without an ending
    p = write(tmp_path, text.encode())
    with source.TextLines(p) as lines:
        got = [(n, row) for n, row in source.csv_rows(lines)]
    want = list(csv.reader(io.StringIO(text, newline="")))
    assert [row for _, row in got] == want
    assert [n for n, row in got if row][:4] == [1, 2, 3, 6]  # each record at the line it starts
