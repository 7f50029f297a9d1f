"""The committed reports/ against another run's (e.g. a fresh clone's `make repro` on another CPU): every
scorecard verdict side by side, every table value that moved, and the stage metric files that differ.

    python tools/compare_reports.py COMMITTED_CHECKOUT OTHER_CHECKOUT     # prints markdown tables
"""
import csv, json, sys
from pathlib import Path
if len(sys.argv) != 3:
    print("usage: " + __doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
    sys.exit(2)
a, b = Path(sys.argv[1]), Path(sys.argv[2])  # committed, other
for root in (a, b):  # checkouts (their root folders), not their reports/ folders
    if not (root / "reports/report/claims.json").is_file():
        print(f"error: {root / 'reports/report/claims.json'} not found: pass the checkouts' root folders", file=sys.stderr)
        sys.exit(2)
ca = json.loads((a / "reports/report/claims.json").read_text()); cb = json.loads((b / "reports/report/claims.json").read_text())
# Verdicts side by side, matched by claim. A flip counts as a disagreement only where the committed verdict is
# stable across machines (its margin exceeds its stated tolerance: spacex/evaluate/report/claims.py).
print("| claim | effect (committed) | effect (other) | verdict (committed) | verdict (other) | committed stable | agree |\n|---|---|---|---|---|---|---|")
other = {y["claim"]: y for y in cb}
disagree = 0
for x in ca:
    y = other.get(x["claim"])
    if y is None:
        print(f"| {x['claim']} | | | {x['verdict']} | (no such row) | | |")
        continue
    f = lambda v: "–" if v is None else f"{v:.4g}"
    same = x["verdict"] == y["verdict"]
    agree = "yes" if same else ("within tolerance (unstable)" if x.get("stable") is False else "**no**")
    disagree += agree == "**no**"
    print(f"| {x['claim']} | {f(x['effect'])} | {f(y['effect'])} | {x['verdict']} | {y['verdict']} | {x.get('stable')} | {agree} |")
for y in cb:
    if y["claim"] not in {x["claim"] for x in ca}:
        print(f"| {y['claim']} | | | (no such row) | {y['verdict']} | | |")
print(f"\n{disagree} verdict(s) disagree that are stable or have no tolerance")
ta = list(csv.DictReader(open(a / "reports/report/table.csv"))); tb = list(csv.DictReader(open(b / "reports/report/table.csv")))
print()
keys = [k for k in dict.fromkeys([*ta[0], *tb[0]]) if k != "method"]  # either run's columns (metrics get added)
print("| method | metric | committed | other | diff |\n|---|---|---|---|---|")
by_method = {y.get("method"): y for y in tb}
for x in ta:
    y = by_method.get(x.get("method"))
    if y is None:
        print(f"| {x.get('method')} | (not in the other run) | | | |")
        continue
    for k in keys:
        if k not in x or k not in y:
            print(f"| {x.get('method')} | {k} | {x.get(k, '(no column)')} | {y.get(k, '(no column)')} | |")
            continue
        try:
            u, v = float(x[k]), float(y[k])
        except (ValueError, TypeError):
            continue
        if u != v:
            print(f"| {x.get('method')} | {k} | {u:.4g} | {v:.4g} | {v - u:+.3g} |")
for stage in ("train_s2l", "train_posegen", "train_l2l", "train_fv2v", "keypoints", "animate"):
    for name in ("metrics.json", "summary.json"):
        pa, pb = a / "reports" / stage / name, b / "reports" / stage / name
        if pa.exists() and pb.exists() and pa.read_text() != pb.read_text():
            print(f"\n{stage}/{name} differs")
