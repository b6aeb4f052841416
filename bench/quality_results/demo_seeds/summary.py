"""Table of the embedded demo over seeds: python bench/quality_results/demo_seeds/summary.py"""
import json
import statistics
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODELS = ("distilled", "random", "full")
runs = [json.loads(p.read_text()) for p in sorted(HERE.glob("s*/eval.json"))]
tasks = sorted(runs[0]["per_task"]["distilled"])
print(f"| trained on | PSNR dB per seed | mean +- std | SSIM mean | {' | '.join(tasks)} |")
print("|---|---|---|---|" + "---|" * len(tasks))
for m in MODELS:
    psnr = [r["models"][m]["psnr"] for r in runs]
    ssim = [r["models"][m]["ssim"] for r in runs]
    per_task = [statistics.mean(r["per_task"][m][t] for r in runs) for t in tasks]
    print(f"| {m} | {' / '.join(f'{v:.2f}' for v in psnr)} | {statistics.mean(psnr):.2f} +- "
          f"{statistics.stdev(psnr):.2f} | {statistics.mean(ssim):.4f} | "
          + " | ".join(f"{v:.2f}" for v in per_task) + " |")
diff = [r["models"]["distilled"]["psnr"] - r["models"]["random"]["psnr"] for r in runs]
print(f"\ndistilled - random per seed: {' / '.join(f'{d:+.2f}' for d in diff)}; "
      f"mean {statistics.mean(diff):+.2f}, std {statistics.stdev(diff):.2f}")
