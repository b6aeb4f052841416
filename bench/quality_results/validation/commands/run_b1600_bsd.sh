#!/bin/bash
# 2026-12-06 (eleventh session), a diagnostic fixed before these runs, not a tuning step. At 1600
# steps k-center is above TripleD at 0.25 % on the CBSD68 test grid (+0.64 dB) but 0.62 dB below
# it on the (b) validation split (held-out Urban100 photos, the pool's own domain). One difference
# is the photos' domain (Urban100 city scenes vs BSD natural scenes). This evaluates the same
# training as the test grid (whole Urban100 pool, NAFNet width 8, 1600 steps, the same seeds and
# so the same subsets and networks) on a validation set from the test set's domain that shares
# no photo with it: the 32 B100 photos that are not in CBSD68 (make_bsd32.py; symlinks under
# runs/, nothing copied), with the same six degradations (192 pairs). CBSD68 is not evaluated.
# Phases, in this order, each later one only if the session leaves time:
#   1. random, k-center, TripleD (default) at 0.25 %, seeds 0-3:  run_b1600_bsd.sh 1a and 1b
#   2. the same at 0.5 %:                                          run_b1600_bsd.sh 2a and 2b
#   3. full data, seeds 0 and 1:                                   run_b1600_bsd.sh 3a and 3b
# then run_b1600_bsd.sh report. No default changes this session whatever it shows (a change would
# need every test grid retrained); a follow-up variant gets its own plan committed before it runs.
. "$(dirname "$0")/b_naf_env.sh"  # cd, venv, threads, DEG, NAF, Q
OUT=runs/val/allinone_naf_s1600_bsd32
VS=runs/val/bsd100_not_cbsd68
[ -d $VS ] || python bench/quality_results/validation/commands/make_bsd32.py $VS || exit 1
T="../shared/data/pool/Urban100_HR_first50 $DEG --test $VS --patch 64 --stride 64 --steps 1600 --batch 16 --out $OUT"
if [ ! -d $OUT/cache ] && [ -d runs/quality/allinone_naf_s1600/cache ] && [ "$1" = 1a ]; then
  mkdir -p $OUT && cp -al runs/quality/allinone_naf_s1600/cache $OUT/cache
fi
wait_scan() { until ls $OUT/cache/scan_*.npz >/dev/null 2>&1; do sleep 10; done; }
case $1 in
  1a) $Q $T "${NAF[@]}" --methods random,kcenter,tripled --budgets 0.0025 --seeds 0,1 ;;
  1b) wait_scan; sleep 20; $Q $T "${NAF[@]}" --methods random,kcenter,tripled --budgets 0.0025 --seeds 2,3 ;;
  2a) $Q $T "${NAF[@]}" --methods random,kcenter,tripled --budgets 0.005 --seeds 0,1 ;;
  2b) $Q $T "${NAF[@]}" --methods random,kcenter,tripled --budgets 0.005 --seeds 2,3 ;;
  3a) $Q $T "${NAF[@]}" --methods full --budgets 0.0025 --seeds 0 ;;
  3b) $Q $T "${NAF[@]}" --methods full --budgets 0.0025 --seeds 1 ;;
  report) tripled-fast bench-quality $T "${NAF[@]}" --methods full,random,kcenter,tripled \
            --budgets 0.0025,0.005 --seeds 0,1,2,3 --report-only ;;
  4a|4b|report4|5a|5b|report5|6a|6b|7a|7b|report7|8a|8b|report8|9a|9b|report9|10a|10b|report10|11a|11b|report11|12a|12b|report12) ;;
  *) echo "usage: $0 1a|1b|2a|2b|3a|3b|report|4a|4b|report4|5a|5b|report5|6a|6b|7a|7b|report7|8a|8b|report8|9a|9b|report9|10a|10b|report10|11a|11b|report11|12a|12b|report12" >&2; exit 2 ;;
esac
# Phase 4, added at 20:12 while phase 1 ran (seen: seeds 0 and 2 of all three methods, TripleD above
# k-center on both): the test grid evaluates CBSD68's first 10 photos only (--max-test-images 10,
# 60 pairs, a speed choice of the first (b) grid). Training is deterministic here (every run so
# far has the test grid run's final loss to the last digit), so k-center's lead at 0.25 % could be
# a property of those 10 photos. The same training evaluated on all 68 CBSD68 photos (408 pairs):
# random, k-center and TripleD at 0.25 %, seeds 0-3, then full data, seeds 0-1. A re-measurement
# of the test set with more of its photos, not a choice: nothing is tuned on it.
#   run_b1600_bsd.sh 4a and 4b, then report4
T4="../shared/data/pool/Urban100_HR_first50 $DEG --test ../shared/data/denoise/CBSD68 --patch 64 --stride 64 \
    --steps 1600 --batch 16 --out runs/quality/allinone_naf_s1600_cbsd68all"
if [ ! -d runs/quality/allinone_naf_s1600_cbsd68all/cache ] && [ "$1" = 4a ]; then
  mkdir -p runs/quality/allinone_naf_s1600_cbsd68all
  cp -al runs/quality/allinone_naf_s1600/cache runs/quality/allinone_naf_s1600_cbsd68all/cache
fi
case $1 in
  4a) $Q $T4 "${NAF[@]}" --methods random,kcenter,tripled --budgets 0.0025 --seeds 0,1
      $Q $T4 "${NAF[@]}" --methods full --budgets 0.0025 --seeds 0 ;;
  4b) sleep 20; $Q $T4 "${NAF[@]}" --methods random,kcenter,tripled --budgets 0.0025 --seeds 2,3
      $Q $T4 "${NAF[@]}" --methods full --budgets 0.0025 --seeds 1 ;;
  report4) tripled-fast bench-quality $T4 "${NAF[@]}" --methods full,random,kcenter,tripled --budgets 0.0025 \
             --seeds 0,1,2,3 --report-only ;;
esac
# Phase 5, added at 21:51 after phase 4's results, before any run of it: the second target's other
# cell on all 68 photos, random and TripleD at 0.5 %, seeds 0-3 (k-center left out for time).
#   run_b1600_bsd.sh 5a and 5b, then report5
case $1 in
  5a) $Q $T4 "${NAF[@]}" --methods random,tripled --budgets 0.005 --seeds 0,1 ;;
  5b) $Q $T4 "${NAF[@]}" --methods random,tripled --budgets 0.005 --seeds 2,3 ;;
  report5) tripled-fast bench-quality $T4 "${NAF[@]}" --methods full,random,kcenter,tripled --budgets 0.0025,0.005 \
             --seeds 0,1,2,3 --report-only ;;
esac
# Phase 6, added on 2026-12-06 at 22:38 (twelfth session), before any run of it: the test grid
# has 8 seeds at the two smallest budgets, the all-68 scoring 4. Seeds 4-7 of random and TripleD
# at 0.25 % and 0.5 % on all 68 CBSD68 photos, the same training (so the 10-photo grid's own
# networks), bring the all-68 row to the grid's 8 seeds. Whatever they show is reported.
# Phase 7, only if the session leaves time: k-center at 0.5 %, seeds 0-3 (left out last session).
#   run_b1600_bsd.sh 6a and 6b, then 7a and 7b, then report7
case $1 in
  6a) $Q $T4 "${NAF[@]}" --methods random,tripled --budgets 0.0025,0.005 --seeds 4,5 ;;
  6b) $Q $T4 "${NAF[@]}" --methods random,tripled --budgets 0.0025,0.005 --seeds 6,7 ;;
  7a) $Q $T4 "${NAF[@]}" --methods kcenter --budgets 0.005 --seeds 0,1 ;;
  7b) $Q $T4 "${NAF[@]}" --methods kcenter --budgets 0.005 --seeds 2,3 ;;
  report7) tripled-fast bench-quality $T4 "${NAF[@]}" --methods full,random,kcenter,tripled --budgets 0.0025,0.005 \
             --seeds 0,1,2,3,4,5,6,7 --report-only ;;
esac
# Phase 8, added on 2026-12-06 at 22:59 (twelfth session) while phase 6 ran, with 6 of its 16 runs
# seen (seeds 4 and 6: random 0.25 / 0.5 %, TripleD 0.25 %): every (b) grid scores CBSD68's first
# 10 photos. The 800-step grid's training (run_b800.sh: the same but --steps 800), its networks,
# scored on all 68 photos: full data seeds 0-1, random and TripleD at 0.25 / 0.5 %, seeds 0-3.
# A re-measurement, reported whatever it shows; nothing is tuned on it.
#   run_b1600_bsd.sh 8a and 8b, then report8
T8="../shared/data/pool/Urban100_HR_first50 $DEG --test ../shared/data/denoise/CBSD68 --patch 64 --stride 64 \
    --steps 800 --batch 16 --out runs/quality/allinone_naf_s800_cbsd68all"
if [ ! -d runs/quality/allinone_naf_s800_cbsd68all/cache ] && [ "$1" = 8a ]; then
  mkdir -p runs/quality/allinone_naf_s800_cbsd68all
  cp -al runs/quality/allinone_naf_s800/cache runs/quality/allinone_naf_s800_cbsd68all/cache
fi
case $1 in
  8a) $Q $T8 "${NAF[@]}" --methods full --budgets 0.0025 --seeds 0
      $Q $T8 "${NAF[@]}" --methods random,tripled --budgets 0.0025,0.005 --seeds 0,1 ;;
  8b) until ls runs/quality/allinone_naf_s800_cbsd68all/cache/scan_*.npz >/dev/null 2>&1; do sleep 10; done
      sleep 20; $Q $T8 "${NAF[@]}" --methods full --budgets 0.0025 --seeds 1
      $Q $T8 "${NAF[@]}" --methods random,tripled --budgets 0.0025,0.005 --seeds 2,3 ;;
  report8) tripled-fast bench-quality $T8 "${NAF[@]}" --methods full,random,tripled --budgets 0.0025,0.005 \
             --seeds 0,1,2,3 --report-only ;;
esac
# Phase 9, added on 2026-12-07 at 00:00 after phase 8's report (TripleD - random +0.68 / +0.57 dB,
# spreads 0.50 / 0.30, 4 seeds), before any run of it: seeds 4-7 of random and TripleD at 0.25 /
# 0.5 % for the 800-step scoring on all 68 photos, so that it has the grid's 8 seeds. Reported
# whatever it shows.
#   run_b1600_bsd.sh 9a and 9b, then report9
case $1 in
  9a) $Q $T8 "${NAF[@]}" --methods random,tripled --budgets 0.0025,0.005 --seeds 4,5 ;;
  9b) $Q $T8 "${NAF[@]}" --methods random,tripled --budgets 0.0025,0.005 --seeds 6,7 ;;
  report9) tripled-fast bench-quality $T8 "${NAF[@]}" --methods full,random,tripled --budgets 0.0025,0.005 \
             --seeds 0,1,2,3,4,5,6,7 --report-only ;;
esac
# 2026-12-07 (thirteenth session): the environment restart at 00:05 took runs/ with it, phase 8's
# records (not yet copied into bench/) and the 800-step grid's cache included. Phase 8 is rerun
# from scratch (training is deterministic, so it must give the numbers of its report of 00:00 to
# the digit: a check), 8b now waits for 8a's pool scan; then phase 9 as planned.
# Outcome (seen at 00:20, noted here at 02:19): the check failed. The rebuilt environment's final
# losses differ from the grid's by -12 % to +8 % (full data by 0.1 % or less), so phases 8-9 are
# re-trained networks; QUALITY.md reports them as such, beside the lost first run's numbers.
# Phase 10, added on 2026-12-07 at 01:40 (thirteenth session) after phase 9's report, before any
# run of it: the rebuilt environment moved phase 8's 4-seed margin at 0.25 % by 0.26 dB, about
# the headroom of the one row that meets the second target (1600 steps, all 68 photos: +0.72,
# spread 0.48 at 0.25 %), which are the grid's networks in the old environment. So that row's
# 0.25 % cell is re-trained here: random and TripleD at 0.25 %, seeds 0-3, 1600 steps, all 68
# photos, into a new folder (the pool scan is this environment's, phase 8's). 0.5 % is left out
# for time. Reported whatever it shows, beside the recorded row; nothing is tuned on it.
#   run_b1600_bsd.sh 10a and 10b, then report10
T10="../shared/data/pool/Urban100_HR_first50 $DEG --test ../shared/data/denoise/CBSD68 --patch 64 --stride 64 \
    --steps 1600 --batch 16 --out runs/quality/allinone_naf_s1600_cbsd68all_rebuild"
if [ ! -d runs/quality/allinone_naf_s1600_cbsd68all_rebuild/cache ] && [ "$1" = 10a ]; then
  mkdir -p runs/quality/allinone_naf_s1600_cbsd68all_rebuild
  cp -al runs/quality/allinone_naf_s800_cbsd68all/cache runs/quality/allinone_naf_s1600_cbsd68all_rebuild/cache
fi
case $1 in
  10a) $Q $T10 "${NAF[@]}" --methods random,tripled --budgets 0.0025 --seeds 0
       $Q $T10 "${NAF[@]}" --methods random,tripled --budgets 0.0025 --seeds 2 ;;
  10b) sleep 20; $Q $T10 "${NAF[@]}" --methods random,tripled --budgets 0.0025 --seeds 1
       $Q $T10 "${NAF[@]}" --methods random,tripled --budgets 0.0025 --seeds 3 ;;
  report10) tripled-fast bench-quality $T10 "${NAF[@]}" --methods random,tripled --budgets 0.0025 \
              --seeds 0,1,2,3 --report-only ;;
esac
# Phase 11, added on 2026-12-07 at 02:50 (fourteenth session), before any run of it: the rest of
# the phase-10 rebuild, so that the one row that met the second target is re-trained whole in this
# environment for seeds 0-3: random and TripleD at 0.5 %, seeds 0-3, and full data, seeds 0 and 1
# (the recorded row has 2 full-data seeds), into phase 10's folder. Reported whatever it shows,
# beside the recorded row; nothing is tuned on it. Two processes:
#   run_b1600_bsd.sh 11a and 11b, then report11
case $1 in
  11a) $Q $T10 "${NAF[@]}" --methods random,tripled --budgets 0.005 --seeds 0
       $Q $T10 "${NAF[@]}" --methods random,tripled --budgets 0.005 --seeds 2
       $Q $T10 "${NAF[@]}" --methods full --budgets 0.0025 --seeds 0 ;;
  11b) $Q $T10 "${NAF[@]}" --methods random,tripled --budgets 0.005 --seeds 1
       $Q $T10 "${NAF[@]}" --methods random,tripled --budgets 0.005 --seeds 3
       $Q $T10 "${NAF[@]}" --methods full --budgets 0.0025 --seeds 1 ;;
  report11) tripled-fast bench-quality $T10 "${NAF[@]}" --methods full,random,tripled --budgets 0.0025,0.005 \
              --seeds 0,1,2,3 --report-only ;;
esac
# Phase 12, added on 2026-12-07 at 02:35 (fourteenth session) while phase 11 ran, before any of its
# results were seen: seeds 4-7 of random and TripleD at 0.25 and 0.5 %, so the re-trained row has
# the recorded row's 8 seeds at both budgets (the design the row was judged on) and its verdict in
# this environment does not rest on 4 seeds. Run after phase 11 whatever phase 11 shows; reported
# whatever it shows (report12), beside the recorded row. Two processes:
#   run_b1600_bsd.sh 12a and 12b, then report12
case $1 in
  12a) $Q $T10 "${NAF[@]}" --methods random,tripled --budgets 0.0025,0.005 --seeds 4
       $Q $T10 "${NAF[@]}" --methods random,tripled --budgets 0.0025,0.005 --seeds 6 ;;
  12b) $Q $T10 "${NAF[@]}" --methods random,tripled --budgets 0.0025,0.005 --seeds 5
       $Q $T10 "${NAF[@]}" --methods random,tripled --budgets 0.0025,0.005 --seeds 7 ;;
  report12) tripled-fast bench-quality $T10 "${NAF[@]}" --methods full,random,tripled --budgets 0.0025,0.005 \
              --seeds 0,1,2,3,4,5,6,7 --report-only ;;
esac
# Outcome of phases 11-12 (noted on 2026-12-07 at 04:45): over 8 seeds the re-trained row reads
# TripleD - random +0.55 dB at 0.25 % (spread 0.58, inside) and +0.56 at 0.5 % (spread 0.40,
# beyond); full data 22.89 (2 seeds); equal-quality budgets 0.25 % vs 0.5 %. QUALITY.md has it.
