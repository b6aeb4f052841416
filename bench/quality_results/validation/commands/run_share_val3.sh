#!/bin/bash
# 2026-12-07 (twentieth session): the last validation budgets of the default (select.pool_share
# 0.8) against random, after run_share_grid.sh and run_share_val2.sh, and 8 seeds on the (b) test
# grid's two smallest budgets. Written and committed before its runs.
# Validation (seeds 0-3, random and the default paired by seed; folders of val_splits.sh):
#   (b) Urban100 --holdout 0.2, NAFNet width 8, 400 steps: 2 % (the (b) grid's largest budget)
#   (d) the four RealSR folds at 5 % (the (d) grid's largest budget; and pooled, 16 pairs)
#   (a) Train400 --holdout 0.1 --set data_seed=3 and (c) BSD100 --holdout 0.2 --set data_seed=1: 5 %
#       (the issue's largest default budget; the (a) and (c) grids stop at 2 %)
# Rule, fixed now: a cell fails when the paired default - random 95 % interval lies wholly below
# 0. A failing cell is written down as failing; no default is changed on these runs.
# Test grid (b) (a report, nothing chosen): random and the default at 0.25 / 0.5 %, seeds 4-7, so
# that its targets' row has 8 seeds as the other grids' rows do (run_share_test.sh ran 0-3).
# usage: run_share_val3.sh w1|w2   (two processes, 1 thread each, in parallel)
. "$(dirname "$0")/test_grids.sh"
. "$(dirname "$0")/val_splits.sh"
M="--methods random,tripled $S"
case $1 in
  w1) for f in 0 1 2 3; do $Q $(d $f) --budgets 0.05 --seeds 0,1,2,3 $M; done
      $Q $(share_a 0.05) --seeds 0,1,2,3 $M
      $Q $(share_c 0.05) --seeds 0,1,2,3 $M
      $Q $(grid_b 0.0025,0.005) "${NAF[@]}" --seeds 4,5 $M ;;
  w2) $Q $B "${NAF[@]}" --budgets 0.02 --seeds 0,1,2,3 $M
      $Q $(grid_b 0.0025,0.005) "${NAF[@]}" --seeds 6,7 $M ;;
esac
