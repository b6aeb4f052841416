import json, glob, sys, statistics as st, os
prefix = sys.argv[1]
LAB = {"default": "A", "cq": "A", "x": "A", "cl1_cw03": "B", "x_tasks": "B", "cl1_cw01": "C", "cl1_cw0": "D",
       "clauto_cw0": "E", "cl2": "F"}
NAMES = {"random": "random", "kcenter": "kcenter (baseline)",
         "A": "TripleD, quotas=clusters (auto), cw 0.3 - previous default",
         "B": "TripleD, quotas=tasks, cw 0.3 - **new default**",
         "C": "TripleD, quotas=tasks, cw 0.1", "D": "TripleD, quotas=tasks, cw 0 (same subset as kcenter)",
         "E": "TripleD, quotas=clusters (auto), cw 0", "F": "TripleD, quotas=clusters, clusters=2, cw 0.3"}
rows = {}
for d in sorted(glob.glob(prefix + "*")):
    if not os.path.isdir(d + "/runs"): continue
    var = d[len(prefix):]
    for f in glob.glob(d + "/runs/*.json"):
        r = json.load(open(f))
        if r["method"] == "tripled":
            v = var
            if var == "default" and r.get("clusters") == 1: v = "cl1_cw03"
            name = LAB[v]
        else:
            name = r["method"]
        cell = rows.setdefault(name, {}).setdefault(r["budget"], {})
        p = r["tests"]["holdout"]["psnr"]
        if r["seed"] in cell: assert abs(cell[r["seed"]] - p) < 1e-6, (name, r["budget"], r["seed"], d)
        cell[r["seed"]] = p
budgets = sorted({b for v in rows.values() for b in v})
print("| subset | " + " | ".join(f"{b*100:g} %" for b in budgets) + " |")
print("|---|" + "---|" * len(budgets))
for name in ["random", "kcenter", "A", "B", "C", "D", "E", "F"]:
    if name not in rows: continue
    cells = []
    for b in budgets:
        s = rows[name].get(b, {})
        ps = [s[k] for k in sorted(s)]
        if not ps: cells.append("not run"); continue
        seeds = ", ".join(f"{s[k]:.3f}" for k in sorted(s))
        sd = f" +- {st.stdev(ps):.3f}" if len(ps) > 1 else ""
        cells.append(f"**{st.mean(ps):.3f}**{sd} ({seeds})")
    print(f"| {NAMES[name]} | " + " | ".join(cells) + " |")
