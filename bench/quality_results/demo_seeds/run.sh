#!/bin/bash
# 2026-12-06 (seventh session): README's first command (the embedded demo) at seeds 0-3, in the
# development venv with its default 2 threads, one run after another. --seed also redraws the
# degradations of the pool and the test pairs, so every seed is a new draw of data, random
# subset and training. Seed 0 is README's command and gave the fresh clone's numbers to the
# last digit. Kept per seed: eval.json, summary.json, config.yaml, report.md (the models, packs
# and caches are not committed). Table: python bench/quality_results/demo_seeds/summary.py
cd /work/main && . /root/venv/bin/activate
for s in 0 1 2 3; do tripled-fast run --seed $s --run-dir runs/demo_s$s --quiet > runs/demo_s$s.log 2>&1; done
