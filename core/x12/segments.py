"""The X12 segment layer: an interchange read incrementally into segments, for any
transaction set (the 837P builder in :mod:`payer_rules.x12` uses it; so can an 837I one).

Why a layer of its own, and why batches: an 837 can hold hundreds of thousands of claims,
so the file is never read whole. It is read in chunks (``CHUNK_CHARS`` characters), each
chunk split at the segment terminator with one ``str.split`` (the split runs in C, which
is most of the speed), and the segments of a chunk are handed over as one list. The
partial segment at the end of a chunk is carried into the next, so the memory held is a
chunk plus one segment, whatever the file's size.

The separators come from the ISA segment, which has a fixed layout: the element separator
is the character after ``ISA``, the component separator ISA16, the segment terminator the
character after it. A terminator that is a line break (CR, LF or CRLF) is read as LF, and
blanks and line breaks around each segment are dropped, so files with and without a
newline after each terminator, and with CRLF, read alike. Empty segments are skipped and
not counted. A segment is numbered from the ISA (1), as envelope errors name them.

Bounded: a segment longer than ``max_length`` characters is not kept. Its place in the
batch holds :data:`TOO_LONG` (a tag no real segment has) followed by the element separator
and the segment's length so far, and the reader skips to the next terminator without
holding the rest; the builder turns it into an error naming the limit.
"""

from __future__ import annotations

import codecs
from itertools import chain, repeat
from dataclasses import dataclass
from typing import IO, Any, Iterator

#: characters read and split at a time
CHUNK_CHARS = 1 << 20
#: the tag of a segment that was over the length limit (no X12 tag has NUL in it)
TOO_LONG = "\x00\x00"
#: blanks and line breaks dropped around each segment
BLANKS = "\r\n "
#: how far into the input the ISA segment may start (after a byte order mark, blank lines)
ISA_SEARCH = 4096


class X12Error(ValueError):
    """The input is not an X12 interchange at all (no complete ISA segment)."""


@dataclass(frozen=True)
class Separators:
    """The delimiters an interchange declares in its ISA segment."""

    element: str
    component: str
    segment: str


def separators(text: str) -> tuple[Separators, int]:
    """The separators from the ISA segment in ``text`` and where the ISA starts."""
    start = text.find("ISA", 0, ISA_SEARCH)
    if start < 0 or len(text) < start + 106:
        raise X12Error("not an X12 interchange: no complete ISA segment")
    elem = text[start + 3]
    fields = text[start:].split(elem, 16)
    if len(fields) < 17 or len(fields[16]) < 2:
        raise X12Error("ISA segment: expected 16 elements")
    component, terminator = fields[16][0], fields[16][1]
    if terminator in "\r\n":
        terminator = "\n"
    return Separators(elem, component, terminator), start


def _text_chunks(source: Any, size: int) -> Iterator[str]:
    """``source`` (str, bytes, or a binary or text stream) as text, ``size`` at a time;
    bytes are decoded as UTF-8 incrementally, an invalid byte becoming U+FFFD."""
    if isinstance(source, str):
        for i in range(0, len(source), size):
            yield source[i:i + size]
        return
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = memoryview(source)
        for i in range(0, len(data), size):
            yield decoder.decode(data[i:i + size])
        yield decoder.decode(b"", final=True)
        return
    read = source.read
    while True:
        block = read(size)
        if not block:
            break
        yield block if isinstance(block, str) else decoder.decode(block)
    tail = decoder.decode(b"", final=True)
    if tail:
        yield tail


class SegmentReader:
    """An interchange's segments, read incrementally from ``source``.

    ``separators`` is known once the reader is made (it reads up to the ISA; raises
    :class:`X12Error` when there is none). Iterate for lists of segment strings in file
    order (one list a chunk; elements not yet split, so a builder splits only what it
    reads); :meth:`segments` gives ``(segment number, elements)`` one at a time.
    """

    def __init__(self, source: Any, max_length: int = 65536, chunk: int = CHUNK_CHARS):
        self.max_length = max_length
        self._chunks = _text_chunks(source, chunk)
        head = ""
        for text in self._chunks:
            head += text
            if len(head) >= ISA_SEARCH + 120:
                break
        self.separators, start = separators(head)
        self._head = head[start:]
        #: the text read before the first batch, from ISA on (at least ``ISA_SEARCH``
        #: characters unless the file is shorter): enough to tell the transaction set by
        #: its GS08/ST03 before choosing a claim builder
        self.head = self._head

    def __iter__(self) -> Iterator[list[str]]:
        term, limit = self.separators.segment, self.max_length
        placeholder = TOO_LONG + self.separators.element
        too_long = placeholder + str(limit + 1)
        head, self._head, self.head = self._head, "", ""
        pending: list[str] = []  # the segment not yet ended: text without a terminator
        skipping = False  # inside a segment over the limit, whose text is not kept
        for text in chain([head], self._chunks):
            if term not in text:
                if not skipping:
                    pending.append(text)
                    if sum(map(len, pending)) > limit:  # no end in sight: drop what there is
                        skipping, pending = True, []
                continue
            cut = text.rfind(term) + len(term)
            if skipping:  # the text up to the first terminator ends the segment over the limit
                start = text.find(term) + len(term)
                yield [too_long] + split_segments(text[start:cut], term, limit, placeholder)
                skipping = False
            else:
                pending.append(text[:cut])
                yield split_segments("".join(pending), term, limit, placeholder)
            pending = [text[cut:]]
        if skipping:
            yield [too_long]
        else:
            yield split_segments("".join(pending), term, limit, placeholder)  # after the last terminator

    def segments(self) -> Iterator[tuple[int, list[str]]]:
        """``(segment number, elements)`` for every segment; the tag is ``elements[0]``."""
        elem, n = self.separators.element, 0
        for batch in self:
            for raw in batch:
                n += 1
                yield n, raw.split(elem)


def _clean(pieces: list[str], limit: int, placeholder: str) -> list[str]:
    """Segments without their surrounding blanks, empty ones dropped, over-long ones
    replaced by the placeholder."""
    out = list(filter(None, map(str.strip, pieces, repeat(BLANKS))))
    if out and max(map(len, out)) > limit:
        out = [s if len(s) <= limit else placeholder + str(len(s)) for s in out]
    return out


def split_segments(text: str, term: str, limit: int, placeholder: str) -> list[str]:
    """``text`` (whole segments) split at ``term`` into clean segments (:func:`_clean`).

    Why not strip every segment: most files put one line break after each terminator and
    nothing else around segments, so those are removed from the whole text at once (two
    ``str.replace``) and only a text that still has blanks next to a terminator, or a
    line break anywhere, is stripped segment by segment."""
    text = text.lstrip(BLANKS)
    if term != "\n":
        if "\n" in text:
            if "\r" in text:
                text = text.replace(term + "\r\n", term)
            text = text.replace(term + "\n", term)
        if "\n" in text or "\r" in text or (" " + term) in text or (term + " ") in text:
            return _clean(text.split(term), limit, placeholder)
    elif "\r" in text or " \n" in text or "\n " in text:
        return _clean(text.split(term), limit, placeholder)
    out = list(filter(None, text.split(term)))
    if out and max(map(len, out)) > limit:
        out = [s if len(s) <= limit else placeholder + str(len(s)) for s in out]
    return out
