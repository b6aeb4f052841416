"""SLKD losses, gradient routing, the training loop and the teacher cache."""
from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from tripled_fast.config import ConfigError, KDConfig
from tripled_fast.kd.autoencoder import clean_autoencoder_copy, sample_crops, train_clean_autoencoder
from tripled_fast.kd.slkd import (
    FeatureAdapter,
    LayerMap,
    SLKDLoss,
    as_patch_pool,
    build_extractor,
    distill_model,
    forward_with_taps,
    precompute_teachers,
    train_student_alone,
)
from tripled_fast.kd.students import default_taps, make_student
from tripled_fast.train.archs import build_model


class Moments(nn.Module):
    """A cheap differentiable single-channel statistic (mean, std, 4x4-pooled means) for loop tests."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.mean((2, 3)), x.std((2, 3)), nn.functional.avg_pool2d(x, 4).flatten(1)], 1)


def _plain_cfg(**kw) -> KDConfig:
    """A KDConfig without the default schedule and safeguards (no warm-up / ramp, no gradient
    cap, no output term, unnormalised statistics) unless ``kw`` sets them: the loop tests
    check the terms from the first step."""
    base = {"w_output": 0.0, "stat_norm": "none", "stat_floor": 0.01, "kd_warmup": 0, "kd_ramp": 0, "kd_clip": None}
    return KDConfig(**{**base, **kw})


def _teacher(seed: int = 0) -> nn.Module:
    return build_model("dncnn", in_ch=1, out_ch=1, depth=6, width=8, bn=False, seed=seed).eval()


def _real_patches(shared_data, n: int = 8, size: int = 24) -> np.ndarray:
    from tripled_fast.data.decode import decode_image

    img = decode_image(shared_data / "denoise/Set12/02.png", color="gray")
    ys = (np.arange(n) * 37) % 200 + 20
    xs = (np.arange(n) * 53) % 200 + 20
    return np.stack([img[y : y + size, x : x + size] for y, x in zip(ys, xs)])


def _loss_for(teacher: nn.Module, student: nn.Module, **weights: float) -> tuple[SLKDLoss, LayerMap]:
    t, s = default_taps(teacher), default_taps(student)
    lm = LayerMap(encoder=tuple(zip(t.encoder, s.encoder)), decoder=tuple(zip(t.decoder, s.decoder)))

    def ch(m: nn.Module, name: str) -> int:
        return forward_with_taps(m, torch.zeros(1, 1, 16, 16), [name], need_output=False)[1][name].shape[1]

    enc = [(ch(teacher, a), ch(student, b)) for a, b in lm.encoder]
    dec = [(ch(teacher, a), ch(student, b)) for a, b in lm.decoder]
    loss = SLKDLoss(lm, enc, dec, drl_extractor=build_extractor("brisque"), irl_extractor=build_extractor("piqe"), **weights)
    return loss, lm


def _terms(loss: SLKDLoss, lm: LayerMap, student, teacher_a, teacher_b, lq, gt):
    out_s, fs = forward_with_taps(student, lq, [s for _, s in lm.encoder + lm.decoder])
    with torch.no_grad():
        out_a, fa = forward_with_taps(teacher_a, lq, [t for t, _ in lm.encoder])
        _, fb = forward_with_taps(teacher_b, gt, [t for t, _ in lm.decoder])
    return loss(out_s=out_s, gt=gt, feats_s=fs, feats_a=fa, feats_b=fb, out_a=out_a)


def test_feature_adapter_identity_init() -> None:
    x = torch.randn(2, 5, 6, 6)
    assert torch.equal(FeatureAdapter(5, 5)(x), x)
    assert FeatureAdapter(5, 7)(x).shape == (2, 7, 6, 6)


def test_each_term_is_zero_when_student_equals_teacher_and_positive_otherwise(shared_data) -> None:
    teacher = _teacher()
    x = torch.from_numpy(_real_patches(shared_data, n=2)).permute(0, 3, 1, 2).float() / 255.0
    student = copy.deepcopy(teacher)
    loss, lm = _loss_for(teacher, student, w_pixel=1.0, w_drl=1.0, w_irl=1.0, w_output=1.0)
    # student == Teacher A == Teacher B, LQ == GT: all distillation terms vanish
    terms = {k: v.detach() for k, v in _terms(loss, lm, student, teacher, copy.deepcopy(teacher), x, x).items()}
    assert float(terms["drl"]) == pytest.approx(0.0, abs=1e-6)
    assert float(terms["irl"]) == pytest.approx(0.0, abs=1e-6)
    assert float(terms["output"]) == pytest.approx(0.0, abs=1e-7)
    # the pixel term is zero when GT equals the student's output
    out = student(x).detach()
    assert float(loss(out_s=student(x).detach(), gt=out, feats_s=forward_with_taps(student, x, [s for _, s in lm.encoder + lm.decoder])[1],
                      feats_a=forward_with_taps(teacher, x, [t for t, _ in lm.encoder])[1],
                      feats_b=forward_with_taps(teacher, x, [t for t, _ in lm.decoder])[1], out_a=out)["pixel"]) == 0.0
    # perturbed student: every term becomes positive
    torch.manual_seed(0)
    with torch.no_grad():
        for p in student.parameters():
            p.add_(0.05 * torch.randn_like(p))
    terms = {k: v.detach() for k, v in _terms(loss, lm, student, teacher, copy.deepcopy(teacher), x, x).items()}
    for k in ("pixel", "drl", "irl", "output"):
        assert float(terms[k]) > 1e-4, k
    assert float(terms["total"]) == pytest.approx(sum(float(terms[k]) for k in ("pixel", "drl", "irl", "output")), rel=1e-6)


def test_gradients_reach_student_and_adapters_only(shared_data) -> None:
    teacher = _teacher()
    for p in teacher.parameters():
        p.requires_grad_(False)
    student, _ = make_student("dncnn", {"depth": 6, "width": 8, "bn": False}, in_ch=1, max_ratio=None, seed=1)
    loss, lm = _loss_for(teacher, student, w_drl=1.0, w_irl=1.0, w_output=1.0)
    x = torch.from_numpy(_real_patches(shared_data, n=2)).permute(0, 3, 1, 2).float() / 255.0
    teacher_b = copy.deepcopy(teacher)
    terms = _terms(loss, lm, student, teacher, teacher_b, x, x)
    terms["total"].backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert all(p.grad is None for p in teacher_b.parameters())
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in student.parameters())
    # 4-channel student taps are mapped onto 8 teacher channels by trainable 1x1 adapters
    assert loss.enc_adapters[0].conv.weight.shape == (8, 4, 1, 1)
    assert all(float(p.grad.abs().sum()) > 0 for p in loss.adapter_parameters())


def test_short_kd_run_lowers_the_combined_loss(shared_data) -> None:
    gt = _real_patches(shared_data, n=16, size=24)
    teacher = _teacher()
    student, _ = make_student("dncnn", {"depth": 6, "width": 8, "bn": False}, in_ch=1, max_ratio=None, seed=0)
    cfg = _plain_cfg(steps=24, batch_size=4, patch=16, lr=3e-3, min_lr=1e-4, w_drl=0.5, w_irl=0.5, w_output=1.0,
                   degrade="noise:sigma=25", ae_steps=5, log_every=8)
    before = copy.deepcopy(student.state_dict())
    res = distill_model(teacher, None, student, gt, cfg, seed=0, drl_extractor=Moments(), irl_extractor=Moments())
    assert len(res.losses) == 24 and [r["step"] for r in res.history] == [8.0, 16.0, 24.0]
    assert np.mean(res.losses[-6:]) < 0.8 * np.mean(res.losses[:6])
    assert res.history[-1]["drl"] > 0 and res.history[-1]["irl"] > 0 and res.history[-1]["output"] > 0
    assert any(not torch.equal(before[k], v) for k, v in student.state_dict().items())
    # Teacher B was trained (5 steps), is frozen and has no global skip
    assert res.teacher_b is not None and res.teacher_b.residual is False
    assert all(not p.requires_grad for p in res.teacher_b.parameters())
    # the data stream depends only on the seed: KD and the pixel-only baseline see the same
    # first batch, so equal students give equal first-step pixel losses
    one = dataclasses.replace(cfg, steps=1, log_every=1)
    s1, _ = make_student("dncnn", {"depth": 6, "width": 8, "bn": False}, in_ch=1, max_ratio=None, seed=0)
    s2, _ = make_student("dncnn", {"depth": 6, "width": 8, "bn": False}, in_ch=1, max_ratio=None, seed=0)
    kd = distill_model(teacher, res.teacher_b, s1, gt, one, seed=0, drl_extractor=Moments(), irl_extractor=Moments())
    base = train_student_alone(s2, gt, one, seed=0)
    assert kd.history[0]["pixel"] == base.history[0]["pixel"]
    assert base.history[0]["drl"] == 0.0 and kd.history[0]["drl"] > 0


def test_teacher_cache_equals_on_the_fly_targets(shared_data) -> None:
    gt = _real_patches(shared_data, n=6, size=16)
    rng = np.random.default_rng(0)
    from tripled_fast.data.degrade import apply_degradation

    lq = np.stack([apply_degradation(g, "noise:sigma=25", rng) for g in gt])
    teacher = _teacher()
    teacher_b = clean_autoencoder_copy(teacher)
    cfg = _plain_cfg(steps=3, batch_size=2, patch=16, w_drl=1.0, w_irl=1.0, w_output=1.0, match_channels=3)
    student, _ = make_student("dncnn", {"depth": 6, "width": 8, "bn": False}, in_ch=1, max_ratio=None, seed=0)
    cache = precompute_teachers(teacher, teacher_b, student, (lq, gt), cfg, drl_extractor=Moments(), irl_extractor=Moments())
    assert [e.shape for e in cache.enc] == [(6, 3, 2 + 16)]  # 3 of 8 channels kept, 18 statistics each
    x = torch.from_numpy(lq[4:5]).permute(0, 3, 1, 2).float() / 255.0
    with torch.no_grad():
        out_a, fa = forward_with_taps(teacher, x, ["body.5"])
    keep = [0, 4, 7]  # evenly spaced over 8 channels
    assert torch.allclose(cache.enc[0][4], Moments()(fa["body.5"][0, keep][:, None]), atol=1e-6)
    assert torch.allclose(cache.out_a[4], out_a[0], atol=1e-6)
    # distilling from the cache runs without the teachers and without crop / augmentation
    res = distill_model(None, None, student, (lq, gt), cfg, cache=cache, drl_extractor=Moments(), irl_extractor=Moments())
    assert len(res.losses) == 3 and all(np.isfinite(res.losses))
    with pytest.raises(ValueError, match="fixed LQ"):
        precompute_teachers(teacher, teacher_b, student, gt, dataclasses.replace(cfg, degrade="noise:sigma=25"))


def test_clean_autoencoder_learns_to_reconstruct(shared_data) -> None:
    gt = _real_patches(shared_data, n=8, size=24)
    res = train_clean_autoencoder(_teacher(), gt, steps=30, batch_size=4, patch=16, lr=3e-3, init="random", seed=0)
    assert np.mean(res.losses[-5:]) < 0.5 * np.mean(res.losses[:5])
    with pytest.raises(ValueError, match="ae_init"):
        clean_autoencoder_copy(_teacher(), init="zeros")


def test_sample_crops_is_seeded_and_aligned() -> None:
    rng = np.random.default_rng(3)
    lq = rng.integers(0, 256, (4, 6, 6, 1), dtype=np.uint8)
    gt = np.repeat(np.repeat(lq, 2, axis=1), 2, axis=2)  # nearest x2 upsampling of the LQ
    g1, l1 = sample_crops(np.random.default_rng(7), gt, lq, 5, 8, scale=2)
    g2, l2 = sample_crops(np.random.default_rng(7), gt, lq, 5, 8, scale=2)
    assert np.array_equal(g1, g2) and np.array_equal(l1, l2)
    # crops start on even GT pixels and share the flip / rotation, so GT stays the x2 LQ
    assert np.array_equal(np.repeat(np.repeat(l1, 2, axis=1), 2, axis=2), g1)
    assert len({g.tobytes() for g in g1}) > 1


def test_config_and_input_validation() -> None:
    cfg = KDConfig.from_dict({"encoder_pairs": [["body.15", "body.7"]], "w_drl": 0.2})
    assert cfg.encoder_pairs == [["body.15", "body.7"]]
    with pytest.raises(ConfigError, match="w_drl"):
        KDConfig.from_dict({"w_drl": "high"})
    with pytest.raises(ValueError, match="degrade is empty"):
        train_student_alone(_teacher(), np.zeros((2, 16, 16, 1), np.uint8), KDConfig(steps=1, patch=16))
    with pytest.raises(ValueError, match="train_pairs"):
        as_patch_pool("not data")
    with pytest.raises(ValueError, match="teacher_a is required"):
        distill_model(None, None, _teacher(), np.zeros((2, 16, 16, 1), np.uint8), KDConfig(steps=1, patch=16, degrade="noise"))


def test_run_kd_end_to_end(tmp_path, shared_data) -> None:
    from safetensors.torch import load_file, save_file

    from tripled_fast.config import SourceConfig
    from tripled_fast.kd.slkd import run_kd

    teacher = _teacher(seed=3)
    save_file({k: v.contiguous() for k, v in teacher.state_dict().items()}, str(tmp_path / "t.safetensors"))
    src = SourceConfig(kind="degrade", gt=str(shared_data / "denoise/Set12"), degrade="noise:sigma=25", max_images=2)
    # the default objective (output term, dataset-normalised statistics, kd_clip), with the
    # warm-up and ramp shortened so the KD terms are on within 4 steps
    cfg = KDConfig(
        teacher_weights=str(tmp_path / "t.safetensors"), teacher_kwargs={"depth": 6, "width": 8, "bn": False},
        max_ratio=None, steps=4, kd_warmup=1, kd_ramp=2, batch_size=2, patch=32, ae_steps=2, train=[src],
        test=[dataclasses.replace(src, max_images=1)], out_dir=str(tmp_path / "kd"), device="cpu",
    )
    report = run_kd(cfg)
    assert report["student_kwargs"]["width"] == 4 and report["train_patches"] == 2 * (256 // 32) ** 2
    assert set(report["models"]) == {"teacher", "student", "baseline"}
    assert report["models"]["student"]["params"] < report["models"]["teacher"]["params"]
    assert 5.0 < report["models"]["student"]["psnr"] < 60.0
    saved = load_file(str(tmp_path / "kd" / "student.safetensors"))
    assert saved["body.0.weight"].shape == (4, 1, 3, 3)
    assert (tmp_path / "kd" / "teacher_b.safetensors").is_file()
    last = report["history"]["student"][-1]
    assert last["drl"] > 0 and last["irl"] > 0 and last["output"] > 0 and 0.0 <= last["kd_clipped"] <= 1.0


def test_teacher_spread_is_the_per_dimension_std_with_a_floor() -> None:
    from tripled_fast.kd.slkd import teacher_spread

    t = torch.tensor([[[0.0, 10.0, 5.0], [2.0, 30.0, 5.0]], [[4.0, 50.0, 5.0], [6.0, 70.0, 5.0]]])  # (N=2, C=2, D=3)
    s = teacher_spread(t)
    std0, std1 = float(np.std([0, 2, 4, 6])), float(np.std([10, 30, 50, 70]))
    assert torch.allclose(s[:2], torch.tensor([std0, std1]))
    # the constant dimension is floored at 1 % of the mean spread
    assert float(s[2]) == pytest.approx(0.01 * (std0 + std1) / 3)


class _Scaled(nn.Module):
    """Moments with one statistic multiplied by a constant (a badly scaled dimension)."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = Moments()(x)
        return torch.cat([m[:, :1] * self.factor, m[:, 1:]], 1)


def test_teacher_normalised_statistics_ignore_the_scale_of_a_dimension(shared_data) -> None:
    teacher = _teacher()
    student, _ = make_student("dncnn", {"depth": 6, "width": 8, "bn": False}, in_ch=1, max_ratio=None, seed=1)
    x = torch.from_numpy(_real_patches(shared_data, n=4)).permute(0, 3, 1, 2).float() / 255.0
    t, s = default_taps(teacher), default_taps(student)
    lm = LayerMap(encoder=tuple(zip(t.encoder, s.encoder)), decoder=tuple(zip(t.decoder, s.decoder)))
    enc, dec = [(8, 4)], [(8, 4)]

    def drl(factor: float, norm: str) -> float:
        loss = SLKDLoss(lm, enc, dec, w_drl=1.0, w_irl=0.0, stat_norm=norm, drl_extractor=_Scaled(factor))
        return float(_terms(loss, lm, student, teacher, teacher, x, x)["drl"].detach())

    assert drl(1000.0, "teacher") == pytest.approx(drl(1.0, "teacher"), rel=1e-4)
    assert drl(1000.0, "none") > 10 * drl(1.0, "none")
    with pytest.raises(ValueError, match="stat_norm"):
        SLKDLoss(lm, enc, dec, w_drl=1.0, w_irl=0.0, stat_norm="zscore", drl_extractor=Moments())


def test_kd_warmup_and_ramp(shared_data) -> None:
    from tripled_fast.kd.slkd import kd_schedule

    cfg = KDConfig(kd_warmup=2, kd_ramp=4)
    assert [kd_schedule(s, cfg) for s in range(1, 8)] == [0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    assert kd_schedule(1, _plain_cfg()) == 1.0
    assert kd_schedule(100, KDConfig()) == 0.0 and kd_schedule(200, KDConfig()) == 0.5  # defaults: 100 + 200
    # during the warm-up SLKD is exactly the pixel-only baseline (same batches, no KD gradient)
    gt = _real_patches(shared_data, n=8, size=24)
    teacher = _teacher()
    run = _plain_cfg(steps=5, batch_size=2, patch=16, w_drl=1.0, w_irl=1.0, w_output=1.0, kd_warmup=5,
                   degrade="noise:sigma=25", log_every=5)
    s1, _ = make_student("dncnn", {"depth": 6, "width": 8, "bn": False}, in_ch=1, max_ratio=None, seed=0)
    s2, _ = make_student("dncnn", {"depth": 6, "width": 8, "bn": False}, in_ch=1, max_ratio=None, seed=0)
    kd = distill_model(teacher, clean_autoencoder_copy(teacher), s1, gt, run, seed=0,
                       drl_extractor=Moments(), irl_extractor=Moments())
    base = train_student_alone(s2, gt, run, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(kd.student.state_dict().values(), base.student.state_dict().values()))
    assert kd.history[0]["drl"] == 0.0 and kd.history[0]["output"] == 0.0
    with pytest.raises(ValueError, match="kd_warmup"):
        distill_model(teacher, None, s1, gt, dataclasses.replace(run, kd_warmup=-1))


def test_adapter_fit_trains_only_the_adapters_during_the_warmup(shared_data) -> None:
    gt = _real_patches(shared_data, n=8, size=24)
    teacher = _teacher()
    cfg = _plain_cfg(steps=3, batch_size=2, patch=16, w_drl=1.0, w_irl=1.0, w_output=1.0, kd_warmup=3, adapter_fit=2,
                   degrade="noise:sigma=25", ae_steps=2, log_every=1)
    s1, _ = make_student("dncnn", {"depth": 6, "width": 8, "bn": False}, in_ch=1, max_ratio=None, seed=0)
    s2 = copy.deepcopy(s1)
    kd = distill_model(teacher, None, s1, gt, cfg, seed=0, drl_extractor=Moments(), irl_extractor=Moments())
    alone = train_student_alone(s2, gt, cfg, seed=0)
    # the student sees the pixel loss only: bit-identical to the pixel-only run
    for (k, a), b in zip(s1.state_dict().items(), s2.state_dict().values()):
        assert torch.equal(a, b), k
    # step 1 is plain warm-up, steps 2-3 fit the adapters (KD terms reported, output term off)
    assert kd.history[0]["drl"] == 0.0 and kd.history[1]["drl"] > 0 and kd.history[2]["irl"] > 0
    assert all(h["output"] == 0.0 for h in kd.history)
    assert [h["pixel"] for h in kd.history] == [h["pixel"] for h in alone.history]
    fresh = SLKDLoss(kd.layer_map, [(8, 4)], [(8, 4)], w_drl=1.0, w_irl=1.0, drl_extractor=Moments(), irl_extractor=Moments())
    assert not torch.equal(fresh.enc_adapters[0].conv.weight, kd.loss_module.enc_adapters[0].conv.weight)
    with pytest.raises(ValueError, match="adapter_fit"):
        distill_model(teacher, None, s1, gt, dataclasses.replace(cfg, adapter_fit=-1), seed=0)


def test_live_channels_skip_dead_teacher_channels(shared_data) -> None:
    from tripled_fast.kd.slkd import active_channels

    teacher = _teacher()
    t = default_taps(teacher)
    # kill channels 1 and 5 of the decoder tap's conv: the ReLU after it outputs zeros there
    conv = teacher.body[int(t.decoder[0].split(".")[1]) - 1]
    with torch.no_grad():
        conv.weight[[1, 5]] = 0.0
        conv.bias[[1, 5]] = -1.0
    x = torch.from_numpy(_real_patches(shared_data, n=4)).permute(0, 3, 1, 2).float() / 255.0
    live = active_channels(teacher, x, list(t.decoder))[t.decoder[0]]
    assert live == [0, 2, 3, 4, 6, 7]
    # match_channels picks evenly spaced channels among the live ones only
    lm = LayerMap(encoder=(), decoder=((t.decoder[0], default_taps(teacher).decoder[0]),))
    loss = SLKDLoss(lm, [], [(8, 8)], w_drl=0.0, w_irl=1.0, irl_extractor=Moments(), match_channels=3, dec_live=[live])
    assert loss.dec_keep == [[0, 3, 7]]  # positions 0, 2 (round(2.5)), 5 of the live list and loss.dec_adapters[0].conv.weight.shape == (3, 8, 1, 1)
    with pytest.raises(ValueError, match="live channel indices"):
        SLKDLoss(lm, [], [(8, 8)], w_drl=0.0, w_irl=1.0, irl_extractor=Moments(), dec_live=[[9]])
    with pytest.raises(ValueError, match="one channel list per layer pair"):
        SLKDLoss(lm, [], [(8, 8)], w_drl=0.0, w_irl=1.0, irl_extractor=Moments(), dec_live=[[0], [1]])
    # the loop uses the probe: Teacher B = this teacher, dead channels never matched
    student, _ = make_student("dncnn", {"depth": 6, "width": 8, "bn": False}, in_ch=1, max_ratio=None, seed=0)
    cfg = _plain_cfg(steps=1, batch_size=2, patch=16, w_drl=0.0, w_irl=1.0, degrade="noise:sigma=25", log_every=1)
    res = distill_model(teacher, teacher, student, _real_patches(shared_data, n=4), cfg, seed=0, irl_extractor=Moments())
    assert res.loss_module.dec_keep == [[0, 2, 3, 4, 6, 7]]
    off = distill_model(teacher, teacher, copy.deepcopy(student), _real_patches(shared_data, n=4),
                        dataclasses.replace(cfg, live_channels=False), seed=0, irl_extractor=Moments())
    assert off.loss_module.dec_keep == [list(range(8))]
    # a tap with no live channel is refused with a clear message
    with torch.no_grad():
        conv.weight.zero_()
        conv.bias.fill_(-1.0)
    with pytest.raises(ValueError, match="has no active channel"):
        distill_model(teacher, teacher, copy.deepcopy(student), _real_patches(shared_data, n=4), cfg, seed=0, irl_extractor=Moments())


def test_dataset_spreads_are_fixed_from_a_probe(shared_data) -> None:
    teacher = _teacher()
    student, _ = make_student("dncnn", {"depth": 6, "width": 8, "bn": False}, in_ch=1, max_ratio=None, seed=0)
    loss, lm = _loss_for(teacher, student, w_drl=1.0, w_irl=1.0)
    x = torch.from_numpy(_real_patches(shared_data, n=4)).permute(0, 3, 1, 2).float() / 255.0
    ds = SLKDLoss(lm, [(8, 4)], [(8, 4)], drl_extractor=build_extractor("brisque"), irl_extractor=build_extractor("piqe"),
                  stat_norm="dataset", stat_floor=0.1)
    ds.load_state_dict(loss.state_dict())
    with pytest.raises(ValueError, match="needs set_spreads"):
        _terms(ds, lm, student, teacher, teacher, x, x)
    with torch.no_grad():
        _, fa = forward_with_taps(teacher, x, [t for t, _ in lm.encoder + lm.decoder])
        enc, dec = ds.teacher_targets(fa, fa)
    ds.set_spreads(enc, dec)
    from tripled_fast.kd.slkd import teacher_spread

    assert torch.equal(ds.spreads["drl"][0], teacher_spread(enc[0], 0.1))
    assert float(ds.spreads["irl"][0].min()) >= 0.1 * float(dec[0].reshape(-1, dec[0].shape[-1]).std(0, unbiased=False).mean()) * (1 - 1e-6)
    # on the probe batch itself, "dataset" equals per-batch "teacher" normalisation with the same floor
    per_batch = SLKDLoss(lm, [(8, 4)], [(8, 4)], drl_extractor=build_extractor("brisque"), irl_extractor=build_extractor("piqe"),
                         stat_norm="teacher", stat_floor=0.1)
    per_batch.load_state_dict(loss.state_dict())
    a = _terms(ds, lm, student, teacher, teacher, x, x)
    b = _terms(per_batch, lm, student, teacher, teacher, x, x)
    for k in ("drl", "irl"):
        assert float(a[k].detach()) == pytest.approx(float(b[k].detach()), rel=1e-5)
    # on another batch the fixed spreads are kept (the per-batch ones change with the batch)
    a1 = _terms(ds, lm, student, teacher, teacher, x[:1], x[:1])
    b1 = _terms(per_batch, lm, student, teacher, teacher, x[:1], x[:1])
    assert torch.equal(ds.spreads["drl"][0], teacher_spread(enc[0], 0.1))
    assert float(a1["drl"].detach()) != pytest.approx(float(b1["drl"].detach()), rel=1e-3)
    with pytest.raises(ValueError, match="stat_floor"):
        SLKDLoss(lm, [(8, 4)], [(8, 4)], drl_extractor=Moments(), irl_extractor=Moments(), stat_floor=0.0)
    # the loop sets the spreads itself (probe or cache)
    cfg = KDConfig(steps=2, batch_size=2, patch=16, w_drl=1.0, w_irl=1.0, stat_norm="dataset", stat_floor=0.1,
                   degrade="noise:sigma=25", ae_steps=2, log_every=1)
    res = distill_model(teacher, None, student, _real_patches(shared_data, n=8), cfg, seed=0,
                        drl_extractor=Moments(), irl_extractor=Moments())
    assert res.loss_module.spreads is not None and np.isfinite(res.losses).all()


def test_kd_grad_clip_caps_each_kd_element_at_the_pixel_rms() -> None:
    from tripled_fast.kd.slkd import KDGradClip

    w = nn.Parameter(torch.tensor([1.0, 2.0, 3.0]))
    a = nn.Parameter(torch.tensor([0.5]))  # an "adapter": KD only, never capped
    clip = KDGradClip([w], ratio=0.5, beta=0.9)
    # step 1: pixel gradient (1, 0, 2); KD gradient (10, 10, -0.1) on w and 7 on a
    pixel = (w * torch.tensor([1.0, 0.0, 2.0])).sum()
    kd = (w * torch.tensor([10.0, 10.0, -0.1])).sum() + 7.0 * a.sum()
    frac = clip.backward({"pixel": pixel, "total": pixel + kd}, 1.0, [a])
    # RMS after one bias-corrected step = |pixel grad|: caps 0.5, 0, 1
    assert torch.allclose(w.grad, torch.tensor([1.0 + 0.5, 0.0 + 0.0, 2.0 - 0.1]))
    assert frac == pytest.approx(2 / 3)
    assert torch.allclose(a.grad, torch.tensor([7.0]))
    # without KD terms the gradient is the pixel gradient and the running RMS still updates
    w.grad = None
    pixel = (w * torch.tensor([3.0, 0.0, 0.0])).sum()
    assert clip.backward({"pixel": pixel, "total": pixel}, 1.0, []) == 0.0
    assert torch.allclose(w.grad, torch.tensor([3.0, 0.0, 0.0]))
    want = (0.9 * 0.1 * torch.tensor([1.0, 0.0, 4.0]) + 0.1 * torch.tensor([9.0, 0.0, 0.0])) / (1 - 0.9**2)
    assert torch.allclose(clip.sq[0] / (1 - 0.9**2), want)
    # the output term (an image-space L1 like the pixel loss) is never capped
    w.grad = None
    pixel = (w * torch.tensor([1.0, 1.0, 1.0])).sum()
    output = (w * torch.tensor([50.0, 0.0, 0.0])).sum()
    feat = (w * torch.tensor([0.0, 50.0, 0.0])).sum()
    clip.backward({"pixel": pixel, "output": output, "total": pixel + 0.5 * output + feat}, 1.0, [], w_output=0.5)
    cap = float((clip.sq[0][1] / (1 - 0.9**3)).sqrt() * 0.5)
    assert torch.allclose(w.grad, torch.tensor([1.0 + 25.0, 1.0 + cap, 1.0]))
    with pytest.raises(ValueError, match="ratio > 0"):
        KDGradClip([w], ratio=0.0)


def test_kd_clip_in_the_loop(shared_data) -> None:
    gt = _real_patches(shared_data, n=8, size=24)
    teacher = _teacher()
    cfg = KDConfig(steps=4, batch_size=2, patch=16, w_drl=1.0, w_irl=1.0, w_output=1.0, kd_warmup=1, kd_clip=0.5,
                   degrade="noise:sigma=25", ae_steps=2, log_every=1)
    s1, _ = make_student("dncnn", {"depth": 6, "width": 8, "bn": False}, in_ch=1, max_ratio=None, seed=0)
    res = distill_model(teacher, None, s1, gt, cfg, seed=0, drl_extractor=Moments(), irl_extractor=Moments())
    assert res.history[0]["kd_clipped"] == 0.0 and 0.0 < res.history[-1]["kd_clipped"] <= 1.0
    assert np.isfinite(res.losses).all()
    with pytest.raises(ValueError, match="kd_clip"):
        distill_model(teacher, None, s1, gt, dataclasses.replace(cfg, kd_clip=0.0), seed=0)
