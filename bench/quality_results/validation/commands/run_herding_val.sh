#!/bin/bash
# 2026-12-07 (seventeenth session): select.coverage=herding on the four validation splits at the
# CPU settings. Written and committed before any of its runs.
#
# Kernel herding (tripled_fast/select/herding.py) picks the group's non-complexity patches so
# that their kernel mean embedding follows the group's feature density (Gaussian kernel, median
# bandwidth), where k-center covers the support and leans to isolated, complex patches (the
# default's 0.1 % picks on the (a) validation pool: mean complexity rank 0.57, herding's 0.50).
# It runs in the folders of run_strata_val.sh, whose random and default runs (seeds as there,
# (b) with seeds 4-7 from its phases b1 / b2) are the references; only herding trains here:
#   (a) Train400 --holdout 0.1, DnCNN CPU default, 800 steps: 0.1 / 0.25 % seeds 0-7, 0.5 % 0-3
#   (c) BSD100 x4 --holdout 0.2, 400 steps: 0.25 % seeds 0-7, 0.5 / 1 % seeds 0-3
#   (d) the four RealSR folds (data_seed 0-3), 400 steps: 0.5 / 1 %, seeds 0-15
#   (b) Urban100 --holdout 0.2, NAFNet width 8, 400 steps: 0.5 / 1 %, seeds 0-7
#
# Adoption rule, the one that tested quotas=strata. coverage=herding becomes the default only if
# all hold:
#   1. no validation cell has a paired-by-seed herding - default 95 % interval wholly below 0;
#   2. the mean over the four splits of each split's mean herding - default difference (cells
#      weighted equally within a split; (d) = the mean over its folds) is above 0;
#   3. at least one cell's paired herding - default interval lies wholly above 0.
# Herding must also keep "at least as good as random": a cell where herding - random's interval
# lies wholly below 0 and default - random's does not blocks adoption.
# Adopting it means re-running the TripleD cells of the four test grids before the test tables
# say anything about it.
#
# usage: run_herding_val.sh h1|h2   (two processes, 1 thread each, in parallel)
. "$(dirname "$0")/val_splits.sh"  # the splits (its definitions were inline here when the runs were made)
H="--methods tripled --set select.coverage=herding"
case $1 in
  h1) $Q $A --budgets 0.001,0.0025,0.005 --seeds 0,1,2,3 $H
      $Q $A --budgets 0.001,0.0025 --seeds 4,5,6,7 $H
      for f in 0 1; do $Q $(d $f) --seeds 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15 $H; done
      $Q $B "${NAF[@]}" --seeds 0,1,2,3 $H ;;
  h2) $Q $C --budgets 0.0025,0.005,0.01 --seeds 0,1,2,3 $H
      $Q $C --budgets 0.0025 --seeds 4,5,6,7 $H
      for f in 2 3; do $Q $(d $f) --seeds 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15 $H; done
      $Q $B "${NAF[@]}" --seeds 4,5,6,7 $H ;;
esac
