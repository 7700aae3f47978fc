"""Envelope checks for an X12 interchange: ISA/IEA, GS/GE and ST/SE pairs, their counts and
control numbers. Each problem names the segment number (1-based, counted from ISA), so a
person can find it in the file; no element values are repeated except the envelope's own
counts and control numbers, which carry no patient data.

The checks are incremental (one call per envelope segment, one per claim) so the reader
stays a single pass that holds no claims back: a problem found at an ``SE``, ``GE`` or
``IEA`` (or at the end of the file) cannot change claims already handed on, so it is an
error record of its own, and it names the claims it concerns by the segment numbers of
their ``CLM`` segments (``it holds 3 claims: CLM at segments 12 to 27``). Segments between
``ST`` and ``SE`` are counted from the segment numbers, not one by one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TAGS = frozenset({"ISA", "IEA", "GS", "GE", "ST", "SE"})


@dataclass
class Claims:
    """The claims inside one envelope level: the claim count when it opened, and the
    segment number of its first CLM (0: none yet)."""

    opened_at: int = 0
    first: int = 0

    def words(self, claims: int, last: int) -> str:
        """Says which claims the level holds, given the claim count and the last CLM now."""
        count = claims - self.opened_at
        if count <= 0:
            return "; it holds no claims"
        if count == 1:
            return f"; it holds 1 claim: CLM at segment {self.first}"
        return f"; it holds {count:,} claims: CLM at segments {self.first} to {last}"


@dataclass
class Envelope:
    """What is open: the interchange (ISA13), the group (GS06, transaction sets in it) and
    the transaction set (ST02, its first segment), and the claims inside each."""

    isa: tuple[int, str] | None = None
    groups: int = 0
    gs: tuple[int, str] | None = None
    sets: int = 0
    st: tuple[int, str] | None = None
    claims: list[Claims] = field(default_factory=lambda: [Claims(), Claims(), Claims()])

    def claim(self, seg_no: int) -> None:
        """The first CLM after an envelope segment, at ``seg_no`` (the reader calls this
        only then, not for every claim): it is the first claim of each level without one."""
        for level in self.claims:
            if not level.first:
                level.first = seg_no

    def segment(self, tag: str, f: list[str], seg_no: int, claims: int = 0, last: int = 0) -> list[str]:
        """Check one envelope segment; returns the problems it shows (may be empty).
        ``claims``: how many CLMs the file had so far; ``last``: the last one's segment."""
        get = (lambda i: f[i].strip() if len(f) > i else "")
        out: list[str] = []
        if tag == "ISA":
            if self.isa is not None:
                out.append(f"segment {seg_no} ISA: a new interchange before IEA closed the one at segment "
                           f"{self.isa[0]}" + self.claims[0].words(claims, last))
            self.isa, self.groups = (seg_no, get(13)), 0
            self.claims[0] = Claims(claims)
        elif tag == "GS":
            if self.gs is not None:
                out.append(f"segment {seg_no} GS: a new group before GE closed the one at segment {self.gs[0]}"
                           + self.claims[1].words(claims, last))
            self.gs, self.sets = (seg_no, get(6)), 0
            self.groups += 1
            self.claims[1] = Claims(claims)
        elif tag == "ST":
            if self.st is not None:
                out.append(f"segment {seg_no} ST: a new transaction set before SE closed the one at segment "
                           f"{self.st[0]}" + self.claims[2].words(claims, last))
            self.st = (seg_no, get(2))
            self.sets += 1
            self.claims[2] = Claims(claims)
        elif tag == "SE":
            if self.st is None:
                out.append(f"segment {seg_no} SE: no ST opened this transaction set")
            else:
                held = self.claims[2].words(claims, last)
                count = seg_no - self.st[0] + 1
                if get(1) != str(count):
                    out.append(f"segment {seg_no} SE: SE01 says {get(1) or 'nothing'} segments, the transaction set "
                               f"from ST at segment {self.st[0]} has {count}" + held)
                if get(2) != self.st[1]:
                    out.append(f"segment {seg_no} SE: SE02 does not match ST02 (segment {self.st[0]})" + held)
            self.st = None
        elif tag == "GE":
            if self.gs is None:
                out.append(f"segment {seg_no} GE: no GS opened this group")
            else:
                held = self.claims[1].words(claims, last)
                if get(1) != str(self.sets):
                    out.append(f"segment {seg_no} GE: GE01 says {get(1) or 'nothing'} transaction sets, the group "
                               f"from GS at segment {self.gs[0]} has {self.sets}" + held)
                if get(2) != self.gs[1]:
                    out.append(f"segment {seg_no} GE: GE02 does not match GS06 (segment {self.gs[0]})" + held)
            self.gs = None
        elif tag == "IEA":
            if self.isa is None:
                out.append(f"segment {seg_no} IEA: no ISA opened this interchange")
            else:
                held = self.claims[0].words(claims, last)
                if get(1) != str(self.groups):
                    out.append(f"segment {seg_no} IEA: IEA01 says {get(1) or 'nothing'} groups, the interchange "
                               f"has {self.groups}" + held)
                if get(2) != self.isa[1]:
                    out.append(f"segment {seg_no} IEA: IEA02 does not match ISA13 (segment {self.isa[0]})" + held)
            self.isa = None
        return out

    def end(self, seg_no: int, claims: int = 0, last: int = 0) -> list[str]:
        """Problems left open at the end of the file."""
        out = []
        if self.st is not None:
            out.append(f"end of file after segment {seg_no}: the transaction set from ST at segment {self.st[0]} "
                       "has no SE" + self.claims[2].words(claims, last))
        if self.gs is not None:
            out.append(f"end of file after segment {seg_no}: the group from GS at segment {self.gs[0]} has no GE"
                       + self.claims[1].words(claims, last))
        if self.isa is not None:
            out.append(f"end of file after segment {seg_no}: the interchange from ISA at segment {self.isa[0]} "
                       "has no IEA" + self.claims[0].words(claims, last))
        return out
