#!/bin/bash
# 2026-12-07 (seventeenth session): a follow-up to run_herding_val.sh on denoising, written and
# committed when that plan's (a) and (c) cells and part of (d) were in, before any run here and
# before its (b) cells and the rest of (d). On the (a) validation split herding was above the default at 0.1 % on all 8 seeds
# (+0.11 dB, interval [+0.085, +0.134]); on (d) fold f0 at 0.5 % it was 1.8 dB below. Whatever
# run_herding_val.sh's rule decides about the default, this asks whether the (a) reading holds on
# denoising data it was not seen on, so that QUALITY.md can recommend select.coverage=herding
# for denoising pools at small budgets (a recommendation, not a default):
#   x1 / x2: a second (a) validation split, Train400 --holdout 0.1 with data_seed=1 (another 40
#            held-out photos, another noise draw), 800 steps, DnCNN CPU default:
#            random, the default and herding at 0.1 / 0.25 %, seeds 0-7.
#   t1 / t2: the (a) test grid (Train400 -> Set12, BSD68, 800 steps) at 0.1 / 0.25 %, seeds 0-7:
#            random, the default and herding, all on this machine. A measurement only: nothing
#            is chosen on it.
#   w1 / w2: if time is left, herding on the (a) validation split with the 10x larger network
#            (run_a_wide_val.sh's folder, whose random and default runs have seeds 0-3).
# Recommendation rule (fixed now): QUALITY.md recommends herding for denoising pools at budgets
# up to 0.25 % only if, on the data_seed=1 split, neither cell's paired herding - default
# interval lies wholly below 0 and the mean of the two cells' herding - default is above 0.
# usage: run_herding_dn.sh x1|x2|t1|t2|w1|w2   (two processes, 1 thread each)
cd /work/main && . /root/venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
Q="nice -n 10 tripled-fast bench-quality"
H="--set select.coverage=herding"
X="../shared/data/denoise/Train400 --degrade noise:sigma=25 --holdout 0.1 --set data_seed=1 --steps 800
   --budgets 0.001,0.0025 --out runs/val/herd_a_ds1"
T="../shared/data/denoise/Train400 --degrade noise:sigma=25 --test ../shared/data/denoise/Set12
   --test ../shared/data/denoise/BSD68 --steps 800 --budgets 0.001,0.0025 --out runs/quality/denoise_herding"
W=(../shared/data/denoise/Train400 --degrade noise:sigma=25 --holdout 0.1 --steps 1600   # as run_a_wide_val.sh
   --out runs/val/dn_w32d10 --set 'train.arch_kwargs={depth: 10, width: 32, bn: false}' --budgets 0.001,0.0025)
both() { $Q "$@" --methods random,tripled && $Q "$@" --methods tripled $H; }
case $1 in
  x1) both $X --seeds 0,1,2,3 ;;
  x2) sleep 90; both $X --seeds 4,5,6,7 ;;
  t1) both $T --seeds 0,1,2,3 ;;
  t2) sleep 90; both $T --seeds 4,5,6,7 ;;
  w1) $Q "${W[@]}" --methods tripled $H --seeds 0,1 ;;
  w2) $Q "${W[@]}" --methods tripled $H --seeds 2,3 ;;
esac
