#!/bin/bash
# 2026-12-07 (fifteenth session): a first look at select.quotas=strata (each task's quota split
# over 4 equal-count complexity quantiles, coverage within each; new this session, off by
# default), the option the complexity-skew diagnostic of the larger (a) network pointed to. Same
# split, network and length as run_a_wide_val.sh (its random and default runs are the
# reference, paired by seed): TripleD with --set select.quotas=strata at 0.1 / 0.25 %, seeds 0-3.
# An exploration on one validation split, planned before its runs: no default changes this
# session whatever it shows (adoption would need the four validation splits). Starts after
# run_a_wide_val.sh, only if it can start by 07:15 UTC.
# usage: run_a_wide_strata.sh a|b|report   (two processes, 1 thread each)
cd /work/main && . /root/venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
A=(../shared/data/denoise/Train400 --degrade noise:sigma=25 --holdout 0.1 --steps 1600
   --out runs/val/dn_w32d10_strata --set 'train.arch_kwargs={depth: 10, width: 32, bn: false}'
   --set select.quotas=strata --methods tripled --budgets 0.001,0.0025)
case $1 in
  a) nice -n 10 tripled-fast bench-quality "${A[@]}" --seeds 0,1 ;;
  b) sleep 100; nice -n 10 tripled-fast bench-quality "${A[@]}" --seeds 2,3 ;;
  report) tripled-fast bench-quality "${A[@]}" --seeds 0,1,2,3 --report-only ;;
esac
