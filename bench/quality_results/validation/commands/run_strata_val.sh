#!/bin/bash
# 2026-12-07 (sixteenth session): select.quotas=strata on the four validation splits at the CPU
# settings, the adoption test the fifteenth session left open. Written and committed before any
# of its runs.
#
# Every cell runs three selections on this machine (Intel Xeon; the older records came from an
# AMD EPYC and do not reproduce bitwise here, so the references are rerun, not reused):
#   random, tripled (the current default), tripled with --set select.quotas=strata.
# random's run key leaves out the select section, so the strata call in the same folder reuses
# the random runs; its tripled runs get their own keys (strata enters the key under strata only).
#   (a) Train400 --holdout 0.1, DnCNN CPU default, 800 steps: 0.1 / 0.25 % seeds 0-7, 0.5 % 0-3
#   (c) BSD100 x4 --holdout 0.2, 400 steps: 0.25 % seeds 0-7, 0.5 / 1 % seeds 0-3
#   (d) the four RealSR folds of run_dval.sh (data_seed 0-3), 400 steps: 0.5 / 1 %, seeds 0-7
#   (b) Urban100 --holdout 0.2, NAFNet width 8, 400 steps: 0.5 / 1 %, seeds 0-3
#   then, if time is left, (d) seeds 8-15.
#
# Adoption rule (fixed before the runs). quotas=strata becomes the default only if all hold:
#   1. no validation cell has a paired-by-seed strata - default 95 % interval wholly below 0;
#   2. the mean over the four splits of each split's mean strata - default difference (cells
#      weighted equally within a split; (d) = the mean over its folds) is above 0;
#   3. at least one cell's paired strata - default interval lies wholly above 0.
# Strata must also keep "at least as good as random": a cell where strata - random's interval
# lies wholly below 0 and default - random's does not blocks adoption.
# Adopting it means re-running the TripleD cells of the four test grids before the
# test tables say anything about it.
#
# 2026-12-07 (seventeenth session), written before its runs: (b) seeds 4-7 (phases b1 / b2, one
# process each), so that (b)'s cells have 8 seeds like (a)'s smallest budgets. They read (b) at
# 1 %, where the re-run put the default level with random (-0.00 +- 0.16 dB over 4 seeds); strata
# stays not adopted whatever they show (rule 1 already fails on (d), which they do not touch).
#
# usage: run_strata_val.sh p1|p2|b1|b2|report   (two processes, 1 thread each; p1 and p2 in parallel)
. "$(dirname "$0")/val_splits.sh"  # the splits (its definitions were inline here when the runs were made)
S="--set select.quotas=strata"
three() {  # three CELLS...: random + default, then strata, on the same cells
  $Q "$@" --methods random,tripled && $Q "$@" --methods tripled $S; }
case $1 in
  p1) three $A --budgets 0.001,0.0025,0.005 --seeds 0,1,2,3
      three $A --budgets 0.001,0.0025 --seeds 4,5,6,7
      for f in 0 1; do three $(d $f) --seeds 0,1,2,3,4,5,6,7; done
      three $B "${NAF[@]}" --seeds 0,1
      for f in 0 1; do three $(d $f) --seeds 8,9,10,11,12,13,14,15; done ;;
  p2) three $C --budgets 0.0025,0.005,0.01 --seeds 0,1,2,3
      three $C --budgets 0.0025 --seeds 4,5,6,7
      for f in 2 3; do three $(d $f) --seeds 0,1,2,3,4,5,6,7; done
      sleep 60; three $B "${NAF[@]}" --seeds 2,3
      for f in 2 3; do three $(d $f) --seeds 8,9,10,11,12,13,14,15; done ;;
  b1) three $B "${NAF[@]}" --seeds 4,5 ;;
  b2) sleep 60; three $B "${NAF[@]}" --seeds 6,7 ;;
esac
