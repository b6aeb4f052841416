"""Retrain chosen (method, budget, seed) cells exactly as bench-quality does (train_and_evaluate, same
config and cached scan) and evaluate per degradation of the test set; also the degraded input itself.
Usage: python per_task_eval.py OUT_DIR RESULT_JSON method:budget:seed ..."""
import collections, json, sys
from pathlib import Path
import numpy as np, torch, yaml
torch.set_num_threads(1)
from tripled_fast.data import sources as src
from tripled_fast.quality.harness import QualityConfig, _load_tests, scan_pool, train_and_evaluate
from tripled_fast.metrics.evaluate import evaluate_pairs

out, dest, cells = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
cfg = QualityConfig.from_dict(yaml.safe_load(open(f"{out}/config.yaml")))
scan = scan_pool(cfg, src.collect_pairs(cfg.pool), "cpu")  # the report folder's cached scan
split = collections.defaultdict(list)
for name, items in _load_tests(cfg, [], scan.color).items():
    for it in items:
        split[f"{name}/{it[0].split('/')[0]}"].append(it)
res = json.loads(dest.read_text()) if dest.exists() else {}
if "input" not in res:
    res["input"] = {k: {"psnr": evaluate_pairs(torch.nn.Identity(), v, scale=1, cfg=cfg.eval).psnr,
                        "ssim": evaluate_pairs(torch.nn.Identity(), v, scale=1, cfg=cfg.eval).ssim, "images": len(v)}
                    for k, v in split.items()}
for cell in cells:
    if cell in res:
        continue
    m, b, s = cell.split(":")
    rec = train_and_evaluate(cfg, scan, dict(split), m, float(b), int(s), "cpu", log=print)
    res[cell] = rec
    dest.write_text(json.dumps(res, indent=1))
    print(cell, {k: round(v["psnr"], 2) for k, v in rec["tests"].items()},
          "mean", round(float(np.mean([v["psnr"] for v in rec["tests"].values()])), 3), flush=True)
dest.write_text(json.dumps(res, indent=1))
