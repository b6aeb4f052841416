"""Exploration only (not in the package): TripleD's selection with texture features from the
backbone's middle stages instead of its pooled final embedding.

The same backbone, weights and input side as the report folder's scan embed the GT patches;
the feature maps of three middle stages (for efficientnet_lite0 at 64 px: 24 x 16 x 16,
40 x 8 x 8, 112 x 4 x 4) are pooled to a per-channel mean and standard deviation, each stage's
vector scaled to unit norm, and the three concatenated (352 values for efficientnet_lite0).
Only the features that coverage and the k-means see change; the complexity scores stay those
of the scan. Trained and evaluated by the harness as its `tripled` method, with the report
folder's config.yaml as it is (its `select` section included: use a folder made with the
selection to compare against; runs/val/rsr_f1 was made with the current default).
Usage: python explore_midlevel.py OUT_DIR budget seed [budget seed ...]   (prints one line per run)"""
import sys
import time
from pathlib import Path

import dataclasses
import numpy as np
import torch
import yaml

torch.set_num_threads(1)
import tripled_fast.quality.harness as H
from tripled_fast.data import sources as src
from tripled_fast.features.backbones import load_backbone
from tripled_fast.features.extract import patches_to_tensor, prepare_input
from tripled_fast.train.packed import PackedPairs

STAGES = [1, 2, 3]


def midlevel_features(scan, cfg, batch=128):
    model, info = load_backbone(cfg.features, seed=cfg.data_seed)
    pack = PackedPairs(scan.pack)
    parts = []
    with torch.inference_mode():
        for start in range(0, len(pack), batch):
            x = prepare_input(patches_to_tensor(np.asarray(pack.gt[start:start + batch])), info)
            maps = model.forward_intermediates(x, indices=STAGES, intermediates_only=True)
            vec = []
            for f in maps:
                v = torch.cat([f.mean((2, 3)), f.std((2, 3))], 1)
                vec.append(v / v.norm(dim=1, keepdim=True).clamp_min(1e-12))
            parts.append(torch.cat(vec, 1).numpy())
    feats = np.concatenate(parts)
    out = np.zeros((scan.n, feats.shape[1]), np.float32)
    out[np.asarray(pack.ids)] = feats  # pack order -> manifest row order
    return out


out_dir = sys.argv[1]
cfg = H.QualityConfig.from_dict(yaml.safe_load(open(f"{out_dir}/config.yaml")))
pool, hold = src.split_holdout(src.collect_pairs(cfg.pool), cfg.holdout, cfg.data_seed)
scan = H.scan_pool(cfg, pool, "cpu", log=lambda m: None)
cache = Path(out_dir) / "cache" / "midlevel_features.npy"
if cache.exists():
    mid = np.load(cache)
else:
    t = time.time()
    mid = midlevel_features(scan, cfg)
    np.save(cache, mid)
    print(f"mid-level features {mid.shape} in {time.time() - t:.0f} s", flush=True)
scan = dataclasses.replace(scan, features=mid)
tests = H._load_tests(cfg, hold, scan.color)
args = sys.argv[2:]
for b, s in zip(args[::2], args[1::2]):
    t = time.time()
    rec = H.train_and_evaluate(cfg, scan, tests, "tripled", float(b), int(s), "cpu", log=lambda m: None)
    print(b, s, "MID", round(rec["tests"]["holdout"]["psnr"], 4), f"[{time.time() - t:.0f} s]", flush=True)
