"""The committed reports/ against another run's (e.g. a fresh clone's `make repro` on another CPU): every
scorecard verdict side by side, every table value that moved, and the stage metric files that differ.

    python tools/compare_reports.py COMMITTED_CHECKOUT OTHER_CHECKOUT     # prints markdown tables
"""
import csv, json, sys
from pathlib import Path
a, b = Path(sys.argv[1]), Path(sys.argv[2])  # committed, other
ca = json.loads((a / "reports/report/claims.json").read_text()); cb = json.loads((b / "reports/report/claims.json").read_text())
print("| claim | effect (committed) | effect (other) | verdict (committed) | verdict (other) | same |\n|---|---|---|---|---|---|")
for x, y in zip(ca, cb):
    assert x["claim"] == y["claim"]
    f = lambda v: "–" if v is None else f"{v:.4g}"
    print(f"| {x['claim']} | {f(x['effect'])} | {f(y['effect'])} | {x['verdict']} | {y['verdict']} | {'yes' if x['verdict'] == y['verdict'] else '**no**'} |")
ta = list(csv.DictReader(open(a / "reports/report/table.csv"))); tb = list(csv.DictReader(open(b / "reports/report/table.csv")))
print()
keys = [k for k in ta[0] if k not in ("method",)]
print("| method | metric | committed | other | diff |\n|---|---|---|---|---|")
for x, y in zip(ta, tb):
    for k in keys:
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
