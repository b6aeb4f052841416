#!/bin/bash
# 2026-12-07 (eighteenth session): a first check, on a split none of this was seen on, of reading
# B of run_jitter_val.sh: on both (a) splits the default choosing from a random 80 % of the pool
# (pool_jitter 0.2) was above the default choosing from the whole pool at 0.1 % on all 8 seeds
# (+0.08 / +0.06 dB). Written and committed before its runs.
#   x1 / x2: a third (a) validation split, Train400 --holdout 0.1 --set data_seed=2 (other
#            held-out photos, another noise draw), 800 steps, DnCNN CPU default: random, the
#            default and the jittered default at 0.1 / 0.25 %, seeds 0-7.
# Reading (fixed now; nothing is adopted from it): the hint holds on this split if at 0.1 % the
# paired jittered - unjittered default interval lies wholly above 0. Reported either way, with
# the 0.25 % cell and both against random. Table: paired_jitter.py's columns for this folder
# (run: python paired_jitter.py, after collect, with the cell listed).
# usage: run_jitter_ds2.sh x1|x2   (two processes, 1 thread each)
cd /work/main && . /root/venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
Q="nice -n 10 tripled-fast bench-quality"
X="../shared/data/denoise/Train400 --degrade noise:sigma=25 --holdout 0.1 --set data_seed=2 --steps 800
   --budgets 0.001,0.0025 --out runs/val/jit_a_ds2"
case $1 in
  x1) $Q $X --methods random,tripled --seeds 0,1,2,3 && $Q $X --methods tripled --pool-jitter 0.2 --seeds 0,1,2,3 ;;
  x2) sleep 120; $Q $X --methods random,tripled --seeds 4,5,6,7 && $Q $X --methods tripled --pool-jitter 0.2 --seeds 4,5,6,7 ;;
esac
