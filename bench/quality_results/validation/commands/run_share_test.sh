#!/bin/bash
# 2026-12-07 (nineteenth session): the test grids with select.pool_share 0.8, to run only if
# run_share_val.sh's rule adopts it as the default. Written and committed before that rule was
# read. A report of the change: nothing is chosen on these runs.
#
# This machine does not reproduce the committed test grids of the sixth session ((d) random 0.5 %
# seed 0: 28.19 dB here, 28.54 recorded), but it does reproduce the seventeenth session's (a) grid
# (runs/quality/denoise_herding, random 0.1 % seed 0: 27.6242736692063 dB on BSD68 to the last
# bit). So every comparison here is paired on this machine: random, the whole-pool default
# (pool_share 1.0, explicit) and pool_share 0.8 at each grid's two smallest budgets (the targets'):
#   (a) Train400 -> Set12, BSD68, 800 steps, 0.1 / 0.25 %, seeds 0-7: random and the default from
#       the seventeenth session's folder; pool_share 0.8 new
#   (c) BSD100 -> Set5, Set14, 400 steps, 0.25 / 0.5 %, seeds 0-7: all three new
#   (d) RealSR --holdout 0.34, 400 steps, 0.5 / 1 %, seeds 0-7: all three new
#   (b) Urban100 x 6 degradations -> CBSD68 (first 10) NAFNet width 8, 400 steps, 0.25 / 0.5 %,
#       seeds 0-3 (about 220 s a run; four seeds are what the session affords): all three new
# Table: commands/paired_share.py test (paired differences per grid, test set and budget).
# usage: run_share_test.sh t1|t2   (two processes, 1 thread each, in parallel)
. "$(dirname "$0")/test_grids.sh"
D1="--set select.pool_share=1.0"
S8=0,1,2,3,4,5,6,7
A=$(grid_a 0.001,0.0025); C=$(grid_c 0.0025,0.005); D=$(grid_d 0.005,0.01); B=$(grid_b 0.0025,0.005)
three() { $Q "$@" --methods random,tripled $D1 && $Q "$@" --methods tripled $S; }
case $1 in
  t1) $Q $A --methods tripled $S --seeds $S8
      three $D --seeds $S8
      until ls runs/quality/allinone_naf_share/cache/scan_*.npz >/dev/null 2>&1; do sleep 20; done  # t2 scans (b)
      three $B "${NAF[@]}" --seeds 0,1 ;;
  t2) three $C --seeds $S8
      three $B "${NAF[@]}" --seeds 2,3 ;;
esac
