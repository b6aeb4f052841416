#!/bin/bash
# 2026-12-06 (tenth session), a diagnostic fixed before these runs, not a tuning step: in the first
# k-center runs of the (b) test grid at 1600 steps (run_b1600.sh k1 / k2) k-center came out above
# TripleD at 0.25 %, as at 800 steps. run_b800_val.sh checked that at 800 steps on the (b)
# validation split (TripleD 0.16 dB above k-center there); this repeats it at 1600 steps:
# k-center and the current default, seeds 0-3, at 0.25 % (v1 / v2), then at 0.5 % if the session
# leaves time (w1 / w2). Random is not rerun. Whatever it shows, no default changes this session (a
# change would need every test grid retrained). The scan is the 800-step validation run's.
# As run: v1 / v2 ran; w1 / w2 were dropped for time in favour of x1 / x2 below (then wt1 / wt2,
# the default alone at 0.5 %), so `report` has the 0.25 % column only.
# usage: run_b1600_val.sh v1 and v2 (in parallel), then w1 and w2, then report
. "$(dirname "$0")/b_naf_env.sh"  # cd, venv, threads, DEG, NAF, Q
OUT=runs/val/allinone_naf_s1600
V="../shared/data/pool/Urban100_HR_first50 $DEG --holdout 0.2 --patch 64 --stride 64 --steps 1600 --batch 16 --out $OUT"
if [ ! -d $OUT/cache ] && [ -d runs/val/allinone_naf_s800/cache ] && [ "$1" = v1 ]; then
  mkdir -p $OUT && cp -al runs/val/allinone_naf_s800/cache $OUT/cache
fi
case $1 in
  v1) $Q $V "${NAF[@]}" --methods kcenter,tripled --budgets 0.0025 --seeds 0,1 ;;
  v2) sleep 30; $Q $V "${NAF[@]}" --methods kcenter,tripled --budgets 0.0025 --seeds 2,3 ;;
  w1) $Q $V "${NAF[@]}" --methods kcenter,tripled --budgets 0.005 --seeds 0,1 ;;
  w2) $Q $V "${NAF[@]}" --methods kcenter,tripled --budgets 0.005 --seeds 2,3 ;;
  report) tripled-fast bench-quality $V "${NAF[@]}" --methods kcenter,tripled --budgets 0.0025 \
            --seeds 0,1,2,3 --report-only ;;
  x1|x2|reportx|wt1|wt2|r1|r2|reportr) ;;
  *) echo "usage: $0 v1|v2|w1|w2|report|x1|x2|reportx|wt1|wt2|r1|r2|reportr" >&2; exit 2 ;;
esac
# added before the v / w results were seen: the per-task k-center baseline picks the same contents
# in every task (identical GT features across the six degraded copies), which the default's
# select.cross_task avoids; cross_task was validated at 400 steps only (+0.55 dB at 0.5 %, level
# at 1 %). TripleD with cross_task=false at 0.25 / 0.5 %, seeds 0-3, same split and length:
#   run_b1600_val.sh x1 and x2 (in parallel), then reportx
case $1 in
  x1) $Q $V "${NAF[@]}" --methods tripled --set select.cross_task=false --budgets 0.0025,0.005 --seeds 0,1 ;;
  x2) $Q $V "${NAF[@]}" --methods tripled --set select.cross_task=false --budgets 0.0025,0.005 --seeds 2,3 ;;
  reportx) tripled-fast bench-quality $V "${NAF[@]}" --methods tripled --set select.cross_task=false \
             --budgets 0.0025,0.005 --seeds 0,1,2,3 --report-only ;;
esac
# added while x1 / x2 ran, before their results: the default at 0.5 % (w1 / w2 without k-center),
# the reference the x runs' 0.5 % column needs:  run_b1600_val.sh wt1 and wt2, then reportx
case $1 in
  wt1) $Q $V "${NAF[@]}" --methods tripled --budgets 0.005 --seeds 0,1 ;;
  wt2) $Q $V "${NAF[@]}" --methods tripled --budgets 0.005 --seeds 2,3 ;;
esac
# last, fixed before these runs: random at 0.25 / 0.5 %, seeds 0-3, on the same split and length,
# the "at least as good as random at every budget" check at 1600 steps:  run_b1600_val.sh r1 and
# r2 (in parallel), then reportr (random and the default at both budgets)
case $1 in
  r1) $Q $V "${NAF[@]}" --methods random --budgets 0.0025,0.005 --seeds 0,1 ;;
  r2) $Q $V "${NAF[@]}" --methods random --budgets 0.0025,0.005 --seeds 2,3 ;;
  reportr) tripled-fast bench-quality $V "${NAF[@]}" --methods random,tripled --budgets 0.0025,0.005 \
             --seeds 0,1,2,3 --report-only ;;
esac
