#!/bin/bash
# 2026-12-06 (ninth session): re-synthesised alignment on (b)'s validation split (the all-in-one
# pool, six degradations: the pool where patch-level re-degradation differs most from the photo-level
# LQ), the split, model and cells of run_b_capt.sh (--holdout 0.2, NAFNet width 8, 400 steps, 0.5 /
# 1 %, seeds 0-3; its records are the default's). Fixed before any run: tripled-nocurr (selection +
# alignment, plain training) with align.lq=resynth first, then with align.lq=transform if the session
# leaves time. One folder per variant, the scan of runs/val/allinone_naf_capt shared.
# usage: run_b_align_lq.sh rs|tf, then run_b_align_lq.sh report
. "$(dirname "$0")/b_naf_env.sh"  # cd, venv, threads, DEG, NAF, Q
V="../shared/data/pool/Urban100_HR_first50 $DEG --holdout 0.2 --patch 64 --stride 64 --budgets 0.005,0.01 --seeds 0,1,2,3 --steps 400 --batch 16"
for d in rs tf; do mkdir -p runs/val/allinone_naf_al$d; ln -sfn ../allinone_naf_capt/cache runs/val/allinone_naf_al$d/cache; done
case $1 in
  rs|tf) lq=$([ $1 = rs ] && echo resynth || echo transform)
         $Q $V "${NAF[@]}" --methods tripled-nocurr --set align.lq=$lq \
           --out runs/val/allinone_naf_al$1 $2 ;;
  report) $0 rs --report-only | grep -A4 "^\*\*holdout\*\* "; $0 tf --report-only | grep -A4 "^\*\*holdout\*\* " ;;
  *) echo "usage: $0 rs|tf|report" >&2; exit 2 ;;
esac
