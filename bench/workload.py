"""Deterministic claim workload for benchmarks: a realistic mix of therapy claims.

1-6 lines per claim; codes weighted the way outpatient therapy bills them (exercise,
manual therapy and neuromuscular re-education most, evaluations, modalities, massage,
chiropractic manipulation); minutes 3-45; mostly GP, some GO/GN, 59/XS, KX, AT; some
billed units wrong, some lines without minutes; payers medicare and generic-commercial;
dates across 2024. The same seed always writes the same bytes.

    python bench/workload.py N OUT.jsonl [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import random

TIMED = [("97110", 30), ("97140", 18), ("97112", 14), ("97530", 14), ("97116", 5), ("97035", 4),
         ("97124", 4), ("97535", 3), ("97032", 2), ("97750", 1)]
UNTIMED = [("97161", 3), ("97162", 3), ("97164", 3), ("97010", 2), ("G0283", 3), ("97014", 1), ("98940", 2),
           ("98941", 2), ("97150", 1), ("92507", 1)]
REGIONS = ["cervical", "thoracic", "lumbar", "left shoulder", "right knee", "upper back"]
DX = ["M54.50", "M25.511", "M62.81", "M54.2", "G89.29", "M79.7", "S83.511A", "M17.11"]


def _pick(rnd: random.Random, table):
    codes, weights = zip(*table)
    return rnd.choices(codes, weights)[0]


def claim(rnd: random.Random, i: int) -> dict:
    payer = "medicare" if rnd.random() < 0.6 else "generic-commercial"
    day = f"2024-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"
    discipline = rnd.choices(["GP", "GO", "GN"], [8, 3, 1])[0]
    n = rnd.choices([1, 2, 3, 4, 5, 6], [10, 25, 30, 20, 10, 5])[0]
    lines = []
    for k in range(n):
        timed = rnd.random() < 0.75
        code = _pick(rnd, TIMED if timed else UNTIMED)
        mods = [] if code.startswith("989") else [discipline]
        r = rnd.random()
        if r < 0.08:
            mods.append("59")
        elif r < 0.12:
            mods.append("XS")
        elif r < 0.15:
            mods.append("KX")
        if code.startswith("989") and rnd.random() < 0.85:
            mods.append("AT")
        line = {"code": code, "modifiers": mods, "date_of_service": day, "diagnosis_pointers": [1]}
        if timed and rnd.random() < 0.95:
            line["minutes"] = rnd.randint(3, 45)
            units = (line["minutes"] + 7) // 15
            line["units"] = max(0, units + rnd.choice([0, 0, 0, 0, 0, 0, 1, -1]))
        else:
            line["units"] = 1
        if code in ("97124", "97140") or rnd.random() < 0.2:
            line["body_region"] = rnd.choice(REGIONS)
        if code == "97124" and rnd.random() < 0.7:
            line["techniques"] = ["effleurage", "petrissage"]
        lines.append(line)
    out = {"claim_id": f"CLM{i:07d}", "payer": payer, "patient": {"id": f"P{rnd.randint(1, 10**6):07d}"},
           "provider": {"npi": f"{rnd.randint(10**9, 2 * 10**9 - 1)}"},
           "diagnoses": rnd.sample(DX, 2), "lines": lines}
    if rnd.random() < 0.1:
        out["patient"]["therapy_ytd"] = {"pt_slp": rnd.randint(0, 4000), "ot": rnd.randint(0, 3000)}
    return out


def write(n: int, path: str, seed: int = 1) -> None:
    rnd = random.Random(seed)
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(json.dumps(claim(rnd, i), separators=(",", ":")) + "\n")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int)
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    write(a.n, a.out, a.seed)
