"""The X12 reader streams: segments read a chunk at a time from the file, separators from
ISA, any line breaks, claims yielded as their loop ends, bounds that name the limit, and
envelope problems that name the claims they concern."""

from __future__ import annotations

import io

import pytest

from payer_rules.readers import ReadError, ReadOptions, open_records, read_claims
from payer_rules.x12 import SegmentReader, X12Error, build_837p, parse_837
from payer_rules.x12.writer import write_837p

from test_x12 import THERAPY


def records(text, **kw):
    return list(parse_837(text, {"04412": "medicare"}, "s.837", minutes=None, **kw))


def plain(recs):
    return [r if isinstance(r, dict) else r.message for r in recs]


BASE = plain(records(THERAPY))


@pytest.mark.parametrize("variant", [
    THERAPY.replace("~\n", "~"),                       # no line breaks
    THERAPY.replace("~\n", "~\r\n"),                   # CRLF after each terminator
    THERAPY.replace("~\n", "~\n\n  "),                 # blank lines and indentation between segments
    THERAPY.replace("~\n", "\n").replace(":~", ":\n", 1),            # LF as the terminator
    THERAPY.replace("~\n", "\r\n").replace(":~", ":\r\n", 1),        # CRLF as the terminator
    THERAPY.replace("~", "!").replace("*", "|").replace("ABK:", "ABK^").replace("ABF:", "ABF^")
           .replace("HC:", "HC^").replace(":GP", "^GP").replace("11:B:1", "11^B^1").replace("1:2", "1^2")
           .replace("|^|", "|~|").replace("P|:!", "P|^!"),  # other separators, all declared in ISA
])
def test_separators_and_line_breaks_read_alike(variant):
    assert plain(records(variant)) == BASE


@pytest.mark.parametrize("chunk", [1, 7, 64, 1000])
def test_chunk_boundaries_anywhere(chunk):
    """A file read a few characters at a time gives the same records (segments, CRLF and
    multi-byte characters cut across chunks)."""
    text = THERAPY.replace("~\n", "~\r\n").replace("GOOD PT CLINIC", "GÖÖD PT CLÍNIC")
    data = text.encode("utf-8")
    reader = SegmentReader(io.BytesIO(data), chunk=chunk)
    got = plain(build_837p(reader, {"04412": "medicare"}, "s.837", ReadOptions()))
    assert got == plain(records(text))


def test_reads_from_a_binary_stream_without_reading_it_whole():
    data = write_837p([{"claim_id": f"C{i}", "diagnoses": ["M54.50"], "lines": [
        {"line": 1, "code": "97110", "modifiers": ["GP"], "units": 1, "date_of_service": "2024-03-04"}]}
        for i in range(3000)]).encode()

    class Tracked(io.BytesIO):
        def __init__(self, b):
            super().__init__(b)
            self.biggest = 0

        def read(self, n=-1):
            assert n is not None and n > 0, "the reader asked for the whole file"
            self.biggest = max(self.biggest, n)
            return super().read(n)

    stream = Tracked(data)
    it = build_837p(SegmentReader(stream, chunk=16384), {}, "big.837", ReadOptions())
    first = next(it)
    assert first["claim_id"] == "C0" and stream.tell() <= 3 * 16384  # out before the file was read
    assert sum(1 for _ in it) == 2999 and stream.biggest == 16384
    stream = Tracked(data)
    assert sum(1 for _ in parse_837(stream, {}, "big.837", minutes=None)) == 3000  # the default chunk
    assert stream.biggest == 1 << 20


def test_no_isa_is_one_error_record(tmp_path):
    f = tmp_path / "x.837"
    f.write_text("ISA*short~")
    (rec,) = [r for _, r in read_claims(str(f), options=ReadOptions(), format="x12-837p")]
    assert isinstance(rec, ReadError) and "no complete ISA segment" in rec.message
    with pytest.raises(X12Error):
        list(parse_837("GS*HC~", {}, "x"))


def test_a_segment_over_the_limit_is_an_error_for_its_claim_only():
    long = THERAPY.replace("HI*ABK:M25511~", "HI*ABK:M25511" + "*ABF:M545" * 300 + "~", 1)
    recs = records(long, options=ReadOptions(max_segment_length=1000))
    assert len(recs) == 3 and recs[0]["claim_id"] == "PT-1001"
    assert isinstance(recs[1], ReadError) and recs[1].claim_id == "PT-1002"
    assert "segment 25: the segment exceeds the limit of 1,000 characters in one X12 segment" in recs[1].message
    assert "PAYER_RULES_MAX_SEGMENT_LENGTH" in recs[1].message and "M545" not in recs[1].message


def test_a_segment_longer_than_a_chunk_is_skipped_without_holding_it():
    body = "*ABF:M545" * 20000
    text = THERAPY.replace("HI*ABK:M25511~", "HI*ABK:M25511" + body + "~", 1)
    reader = SegmentReader(io.BytesIO(text.encode()), max_length=1000, chunk=4096)
    recs = plain(build_837p(reader, {}, "s.837", ReadOptions(max_segment_length=1000)))
    assert recs[0]["claim_id"] == "PT-1001" and "segment 25: the segment exceeds" in recs[1]
    assert "no service lines" in recs[2]  # the segments after it are read as usual


def test_too_many_segments_in_one_claim():
    lines = "".join(f"LX*{i}~\nSV1*HC:97110:GP*10*UN*1***1~\nDTP*472*D8*20240304~\n" for i in range(1, 40))
    text = THERAPY.replace("CLM*PT-1003", lines.replace("LX*", "LX*", 1) + "CLM*PT-1003", 1)
    recs = records(text, options=ReadOptions(max_claim_segments=50))
    assert isinstance(recs[1], ReadError) and recs[1].claim_id == "PT-1002"
    assert "segments exceeds the limit of 50 X12 segments in one claim" in recs[1].message
    assert "PAYER_RULES_MAX_CLAIM_SEGMENTS" in recs[1].message
    assert recs[0]["claim_id"] == "PT-1001" and isinstance(recs[2], ReadError)


def test_too_many_lines_names_the_claims_segment():
    recs = records(THERAPY, options=ReadOptions(max_claim_lines=2))
    assert isinstance(recs[0], ReadError) and recs[0].claim_id == "PT-1001"
    assert "claim at segment 12: 3 service lines exceeds the limit of 2" in recs[0].message


def test_envelope_problem_names_the_claims_it_concerns():
    recs = records(THERAPY.replace("SE*29*0001~", "SE*28*0001~"))
    claims = [r for r in recs if isinstance(r, dict) or "claim at segment" in r.message]
    assert len(claims) == 3  # every claim has its record; the envelope problem is one more
    (env,) = [r.message for r in recs if isinstance(r, ReadError) and "SE01" in r.message]
    assert env.endswith("it holds 3 claims: CLM at segments 12 to 29")
    missing = records(THERAPY.replace("IEA*1*000000001~", ""))
    assert missing[-1].message.endswith("has no IEA; it holds 3 claims: CLM at segments 12 to 29")


def test_two_transaction_sets_each_name_their_own_claims():
    st2 = THERAPY[THERAPY.index("ST*837*0001"):THERAPY.index("GE*1*1~")].replace("0001", "0002")
    text = THERAPY.replace("GE*1*1~", st2 + "GE*2*1~").replace("SE*29*0002", "SE*30*0002")
    recs = records(text)
    (env,) = [r.message for r in recs if isinstance(r, ReadError) and "SE01" in r.message]
    assert "segment 60 SE" in env and env.endswith("it holds 3 claims: CLM at segments 41 to 58")
    assert sum(isinstance(r, dict) for r in recs) == 4


def test_the_plugin_numbers_records_and_batch_reads_it(tmp_path):
    f = tmp_path / "c.837"
    f.write_bytes(THERAPY.replace("~\n", "~\r\n").encode())
    with open_records(str(f)) as recs:
        got = list(recs)
    assert [n for n, _ in got] == [1, 2, 3] and got[0][1]["claim_id"] == "PT-1001"
