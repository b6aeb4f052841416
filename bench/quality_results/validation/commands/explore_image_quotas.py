"""Exploration only (not in the package): k-center coverage with per-image quotas on the (d)
validation folds. The budget is split across the pool's source images in proportion to their
patch counts (largest remainder); in each image round(0.1 * quota) picks by highest complexity
(the default's complexity_weight), then greedy k-center over the whole pool restricted to images
whose quota is not yet full (distances count every pick, of any image). Trained and evaluated by
the harness in place of the k-means baseline.
Usage: python explore_image_quotas.py OUT_DIR budget seed [budget seed ...]"""
import glob, sys, time
import numpy as np, pyarrow.parquet as pq, torch, yaml
torch.set_num_threads(1)
import tripled_fast.quality.harness as H


def image_quota_kcenter(feats, image, complexity, k, cw=0.1):
    x = feats.astype(np.float32)
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    names, inv = np.unique(image, return_inverse=True)
    share = np.bincount(inv) / len(inv) * k
    quota = np.floor(share).astype(int)
    for j in np.argsort(-(share - quota), kind="stable")[: k - quota.sum()]:
        quota[j] += 1
    chosen = []
    for j, m in enumerate(quota):
        members = np.flatnonzero(inv == j)
        top = members[np.argsort(-complexity[members], kind="stable")[: int(np.floor(cw * m + 0.5))]]
        chosen += top.tolist()
    left = quota - np.bincount(inv[chosen], minlength=len(names)) if chosen else quota.copy()
    if not chosen:  # no complexity pick: start nearest the mean, like the k-center baseline
        chosen.append(int(np.argmax(x @ x.mean(0))))
        left[inv[chosen[0]]] -= 1
    d = np.min(1.0 - x @ x[chosen].T, axis=1)
    while len(chosen) < k:
        open_ = left[inv] > 0
        d_open = np.where(open_, d, -np.inf)
        d_open[chosen] = -np.inf
        i = int(np.argmax(d_open))
        chosen.append(i)
        left[inv[i]] -= 1
        d = np.minimum(d, 1.0 - x @ x[i])
    return np.sort(np.asarray(chosen, np.int64))


out = sys.argv[1]
cfg = H.QualityConfig.from_dict(yaml.safe_load(open(f"{out}/config.yaml")))
from tripled_fast.data import sources as src
pool, hold = src.split_holdout(src.collect_pairs(cfg.pool), cfg.holdout, cfg.data_seed)
scan = H.scan_pool(cfg, pool, "cpu")  # the report folder's cached scan
image = np.array(pq.read_table(glob.glob(f"{out}/cache/manifest.parquet")[0]).column("image_id").to_pylist())
assert len(image) == scan.n, (len(image), scan.n)
orig = H.baseline_rows
H.baseline_rows = lambda m, sc, count, seed, **kw: (image_quota_kcenter(sc.features, image, sc.complexity, count)
                                                    if m == "kmeans" else orig(m, sc, count, seed, **kw))
tests = H._load_tests(cfg, hold, scan.color)
args = sys.argv[2:]
for b, s in zip(args[::2], args[1::2]):
    t = time.time()
    rec = H.train_and_evaluate(cfg, scan, tests, "kmeans", float(b), int(s), "cpu", log=lambda m: None)
    print(b, s, "IQ", round(rec["tests"]["holdout"]["psnr"], 3), f"[{time.time()-t:.0f} s]", flush=True)
