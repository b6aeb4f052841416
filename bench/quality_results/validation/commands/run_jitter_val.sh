#!/bin/bash
# 2026-12-07 (eighteenth session): the validation cells where the default was compared with
# random, re-run with the TripleD subset varying by seed (pool_jitter 0.2). Written and committed
# before any of its runs.
#
# Why. Random trains a different subset on every seed; TripleD's subset did not change with the
# seed (on (d) and (a) at 0.1 / 0.25 % seeds 1-3 share 100 % of seed 0's picks, the one
# exception (d) f0 1 %: 66 %). So each validation cell trained one TripleD subset 8-16 times,
# and its paired interval covers the training noise but not the luck of that one subset. On (d)
# that luck is large: dropping any one of herding's 15 picks at f0 0.5 % moves its 4-seed mean
# from 24.95 dB to between 23.61 and 25.80 (leave-one-out, /tmp, this session).
# pool_jitter F (QualityConfig, new): each seed's TripleD (and k-means / k-center) subset is
# chosen from its own random (1 - F) share of the pool, drawn by the seed; random and full data
# are unchanged (same run keys, so the existing random runs are the references). F = 0.2 was
# fixed before any PSNR, as the smallest of 0.1 / 0.2 / 0.3 at which seeds 1-3 share at most 60 %
# of seed 0's default picks in every cell here (0.1: up to 92 %; 0.2: 23-57 %).
#
# Runs, in the folders of run_strata_val.sh / run_herding_dn.sh (references: their random runs):
#   (d) the four RealSR folds, 0.5 / 1 %, seeds 0-15: the default, then herding, both jittered
#   (a) Train400 --holdout 0.1 (data_seed 0 and 1), 0.1 / 0.25 %, seeds 0-7: the same
# Readings, fixed now (table: commands/paired_jitter.py; nothing is adopted from this plan):
#   A. "at least as good as random": per cell the paired jittered default - random interval;
#      a cell fails if it lies wholly below 0. Also (d) pooled over its folds (64 pairs per
#      budget). The unjittered readings stay in QUALITY.md beside these; neither replaces the other.
#   B. the price of jitter: jittered - unjittered default per cell (paired by seed).
#   C. herding under the same protocol: jittered herding - jittered default and - random, per
#      cell and (d) pooled. A report only: (b) and (c) are not re-run, so no adoption.
# The herding runs come second in each process; they are cut first if time runs out.
# Phases j3 / j4, added and committed while j1 / j2 ran (seen by then: 1-5 seeds of the jittered
# default on the (d) folds, nothing else), to run after them: reading A on the other two splits,
# the jittered default beside the random runs of run_strata_val.sh:
#   (c) BSD100 --holdout 0.2, 400 steps: 0.25 % seeds 0-7, 0.5 / 1 % seeds 0-3
#   (b) Urban100 --holdout 0.2, NAFNet width 8, 400 steps: 0.5 / 1 %, seeds 0-7
# then, if time is left, jittered herding on (c) (reading C there).
# usage: run_jitter_val.sh j1|j2|j3|j4   (two processes, 1 thread each, in parallel)
. "$(dirname "$0")/val_splits.sh"
J="--methods random,tripled --set pool_jitter=0.2"
H="--set select.coverage=herding"
S16=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
X="../shared/data/denoise/Train400 --degrade noise:sigma=25 --holdout 0.1 --set data_seed=1 --steps 800
   --out runs/val/herd_a_ds1"
case $1 in
  j1) for f in 0 1; do $Q $(d $f) --seeds $S16 $J; done
      $Q $A --budgets 0.001,0.0025 --seeds 0,1,2,3,4,5,6,7 $J
      for f in 0 1; do $Q $(d $f) --seeds $S16 $J $H; done
      $Q $A --budgets 0.001,0.0025 --seeds 0,1,2,3,4,5,6,7 $J $H ;;
  j2) for f in 2 3; do $Q $(d $f) --seeds $S16 $J; done
      $Q $X --budgets 0.001,0.0025 --seeds 0,1,2,3,4,5,6,7 $J
      for f in 2 3; do $Q $(d $f) --seeds $S16 $J $H; done
      $Q $X --budgets 0.001,0.0025 --seeds 0,1,2,3,4,5,6,7 $J $H ;;
  j3) $Q $C --budgets 0.0025,0.005,0.01 --seeds 0,1,2,3 $J
      $Q $B "${NAF[@]}" --seeds 0,1,2,3 $J
      $Q $C --budgets 0.0025,0.005,0.01 --seeds 0,1,2,3 $J $H ;;
  j4) $Q $C --budgets 0.0025 --seeds 4,5,6,7 $J
      $Q $B "${NAF[@]}" --seeds 4,5,6,7 $J
      $Q $C --budgets 0.0025 --seeds 4,5,6,7 $J $H ;;
esac
