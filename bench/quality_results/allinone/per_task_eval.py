"""Retrain chosen (method, budget, seed) cells exactly as bench-quality does (train_and_evaluate, same
config and cached scan) and evaluate per degradation of the test set; also the degraded input itself.
Usage: python per_task_eval.py OUT_DIR RESULT_JSON method:budget:seed ..."""
import collections, glob, json, sys
from pathlib import Path
import numpy as np, torch, yaml
torch.set_num_threads(1)
from tripled_fast.quality.harness import PoolScan, QualityConfig, _load_tests, train_and_evaluate
from tripled_fast.metrics.evaluate import evaluate_pairs

out, dest, cells = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
cfg = QualityConfig.from_dict(yaml.safe_load(open(f"{out}/config.yaml")))
z = np.load(glob.glob(f"{out}/cache/scan_*.npz")[0])
scan = PoolScan(features=np.asarray(z["features"], np.float32), task=z["task"], complexity=z["complexity"],
                pack=next(p for p in (Path(out) / "cache" / str(z["pack"]), Path(str(z["pack"])))
                          if p.with_name(p.name + "_gt.npy").exists()), color=str(z["color"]), scale=int(z["scale"]),
                run_dir=Path(out) / "cache", note=str(z["note"]))
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
