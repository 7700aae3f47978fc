"""Writing claims as an X12 837P 5010 interchange: the inverse of :func:`payer_rules.x12.parse_837`
for the fields it reads. Used to build test and benchmark files and to hold reader and
writer together (a round trip claim -> 837 -> claim). Envelope counts and control numbers
are computed, so every file it writes passes the reader's envelope checks.

Each claim gets its own subscriber loop (HL 22) under one billing provider (HL 20); the
payer of each claim is its ``x12`` payer id when it has one, else ``payer_id``.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

ISA = ("ISA*00*          *00*          *ZZ*{sender:<15}*ZZ*{receiver:<15}*240101*1200*^*00501*{ctl:09d}*0*P*:")


def _d8(iso: str) -> str:
    return iso.replace("-", "")


def _dx(code: str) -> str:
    return code.replace(".", "")


def _amount(v: Any) -> str:
    return f"{float(v):.2f}".rstrip("0").rstrip(".") if v is not None else "0"


def claim_segments(c: Mapping[str, Any], payer_id: str, payer_name: str) -> list[str]:
    """The 2000B..2400 segments of one claim (subscriber, payer, CLM, lines)."""
    patient = c.get("patient") or {}
    x12 = c.get("x12") or {}
    segs = [
        "SBR*P*18*******MB",
        f"NM1*IL*1*PATIENT*A****MI*{patient.get('id', 'UNKNOWN')}",
    ]
    if patient.get("birth_date"):
        segs.append(f"DMG*D8*{_d8(patient['birth_date'])}*U")
    segs.append(f"NM1*PR*2*{x12.get('payer_name') or payer_name}*****PI*{x12.get('payer_id') or payer_id}")
    lines = c.get("lines") or []
    total = c.get("charge")
    if total is None:
        total = sum(float(ln.get("charge") or 0) for ln in lines)
    pos = c.get("place_of_service", "11")
    segs.append(f"CLM*{c['claim_id']}*{_amount(total)}***{pos}:B:1*Y*A*Y*Y")
    dx = c.get("diagnoses") or []
    if dx:
        segs.append("HI*" + "*".join(f"{'ABK' if i == 0 else 'ABF'}:{_dx(d)}" for i, d in enumerate(dx[:12])))
    if c.get("prior_authorization"):
        segs.append(f"REF*G1*{c['prior_authorization']}")
    npi = (c.get("provider") or {}).get("npi")
    if npi:
        segs.append(f"NM1*82*1*PROVIDER*A****XX*{npi}")
    for i, ln in enumerate(lines, start=1):
        comp = ":".join(["HC", ln["code"], *ln.get("modifiers", ())])
        if ln.get("minutes") is not None and ln.get("units") is None:
            qty = f"MJ*{ln['minutes']}"
        else:
            qty = f"UN*{ln.get('units') if ln.get('units') is not None else 1}"
        ptrs = ":".join(str(p) for p in ln.get("diagnosis_pointers") or ([1] if dx else []))
        segs.append(f"LX*{ln.get('line', i)}")
        segs.append(f"SV1*{comp}*{_amount(ln.get('charge'))}*{qty}*{ln.get('place_of_service', '')}**{ptrs}")
        dos = ln.get("date_of_service") or c.get("date_of_service")
        if dos:
            segs.append(f"DTP*472*D8*{_d8(dos)}")
    return segs


def write_837p(claims: Iterable[Mapping[str, Any]], payer_id: str = "04412", payer_name: str = "MEDICARE",
               billing_npi: str = "1234567893", control: int = 1) -> str:
    """One interchange (one group, one transaction set) holding ``claims``; one segment a line."""
    body = ["BHT*0019*00*1*20240101*1200*CH", "NM1*41*2*SUBMITTER*****46*S1", "NM1*40*2*RECEIVER*****46*R1",
            "HL*1**20*1", f"NM1*85*2*BILLING PROVIDER*****XX*{billing_npi}"]
    hl = 1
    for c in claims:
        hl += 1
        body.append(f"HL*{hl}*1*22*0")
        body.extend(claim_segments(c, payer_id, payer_name))
    st = f"{control:04d}"
    segs = [ISA.format(sender="SUBMITTER", receiver="RECEIVER", ctl=control),
            f"GS*HC*SUBMITTER*RECEIVER*20240101*1200*{control}*X*005010X222A1",
            f"ST*837*{st}*005010X222A1", *body, f"SE*{len(body) + 2}*{st}", f"GE*1*{control}", f"IEA*1*{control:09d}"]
    return "~\n".join(segs) + "~\n"
