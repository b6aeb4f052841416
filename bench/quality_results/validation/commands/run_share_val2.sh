#!/bin/bash
# 2026-12-07 (twentieth session): the issue's "at least as good as random at every budget" for the
# default (select.pool_share 0.8) at the validation budgets no run with it has measured yet, after
# run_share_grid.sh covered (a) 0.5-2 % and (c) 1-2 %. Written and committed before its runs.
# Measured with 0.8 before (or with pool_jitter 0.2, which selects the same): (a) 0.1 / 0.25 % on
# three splits and 0.5-2 % on one; (c) 0.25-1 % on two splits and 2 % on one; (b) 0.5 / 1 % on one
# split and 1 % on a second; (d) 0.5 / 1 % on all four folds. Missing, run here (seeds 0-3,
# random and the default paired by seed; the folders and splits of val_splits.sh):
#   (d) the four RealSR folds at 2 % (and pooled over the folds, 16 pairs)
#   (b) Urban100 --holdout 0.2, NAFNet width 8, 400 steps: 0.25 % (about 200 s a run; 2 % would
#       take another half hour the session does not have)
# Rule, fixed now: a cell fails when the paired default - random 95 % interval lies wholly below
# 0. A failing cell is written down as failing; no default is changed on these runs.
# usage: run_share_val2.sh v1|v2   (two processes, 1 thread each, in parallel)
. "$(dirname "$0")/val_splits.sh"
M="--methods random,tripled --set select.pool_share=0.8"
case $1 in
  v1) for f in 0 1 2 3; do $Q $(d $f) --budgets 0.02 --seeds 0,1,2,3 $M; done
      $Q $B "${NAF[@]}" --budgets 0.0025 --seeds 3 $M ;;
  v2) $Q $B "${NAF[@]}" --budgets 0.0025 --seeds 0,1,2 $M ;;
esac
