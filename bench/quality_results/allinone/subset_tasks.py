"""Usage: python subset_tasks.py OUT_DIR 0.01  (OUT_DIR = the --out of the (b) run).
Task-tag composition of each method's subset (same selection calls as the harness), from the cached scan."""
import glob, sys, collections, yaml, numpy as np, torch
torch.set_num_threads(1)
from tripled_fast.quality.harness import QualityConfig, PoolScan, baseline_rows, tripled_selection
from tripled_fast.select.budget import resolve_budget
out = sys.argv[1]
cfg = QualityConfig.from_dict(yaml.safe_load(open(f"{out}/config.yaml")))
z = np.load(glob.glob(f"{out}/cache/scan_*.npz")[0])
scan = PoolScan(features=np.asarray(z["features"], np.float32), task=z["task"], complexity=z["complexity"],
                pack=None, color=str(z["color"]), scale=int(z["scale"]), run_dir=None, note="")
names = sorted(set(scan.task.tolist()))
print("pool", {t: int((scan.task == t).sum()) for t in names})
for budget in [float(b) for b in sys.argv[2].split(",")]:
    for seed in (0, 1):
        count = resolve_budget(budget, scan.n)
        for m in ("random", "kmeans", "kcenter", "tripled"):
            rows = tripled_selection(scan, budget, cfg.select, seed).selected if m == "tripled" else baseline_rows(m, scan, count, seed)
            c = collections.Counter(scan.task[rows].tolist())
            print(f"{budget:g} s{seed} {m:8s} n={len(rows):5d} " + " ".join(f"{t}={c.get(t,0)}" for t in names), flush=True)
