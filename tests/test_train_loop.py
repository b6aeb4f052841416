"""Training engine: schedule, learning, CPU determinism, resumable state, compile fallback, checkpoints."""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tripled_fast.config import TrainConfig
from tripled_fast.train import loop as loop_mod
from tripled_fast.train.archs import build_model
from tripled_fast.train.checkpoint import load_checkpoint, save_checkpoint
from tripled_fast.train.loop import RowStream, lr_at, per_sample_loss, train_model, warmup_steps
from tripled_fast.train.packed import PairPatchDataset, write_pack

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def smooth_noisy_pack(prefix: Path, n: int = 48, side: int = 16, sigma: float = 25.0, seed: int = 0) -> None:
    """Smooth gray GT (bilinear-upsampled 4x4 random grids) + seeded Gaussian noise, uint8."""
    rng = np.random.default_rng(seed)
    grid = torch.from_numpy(rng.uniform(30, 225, (n, 1, 4, 4)).astype(np.float32))
    gt = F.interpolate(grid, size=(side, side), mode="bilinear", align_corners=True)[:, 0].numpy()
    lq = gt + sigma * rng.standard_normal(gt.shape)
    to_u8 = lambda a: np.clip(np.round(a), 0, 255).astype(np.uint8)[..., None]  # noqa: E731
    write_pack(prefix, to_u8(gt), to_u8(lq), np.arange(n, dtype=np.int64))


def tiny_model(seed: int = 0) -> torch.nn.Module:
    return build_model("dncnn", in_ch=1, out_ch=1, depth=3, width=8, bn=False, seed=seed)


def cfg(**kw) -> TrainConfig:
    base = dict(steps=12, batch_size=4, lr=2e-3, min_lr=1e-5, ema=0.9, compile="off", log_every=3,
                checkpoint_every=4, warmup_steps=2)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture()
def data(tmp_path: Path) -> PairPatchDataset:
    smooth_noisy_pack(tmp_path / "p")
    return PairPatchDataset(tmp_path / "p", crop=12, seed=0)


def weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --------------------------------------------------------------------------- pure pieces
def test_lr_schedule_warms_up_linearly_then_follows_one_cosine() -> None:
    total, warm, lr, lo = 100, 10, 1e-3, 1e-6
    assert [lr_at(s, total, lr, lo, warm) for s in (0, 4, 9)] == pytest.approx([1e-4, 5e-4, 1e-3])
    assert lr_at(10, total, lr, lo, warm) == pytest.approx(lr)
    assert lr_at(55, total, lr, lo, warm) == pytest.approx((lr + lo) / 2)  # cosine midpoint
    assert lr_at(99, total, lr, lo, warm) == pytest.approx(lo + (lr - lo) * (1 + math.cos(math.pi * 89 / 90)) / 2)
    tail = [lr_at(s, total, lr, lo, warm) for s in range(10, 100)]
    assert all(a > b for a, b in zip(tail, tail[1:]))
    assert warmup_steps(TrainConfig(steps=1000)) == 50 and warmup_steps(TrainConfig(steps=10**5)) == 100


def test_per_sample_losses_match_numpy() -> None:
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(3, 2, 4, 5, generator=g), torch.rand(3, 2, 4, 5, generator=g)
    an, bn = a.double().numpy(), b.double().numpy()
    np.testing.assert_allclose(per_sample_loss(a, b, "l1").numpy(), np.abs(an - bn).mean((1, 2, 3)), rtol=1e-6)
    np.testing.assert_allclose(per_sample_loss(a, b, "l2").numpy(), ((an - bn) ** 2).mean((1, 2, 3)), rtol=1e-6)
    with pytest.raises(ValueError, match="loss"):
        per_sample_loss(a, b, "ssim")


def test_row_stream_visits_every_row_once_per_epoch() -> None:
    rows = np.array([3, 8, 9, 20, 21])
    s = RowStream(rows, batch_size=2, seed=1, tag=0)
    seq = np.concatenate([s.batch_rows(t) for t in range(10)])  # 20 draws = 4 epochs
    for e in range(4):
        assert sorted(seq[5 * e : 5 * e + 5].tolist()) == rows.tolist()
    assert np.array_equal(seq[6:8], RowStream(rows, 2, 1, 0).batch_rows(3))  # pure function of t


# --------------------------------------------------------------------------- training
def test_training_reduces_the_loss_on_held_out_patches(tmp_path: Path, data: PairPatchDataset) -> None:
    smooth_noisy_pack(tmp_path / "val", n=16, seed=99)
    val_ds = PairPatchDataset(tmp_path / "val", augment=False)

    @torch.no_grad()
    def val_l1(m: torch.nn.Module) -> float:
        lq, gt = val_ds.batch(np.arange(16), np.random.default_rng(0))
        return float(per_sample_loss(m(lq), gt).mean())

    model = tiny_model()
    before = val_l1(model.eval())
    res = train_model(model.train(), data, cfg(steps=60, lr=1e-2, log_every=20, val_every=30), seed=0,
                      progress=False, val=val_l1)
    assert [h["step"] for h in res.history] == [20, 30, 40, 60]
    assert [h["val"] for h in res.history if "val" in h][-1] == pytest.approx(val_l1(res.model), rel=1e-6)
    # noisy input L1 ~ 19/255; a trained 3-layer net removes a good part of it
    assert val_l1(res.model) < 0.8 * before, (before, val_l1(res.model))
    assert res.compiled is False and res.finished and res.step == 60 and res.steps_per_s > 0
    assert not res.model.training


def test_same_seed_gives_bitwise_identical_weights_on_cpu(data: PairPatchDataset) -> None:
    torch_state = torch.get_rng_state()
    r1 = train_model(tiny_model(), data, cfg(), seed=3, progress=False)
    r2 = train_model(tiny_model(), data, cfg(), seed=3, progress=False)
    r3 = train_model(tiny_model(), data, cfg(), seed=4, progress=False)
    assert same(weights(r1.model), weights(r2.model))
    assert not same(weights(r1.model), weights(r3.model))
    assert [h["loss"] for h in r1.history] == [h["loss"] for h in r2.history]
    assert torch.equal(torch.get_rng_state(), torch_state)


def test_ema_weights_are_returned_and_follow_the_ramped_decay(data: PairPatchDataset) -> None:
    no_ema = train_model(tiny_model(), data, cfg(ema=0.0), seed=0, progress=False)
    with_ema = train_model(tiny_model(), data, cfg(ema=0.9), seed=0, progress=False)
    # same trajectory (EMA is read-only), but the EMA average differs from the last iterate
    assert [h["loss"] for h in no_ema.history] == [h["loss"] for h in with_ema.history]
    assert not same(weights(no_ema.model), weights(with_ema.model))
    # the update rule itself, against a hand computation
    m = torch.nn.Linear(2, 1)
    ema = loop_mod._Ema(m, 0.5)
    start = m.weight.detach().clone()
    with torch.no_grad():
        m.weight.add_(1.0)
    ema.update(m, step=0)  # decay min(0.5, 1/10) = 0.1
    torch.testing.assert_close(ema.module.weight, 0.1 * start + 0.9 * (start + 1.0))


def test_interrupted_run_resumes_to_the_same_weights(tmp_path: Path, data: PairPatchDataset) -> None:
    full = train_model(tiny_model(), data, cfg(), seed=1, progress=False)
    state = tmp_path / "state.safetensors"
    part = train_model(tiny_model(), data, cfg(), seed=1, progress=False, state_path=state, stop_at=7)
    assert not part.finished and part.step == 7 and state.is_file()
    resumed = train_model(tiny_model(seed=9), data, cfg(), seed=1, progress=False, state_path=state)
    assert resumed.resumed_from == 7 and resumed.finished
    assert same(weights(full.model), weights(resumed.model))
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    assert strip(full.history) == strip(resumed.history)
    # a finished state returns at once with the same weights
    again = train_model(tiny_model(seed=5), data, cfg(), seed=1, progress=False, state_path=state)
    assert again.resumed_from == 12 and same(weights(full.model), weights(again.model))
    with pytest.raises(ValueError, match="different config, seed or data"):
        train_model(tiny_model(), data, cfg(lr=1e-3), seed=1, progress=False, state_path=state)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_failing_compile_falls_back_to_eager_with_identical_result(
    data: PairPatchDataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_compile(model, **kw):
        def fwd(x):
            raise RuntimeError("inductor exploded\nsecond line")
        return fwd

    eager = train_model(tiny_model(), data, cfg(), seed=2, progress=False)
    monkeypatch.setattr(loop_mod.torch, "compile", broken_compile)
    res = train_model(tiny_model(), data, cfg(compile="on"), seed=2, progress=False)
    assert res.compiled is False and res.compile_error == "RuntimeError: inductor exploded"
    assert same(weights(eager.model), weights(res.model))


def test_auto_compile_on_cpu_skips_short_runs(data: PairPatchDataset, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(loop_mod.torch, "compile", lambda m, **kw: calls.append(1) or m)
    res = train_model(tiny_model(), data, cfg(compile="auto"), seed=0, progress=False)
    assert calls == [] and res.compiled is False
    # the decision never reads the clock: on a machine so loaded that every clock reading jumps by
    # 1000 s (a timed probe would predict a huge saving) the short run still stays eager, with the
    # same weights as the unloaded run
    clock = iter(range(0, 10**9, 1000))
    monkeypatch.setattr(loop_mod.time, "perf_counter", lambda: float(next(clock)))
    loaded = train_model(tiny_model(), data, cfg(compile="auto"), seed=0, progress=False)
    assert calls == [] and loaded.compiled is False and same(weights(res.model), weights(loaded.model))
    monkeypatch.undo()
    monkeypatch.setattr(loop_mod.torch, "compile", lambda m, **kw: calls.append(1) or m)
    # a run long enough to amortise the compile cost is compiled from the first step
    assert loop_mod.cpu_compile_seconds(tiny_model()) == 5.0 + 2.0 * 5  # 3 convs + 2 ReLUs
    monkeypatch.setattr(loop_mod, "CPU_COMPILE_BASE_S", 0.0)
    monkeypatch.setattr(loop_mod, "CPU_COMPILE_PER_MODULE_S", 0.0)
    res = train_model(tiny_model(), data, cfg(compile="auto"), seed=0, progress=False)
    assert calls == [1] and res.compiled is True


def test_bad_settings_raise_value_errors(data: PairPatchDataset) -> None:
    for kw, msg in [({"loss": "ssim"}, "train.loss"), ({"compile": "yes"}, "train.compile"),
                    ({"amp": "fp16"}, "train.amp"), ({"ema": 1.0}, "train.ema")]:
        with pytest.raises(ValueError, match=msg):
            train_model(tiny_model(), data, cfg(**kw), seed=0, progress=False)
    with pytest.raises(ValueError, match="seed"):
        train_model(tiny_model(), data, cfg(), seed=-1, progress=False)


# --------------------------------------------------------------------------- checkpoints
def test_checkpoint_roundtrip_strips_compile_prefixes(tmp_path: Path) -> None:
    model = tiny_model()
    state = {f"_orig_mod.{k}": v for k, v in model.state_dict().items()}
    save_checkpoint(state, tmp_path / "m.safetensors", {"arch": "dncnn", "kwargs": {"depth": 3}, "psnr": 30.5})
    sd, meta = load_checkpoint(tmp_path / "m.safetensors")
    assert meta == {"arch": "dncnn", "kwargs": {"depth": 3}, "psnr": 30.5}
    assert same(sd, model.state_dict())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]
    (tmp_path / "bad.safetensors").write_bytes(b"not a file")
    with pytest.raises(ValueError, match="bad.safetensors"):
        load_checkpoint(tmp_path / "bad.safetensors")
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.safetensors")


# --------------------------------------------------------------------------- speed (slow)
@pytest.mark.slow
def test_cpu_throughput_dncnn_d8_w32_p48_b16(tmp_path: Path) -> None:
    """steps/s of the loop vs the bare forward/backward/AdamW step; loop overhead must stay small."""
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 256, (256, 64, 64, 1), dtype=np.uint8)
    write_pack(tmp_path / "p", gt, gt, np.arange(256))
    ds = PairPatchDataset(tmp_path / "p", crop=48)
    c = TrainConfig(steps=40, batch_size=16, compile="off", log_every=20, warmup_steps=2, checkpoint_every=0)
    model = build_model("dncnn", in_ch=1, out_ch=1, depth=8, width=32, seed=0)
    res = train_model(model, ds, c, seed=0, progress=False)
    bare = build_model("dncnn", in_ch=1, out_ch=1, depth=8, width=32, seed=0).train()
    opt = torch.optim.AdamW(bare.parameters(), lr=1e-3)
    x = torch.rand(16, 1, 48, 48)
    t0 = time.perf_counter()
    for _ in range(40):
        loss = F.l1_loss(bare(x), x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    bare_sps = 40 / (time.perf_counter() - t0)
    print(f"\nloop {res.steps_per_s:.2f} steps/s, bare step {bare_sps:.2f} steps/s")
    assert res.steps_per_s > 0.8 * bare_sps


@pytest.mark.slow
def test_compile_on_cpu_really_compiles_and_tracks_eager(data: PairPatchDataset) -> None:
    """Inductor on the CPU (~20-30 s here): same trajectory as eager up to float reassociation."""
    eager = train_model(tiny_model(), data, cfg(steps=4, ema=0.0), seed=0, progress=False)
    comp = train_model(tiny_model(), data, cfg(steps=4, ema=0.0, compile="on"), seed=0, progress=False)
    assert comp.compiled is True and comp.compile_error is None and comp.compile_seconds > 0
    a, b = eager.model.state_dict(), comp.model.state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-4) for k in a)
