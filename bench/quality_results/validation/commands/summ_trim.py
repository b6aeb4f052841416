"""Tables of the validation experiments in bench/QUALITY.md (coverage_trim, image_cap, the (d) folds, the feature side): PSNR on `holdout` per variant.

usage: python summ_trim.py sr4|dn|sr4_long|dn_long|rsr_f0|rsr_f3|b (also the image_cap rows)|rsr_folds|fsize   (run from the repository root)
rsr_folds: the current default (image_cap) against random on all four (d) folds, and their mean.
fsize: the feature input side 224 against the default 64 (run_fsize.sh).
A variant's cells are the records of its folders; a cell measured twice must agree to 1e-6 dB.
"""
import glob
import json
import statistics as st
import sys

V = "bench/quality_results/validation/"
SOURCES = {  # label -> (folders, method); committed folders, or runs/val for this session's runs
    "sr4": {"random": ([V + "sr4_v025", V + "sr4_default"], "random"),
            "kcenter": ([V + "sr4_v025", V + "sr4_default"], "kcenter"),
            "TripleD default (trim 0)": ([V + "sr4_v025_cw01", V + "sr4_cl1_cw01", V + "sr4_default_s47"], "tripled"),
            "TripleD trim 0.1": ([V + "sr4_trim01"], "tripled"),
            "TripleD trim 0.3": ([V + "sr4_trim03"], "tripled"),
            "TripleD trim 0.5": ([V + "sr4_trim05"], "tripled"),
            "TripleD image_cap": ([V + "sr4_cap"], "tripled")},
    "dn": {"random": ([V + "dn_default", V + "dn_x"], "random"),
           "kcenter": ([V + "dn_default"], "kcenter"),
           "TripleD default (trim 0)": ([V + "dn_cl1_cw01", V + "dn_trim0"], "tripled"),
           "TripleD trim 0.1": ([V + "dn_trim01"], "tripled"),
           "TripleD trim 0.3": ([V + "dn_trim03"], "tripled"),
           "TripleD trim 0.5": ([V + "dn_trim05"], "tripled"),
           "TripleD image_cap": ([V + "dn_cap"], "tripled")},
    # longer training (commands/run_vlong.sh): kcenter is the TripleD selection with cw 0
    "sr4_long": {"random": ([V + "sr4_s1600"], "random"), "kcenter (= TripleD cw 0)": ([V + "sr4_s1600"], "kcenter"),
                 "TripleD default (cw 0.1)": ([V + "sr4_s1600"], "tripled")},
    "dn_long": {"random": ([V + "dn_s3200"], "random"), "kcenter (= TripleD cw 0)": ([V + "dn_s3200"], "kcenter"),
                "TripleD default (cw 0.1)": ([V + "dn_s3200"], "tripled")},
    # (b) NAFNet validation split: the default and random (run_b_naf.sh, run_b_cap.sh base) and the cap
    "b": {"random": ([V + "allinone_naf"], "random"), "TripleD, cap off (the default before 2026-12-06)": ([V + "allinone_naf"], "tripled"),
          "TripleD image_cap, scope pool (per clean photo across tasks)": ([V + "allinone_naf_cap"], "tripled"),
          "TripleD image_cap (per degraded copy, first version)": ([V + "allinone_naf_cap_pairs"], "tripled"),
          "TripleD image_cap, scope task (per clean photo within each task)": ([V + "allinone_naf_capt"], "tripled")},
    # (d) real SR validation folds (commands/run_dval.sh): f0 holds out cam1_02, f3 cam2_09
    **{f"rsr_f{k}": {"random": ([V + f"rsr_f{k}"], "random"), "kcenter (= TripleD cw 0)": ([V + f"rsr_f{k}"], "kcenter"),
                     "TripleD default (cw 0.1)": ([V + f"rsr_f{k}"], "tripled"),
                     "kcenter, features.on=lq": ([V + f"rsr_f{k}_lq"], "kcenter"),
                     "TripleD, features.on=lq": ([V + f"rsr_f{k}_lq"], "tripled"),
                     "kmeans": ([V + f"rsr_f{k}_cq"], "kmeans"),
                     "TripleD, quotas=clusters": ([V + f"rsr_f{k}_cq"], "tripled"),
                     "TripleD, image_cap": ([V + f"rsr_f{k}_cap"], "tripled")} for k in (0, 3)},
}


def load(folders, method):
    """{budget: {seed: holdout PSNR}} of ``method`` over the records of ``folders``."""
    out = {}
    for d in folders:  # this session's folders may still be under runs/val (copied here when done)
        files = set(glob.glob(d + "/runs/*.json")) | set(glob.glob(d.replace(V, "runs/val/") + "/runs/*.json"))
        for f in sorted(files):
            r = json.load(open(f))
            if r["method"] != method:
                continue
            cell = out.setdefault(r["budget"], {})
            p = r["tests"]["holdout"]["psnr"]
            if r["seed"] in cell:
                assert abs(cell[r["seed"]] - p) < 1e-6, (method, r["budget"], r["seed"], d)
            cell[r["seed"]] = p
    return out


def folds_table():
    """(d): each leave-one-photo-out fold (run_dval.sh, run_dval_folds.sh) and the four-fold mean."""
    held = {0: "cam1_02", 1: "cam1_09", 2: "cam1_01", 3: "cam2_09"}
    # f0 / f3: random in rsr_f{k}, the default's selection (image_cap) in rsr_f{k}_cap; f1 / f2 ran
    # after the cap became the default, so both methods are in rsr_f{k}
    tri = {k: load([V + f"rsr_f{k}_cap"] if k in (0, 3) else [V + f"rsr_f{k}"], "tripled") for k in held}
    rnd = {k: load([V + f"rsr_f{k}"], "random") for k in held}
    budgets = sorted(tri[0])
    print("| fold (held out) | " + " | ".join(f"random {b * 100:g} % | TripleD {b * 100:g} %" for b in budgets) + " |")
    print("|---|" + "---|---|" * len(budgets))
    diffs = {b: [] for b in budgets}
    means = {b: ([], []) for b in budgets}
    for k, photo in held.items():
        cells = []
        for b in budgets:
            r, t = list(rnd[k][b].values()), list(tri[k][b].values())
            d = st.mean(t) - st.mean(r)
            diffs[b].append(d)
            means[b][0].append(st.mean(r))
            means[b][1].append(st.mean(t))
            cells.append(f"{st.mean(r):.3f} +- {st.stdev(r):.3f} ({len(r)})")
            cells.append(f"{st.mean(t):.3f} +- {st.stdev(t):.3f} ({len(t)}) [{d:+.3f}]")
        print(f"| f{k} ({photo}) | " + " | ".join(cells) + " |")
    cells = []
    for b in budgets:
        cells.append(f"**{st.mean(means[b][0]):.3f}**")
        cells.append(f"**{st.mean(means[b][1]):.3f}** [{st.mean(diffs[b]):+.3f}; folds {min(diffs[b]):+.3f} to {max(diffs[b]):+.3f}]")
    print("| mean of the four folds | " + " | ".join(cells) + " |")


def fsize_table():
    """features.input_size=null (224) against the default (64) on the seeds run_fsize.sh ran."""
    splits = {  # label -> (default's folders, input_size=null folder, random's folders)
        **{f"(d) f{k}": ([V + (f"rsr_f{k}_cap" if k in (0, 3) else f"rsr_f{k}")], V + f"rsr_f{k}_fs224",
                         [V + f"rsr_f{k}"]) for k in range(4)},
        "(c) BSD100": ([V + "sr4_cap"], V + "sr4_fs224", [V + "sr4_v025", V + "sr4_default"]),
        "(a) Train400": ([V + "dn_cap"], V + "dn_fs224", [V + "dn_default", V + "dn_x"]),
    }
    print("| split | budget | random (its seeds) | TripleD, 64 px (default) | TripleD, 224 px | 224 - 64 (seeds) |")
    print("|---|---|---|---|---|---|")

    def cell(v):
        return f"{st.mean(v):.3f}" + (f" +- {st.stdev(v):.3f}" if len(v) > 1 else "")

    for label, (default, big, rand) in splits.items():
        d, b, r = load(default, "tripled"), load([big], "tripled"), load(rand, "random")
        for budget in sorted(b):
            seeds = sorted(k for k in b[budget] if k in d.get(budget, {}))  # the two TripleD rows: same seeds
            rnd = list(r.get(budget, {}).values())
            if not seeds or not rnd:
                continue
            dv, bv = [d[budget][k] for k in seeds], [b[budget][k] for k in seeds]
            print(f"| {label} | {budget * 100:g} % | {cell(rnd)} ({len(rnd)}) | {cell(dv)} | {cell(bv)} | "
                  f"{st.mean(bv) - st.mean(dv):+.3f} ({len(seeds)}) |")


if sys.argv[1] == "rsr_folds":
    folds_table()
    sys.exit()
if sys.argv[1] == "fsize":
    fsize_table()
    sys.exit()
rows = {label: load(folders, method) for label, (folders, method) in SOURCES[sys.argv[1]].items()}
rows = {label: cells for label, cells in rows.items() if cells}
budgets = sorted({b for v in rows.values() for b in v})
print("| subset | " + " | ".join(f"{b * 100:g} %" for b in budgets) + " |")
print("|---|" + "---|" * len(budgets))
for label in SOURCES[sys.argv[1]]:
    if label not in rows:
        continue
    cells = []
    for b in budgets:
        s = rows[label].get(b, {})
        ps = [s[k] for k in sorted(s)]
        if not ps:
            cells.append("not run")
            continue
        sd = f" +- {st.stdev(ps):.3f}" if len(ps) > 1 else ""
        diff = ""
        rnd = rows.get("random", {}).get(b, {})
        if label != "random" and rnd:
            diff = f" [{st.mean(ps) - st.mean(rnd.values()):+.3f}]"
        cells.append(f"**{st.mean(ps):.3f}**{sd} ({len(ps)} seeds){diff}")
    print(f"| {label} | " + " | ".join(cells) + " |")
