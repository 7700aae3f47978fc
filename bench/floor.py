"""The plain-Python floor: the same unit calculation and table checks as the engine's
Medicare policy, written as one loop over dicts and sets, no engine, no plugins, no
explanations. It exists only to say how fast the work itself can be done in CPython, so
the engine's rate can be reported as a ratio of it. Kept in bench/ only.

    python bench/floor.py IN.jsonl OUT.jsonl PTP.csv[.gz] MUE.csv PFS.csv [TIMINGS.json]
"""

from __future__ import annotations

import csv
import gzip
import json
import sys
import time

TIMED = {"97032", "97033", "97034", "97035", "97036", "97039", "97110", "97112", "97113", "97116", "97124",
         "97129", "97130", "97139", "97140", "97530", "97533", "97535", "97537", "97542", "97750", "97755",
         "97760", "97761", "97763"}
DISCIPLINES = {"GP": "PT", "GO": "OT", "GN": "SLP"}
BYPASS = {"59", "XE", "XS", "XP", "XU", "LT", "RT"}


def load_ptp(path):
    opener = gzip.open if path.endswith(".gz") else open
    ptp = {}
    with opener(path, "rt") as fh:
        r = csv.reader(fh)
        header = next(r)
        eff_col = "effective_date" in header
        for row in r:
            if eff_col:
                c1, c2, eff, dele, mod = row[0], row[1], int(row[2]), row[3], row[4]
            else:
                c1, c2, eff, dele, mod = row[0], row[1], 0, row[2], row[3]
            ptp.setdefault((c1, c2), []).append((eff, 99991231 if dele == "*" else int(dele), mod))
    return ptp


def load_mue(path):
    with open(path) as fh:
        r = csv.reader(fh)
        next(r)
        return {row[0]: (int(row[1]), int(row[2][0])) for row in r}


def load_pfs(path):
    with open(path) as fh:
        r = csv.reader(fh)
        next(r)
        return {row[0]: row[2] for row in r if not row[1]}


def units_for_day(services):
    total = sum(m for _, m in services)
    n = (total + 7) // 15 if total >= 8 else 0
    units = {c: m // 15 for c, m in services}
    rest = n - sum(units.values())
    for c, m in sorted(services, key=lambda s: (-(s[1] % 15), -s[1], s[0]))[:max(rest, 0)]:
        units[c] += 1
    return units


def check(claim, ptp, mue, pfs):
    edits = []
    groups = {}
    for ln in claim["lines"]:
        if ln["code"] in TIMED and ln.get("minutes") is not None:
            d = next((DISCIPLINES[m] for m in ln.get("modifiers", ()) if m in DISCIPLINES), "")
            g = groups.setdefault((ln["date_of_service"], d), {})
            g[ln["code"]] = g.get(ln["code"], 0) + ln["minutes"]
    computed = {}
    for (dos, d), svc in groups.items():
        for code, u in units_for_day(list(svc.items())).items():
            computed[(dos, d, code)] = u
    for ln in claim["lines"]:
        d = next((DISCIPLINES[m] for m in ln.get("modifiers", ()) if m in DISCIPLINES), "")
        u = computed.get((ln["date_of_service"], d, ln["code"]), 1 if ln["code"] not in TIMED else None)
        if u is not None and ln.get("units") is not None and ln["units"] != u:
            edits.append(("units", ln["code"]))
        if pfs.get(ln["code"]) in ("B", "I", "N"):
            edits.append(("pfs", ln["code"]))
    lines = claim["lines"]
    for a in lines:
        for b in lines:
            if a is b or a["code"] == b["code"] or a["date_of_service"] != b["date_of_service"]:
                continue
            rows = ptp.get((a["code"], b["code"]))
            if rows:
                dos = int(a["date_of_service"].replace("-", ""))
                for eff, dele, mod in rows:
                    if eff <= dos <= dele and mod != "9":
                        if mod == "1" and BYPASS & set(b.get("modifiers", ())):
                            break
                        edits.append(("ptp", b["code"]))
                        break
    per_day = {}
    for ln in lines:
        k = (ln["date_of_service"], ln["code"])
        per_day[k] = per_day.get(k, 0) + (ln.get("units") or 0)
    for (dos, code), total in per_day.items():
        m = mue.get(code)
        if m and total > m[0]:
            edits.append(("mue", code))
    return {"claim_id": claim["claim_id"], "status": "fail" if edits else "pass", "edits": edits}


def main(argv):
    src, out, ptp_path, mue_path, pfs_path = argv[:5]
    t0 = time.perf_counter()
    ptp, mue, pfs = load_ptp(ptp_path), load_mue(mue_path), load_pfs(pfs_path)
    t1 = time.perf_counter()
    with open(src) as fin, open(out, "w") as fout:
        for line in fin:
            fout.write(json.dumps(check(json.loads(line), ptp, mue, pfs)) + "\n")
    t2 = time.perf_counter()
    if len(argv) > 5:  # where to write timings
        with open(argv[5], "w") as fh:
            json.dump({"load_seconds": t1 - t0, "seconds": t2 - t1}, fh)


if __name__ == "__main__":
    main(sys.argv[1:])
