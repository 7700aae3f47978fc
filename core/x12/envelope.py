"""Envelope checks for an X12 interchange: ISA/IEA, GS/GE and ST/SE pairs, their counts and
control numbers. Each problem names the segment number (1-based, counted from ISA), so a
person can find it in the file; no element values are repeated except the envelope's own
counts and control numbers, which carry no patient data.

The checks are incremental (one call per segment) so the reader stays a single pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TAGS = frozenset({"ISA", "IEA", "GS", "GE", "ST", "SE"})


@dataclass
class Envelope:
    """What is open: the interchange (ISA13), the group (GS06, transaction sets in it) and
    the transaction set (ST02, segments in it)."""

    isa: tuple[int, str] | None = None
    groups: int = 0
    gs: tuple[int, str] | None = None
    sets: int = 0
    st: tuple[int, str] | None = None
    segments: int = 0
    problems: list[str] = field(default_factory=list)

    def count(self) -> None:
        """A segment that is not an envelope segment."""
        if self.st is not None:
            self.segments += 1

    def segment(self, tag: str, f: list[str], seg_no: int) -> list[str]:
        """Check one envelope segment; returns the problems it shows (may be empty)."""
        get = (lambda i: f[i].strip() if len(f) > i else "")
        out: list[str] = []
        if tag == "ISA":
            if self.isa is not None:
                out.append(f"segment {seg_no} ISA: a new interchange before IEA closed the one at segment {self.isa[0]}")
            self.isa, self.groups = (seg_no, get(13)), 0
        elif tag == "GS":
            if self.gs is not None:
                out.append(f"segment {seg_no} GS: a new group before GE closed the one at segment {self.gs[0]}")
            self.gs, self.sets = (seg_no, get(6)), 0
            self.groups += 1
        elif tag == "ST":
            if self.st is not None:
                out.append(f"segment {seg_no} ST: a new transaction set before SE closed the one at segment {self.st[0]}")
            self.st, self.segments = (seg_no, get(2)), 1
            self.sets += 1
        elif tag == "SE":
            if self.st is None:
                out.append(f"segment {seg_no} SE: no ST opened this transaction set")
            else:
                self.segments += 1
                if get(1) != str(self.segments):
                    out.append(f"segment {seg_no} SE: SE01 says {get(1) or 'nothing'} segments, the transaction set "
                               f"from ST at segment {self.st[0]} has {self.segments}")
                if get(2) != self.st[1]:
                    out.append(f"segment {seg_no} SE: SE02 does not match ST02 (segment {self.st[0]})")
            self.st = None
        elif tag == "GE":
            if self.gs is None:
                out.append(f"segment {seg_no} GE: no GS opened this group")
            else:
                if get(1) != str(self.sets):
                    out.append(f"segment {seg_no} GE: GE01 says {get(1) or 'nothing'} transaction sets, the group "
                               f"from GS at segment {self.gs[0]} has {self.sets}")
                if get(2) != self.gs[1]:
                    out.append(f"segment {seg_no} GE: GE02 does not match GS06 (segment {self.gs[0]})")
            self.gs = None
        elif tag == "IEA":
            if self.isa is None:
                out.append(f"segment {seg_no} IEA: no ISA opened this interchange")
            else:
                if get(1) != str(self.groups):
                    out.append(f"segment {seg_no} IEA: IEA01 says {get(1) or 'nothing'} groups, the interchange "
                               f"has {self.groups}")
                if get(2) != self.isa[1]:
                    out.append(f"segment {seg_no} IEA: IEA02 does not match ISA13 (segment {self.isa[0]})")
            self.isa = None
        return out

    def end(self, seg_no: int) -> list[str]:
        """Problems left open at the end of the file."""
        out = []
        if self.st is not None:
            out.append(f"end of file after segment {seg_no}: the transaction set from ST at segment {self.st[0]} has no SE")
        if self.gs is not None:
            out.append(f"end of file after segment {seg_no}: the group from GS at segment {self.gs[0]} has no GE")
        if self.isa is not None:
            out.append(f"end of file after segment {seg_no}: the interchange from ISA at segment {self.isa[0]} has no IEA")
        return out
