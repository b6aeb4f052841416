#!/bin/bash
# 2026-12-06 (ninth session): task (b) all-in-one (NAFNet width 8) test grid at 1600 steps, 4x
# the 400-step grid, as (a) / (c) / (d) got 4x. Current default (cap on, task scope). Same pool,
# degradations, test images and network as run_b800.sh; only --steps and --out differ. The scan
# is the 800-step grid's (hard-linked copy of its cache: the scan does not depend on training).
# Fixed before any run, in this order (each later phase only if the session leaves time):
#   1. full data seeds 0-1; random and TripleD at 0.25 / 0.5 / 1 %, seeds 0-3:
#        run_b1600.sh 1 and run_b1600.sh 2 (in parallel), then run_b1600.sh report
#   2. random and TripleD at 2 %, seeds 0-3:           run_b1600.sh 2a / 2b
#   3. random and TripleD at 0.25 / 0.5 %, seeds 4-7:  run_b1600.sh s47a / s47b, then report8
# k-means / k-center were not run at this length in the ninth session (added in the tenth, below).
# As run: after phase 1 random had not reached full data by 1 % and TripleD had at 0.5 %, so the
# 2 % column could no longer change the first target's verdict while seeds 4-7 could change the
# second's: phase 3 ran first (s47a and s47b, two processes); 2a / 2b, first dropped for time,
# ran after it at the end of the session.
. "$(dirname "$0")/b_naf_env.sh"  # cd, venv, threads, DEG, NAF, Q
OUT=runs/quality/allinone_naf_s1600
T="../shared/data/pool/Urban100_HR_first50 $DEG --test ../shared/data/denoise/CBSD68 --max-test-images 10 \
   --patch 64 --stride 64 --steps 1600 --batch 16 --out $OUT"
if [ ! -d $OUT/cache ] && [ -d runs/quality/allinone_naf_s800/cache ] && [ "$1" = 1 ]; then
  mkdir -p $OUT && cp -al runs/quality/allinone_naf_s800/cache $OUT/cache
fi
wait_scan() { until ls $OUT/cache/scan_*.npz >/dev/null 2>&1; do sleep 10; done; }
case $1 in
  1) $Q $T "${NAF[@]}" --methods full --seeds 0 --budgets 0.0025
     $Q $T "${NAF[@]}" --methods random,tripled --budgets 0.0025,0.005,0.01 --seeds 0,1 ;;
  2) wait_scan
     $Q $T "${NAF[@]}" --methods full --seeds 1 --budgets 0.0025
     $Q $T "${NAF[@]}" --methods random,tripled --budgets 0.0025,0.005,0.01 --seeds 2,3 ;;
  report) tripled-fast bench-quality $T "${NAF[@]}" --methods full,random,tripled --budgets 0.0025,0.005,0.01 \
            --seeds 0,1,2,3 --report-only ;;
  2a) wait_scan; $Q $T "${NAF[@]}" --methods random,tripled --budgets 0.02 --seeds 0,1 ;;
  2b) wait_scan; $Q $T "${NAF[@]}" --methods random,tripled --budgets 0.02 --seeds 2,3 ;;
  s47a) wait_scan; $Q $T "${NAF[@]}" --methods random,tripled --budgets 0.0025,0.005 --seeds 4,5 ;;
  s47b) wait_scan; $Q $T "${NAF[@]}" --methods random,tripled --budgets 0.0025,0.005 --seeds 6,7 ;;
  report8) tripled-fast bench-quality $T "${NAF[@]}" --methods full,random,tripled --budgets 0.0025,0.005,0.01,0.02 \
             --seeds 0,1,2,3,4,5,6,7 --report-only ;;
  k1|k2|k2a|k2b|reportk) ;;
  *) echo "usage: $0 1|2|report|2a|2b|s47a|s47b|report8|k1|k2|k2a|k2b|reportk" >&2; exit 2 ;;
esac
# tenth session (2026-12-06), fixed before these runs: the baselines the 800-step grid has, k-means
# and k-center, at the same budgets and seeds as there (0.25 / 0.5 / 1 %, seeds 0-2; then 2 %,
# seeds 0-2 if the session leaves time). Nothing else changes; random, TripleD and full data are
# the committed runs. Two processes:  run_b1600.sh k1 and k2, then k2a and k2b, then reportk
# (the report of every method, 8 seeds where run, the committed table.md).
case $1 in
  k1) wait_scan
      $Q $T "${NAF[@]}" --methods kmeans,kcenter --budgets 0.0025,0.005,0.01 --seeds 0
      $Q $T "${NAF[@]}" --methods kmeans --budgets 0.0025,0.005,0.01 --seeds 2 ;;
  k2) wait_scan
      $Q $T "${NAF[@]}" --methods kmeans,kcenter --budgets 0.0025,0.005,0.01 --seeds 1
      $Q $T "${NAF[@]}" --methods kcenter --budgets 0.0025,0.005,0.01 --seeds 2 ;;
  k2a) $Q $T "${NAF[@]}" --methods kmeans,kcenter --budgets 0.02 --seeds 0
       $Q $T "${NAF[@]}" --methods kmeans --budgets 0.02 --seeds 2 ;;
  k2b) $Q $T "${NAF[@]}" --methods kmeans,kcenter --budgets 0.02 --seeds 1
       $Q $T "${NAF[@]}" --methods kcenter --budgets 0.02 --seeds 2 ;;
  reportk) tripled-fast bench-quality $T "${NAF[@]}" --methods full,random,kmeans,kcenter,tripled \
             --budgets 0.0025,0.005,0.01,0.02 --seeds 0,1,2,3,4,5,6,7 --report-only ;;
esac
