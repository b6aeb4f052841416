"""Exploration only (not in the package): facility-location (density-aware) coverage vs random /
TripleD on the validation splits. Usage: python fl.py OUT_DIR budget seed [budget seed ...]"""
import math, sys, time
import numpy as np, torch, yaml
torch.set_num_threads(1)
import tripled_fast.quality.harness as H

def facility_location(feats, k, seed, eps=0.01, block=512):
    x = feats.astype(np.float32)
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    n = x.shape[0]
    rng = np.random.default_rng(seed)
    cur = np.zeros(n, np.float32)          # max similarity (shifted to [0, 2]) to the chosen set
    chosen = []
    free = np.ones(n, bool)
    r = min(n, int(math.ceil(n / k * math.log(1 / eps))))
    for _ in range(k):
        cand = rng.choice(np.flatnonzero(free), size=min(r, int(free.sum())), replace=False)
        best, best_gain = -1, -1.0
        for s in range(0, cand.size, block):
            c = cand[s:s + block]
            sim = x @ x[c].T + 1.0
            gain = np.maximum(sim - cur[:, None], 0).sum(0)
            j = int(np.argmax(gain))
            if gain[j] > best_gain:
                best_gain, best = float(gain[j]), int(c[j])
        chosen.append(best)
        free[best] = False
        cur = np.maximum(cur, x @ x[best] + 1.0)
    return np.sort(np.asarray(chosen, np.int64))

out = sys.argv[1]
cfg = H.QualityConfig.from_dict(yaml.safe_load(open(f"{out}/config.yaml")))
from tripled_fast.data import sources as src
pool, hold = src.split_holdout(src.collect_pairs(cfg.pool), cfg.holdout, cfg.data_seed)
scan = H.scan_pool(cfg, pool, "cpu")  # the report folder's cached scan
orig = H.baseline_rows
H.baseline_rows = lambda m, sc, count, seed, **kw: facility_location(sc.features, count, seed) if m == "kmeans" else orig(m, sc, count, seed, **kw)
tests = H._load_tests(cfg, hold, scan.color)
args = sys.argv[2:]

for b, s in zip(args[::2], args[1::2]):
    t = time.time()
    rec = H.train_and_evaluate(cfg, scan, tests, "kmeans", float(b), int(s), "cpu", log=lambda m: None)
    print(b, s, "FL", round(rec["tests"]["holdout"]["psnr"], 3), f"[{time.time()-t:.0f} s]", flush=True)
