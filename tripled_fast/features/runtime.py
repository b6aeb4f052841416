"""Inference backends for the feature backbone and automatic backend choice.

A :class:`FeatureRunner` maps the normalised backbone input ``B x 3 x S x S`` float32 to
``B x D`` float32 features (see :func:`tripled_fast.features.extract.prepare_input`); pass it
to :func:`~tripled_fast.features.extract.embed_patches` as ``runner=``. Variants:

* ``eager``        the torch module as is;
* ``compile``      ``torch.compile`` with a fixed batch shape (short batches are padded);
* ``onnxruntime``  an ONNX Runtime session (TensorRT / CUDA execution providers first when
                   present and the device is CUDA, else the CPU provider);
* ``tensorrt``     a native TensorRT engine built from the ONNX export (fp16 when it passes the
                   parity check, else fp32), cached on disk.

:func:`resolve_feature_backend` builds the requested one, checks its parity against eager on
sample patches (minimum cosine >= 0.999) and, for ``"auto"``, times every available candidate
briefly and keeps the fastest that passes.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import re
import shutil
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from torch import nn

from tripled_fast.errors import BackendUnavailable
from tripled_fast.features.backbones import BackboneInfo
from tripled_fast.features.export import Precision, export_onnx, parity
from tripled_fast.features.extract import embed_patches

log = logging.getLogger(__name__)

BACKENDS = ("eager", "compile", "onnxruntime", "tensorrt")
PARITY_MIN = 0.999


def default_cache_dir() -> Path:
    """``$TRIPLED_FAST_CACHE`` or ``~/.cache/tripled_fast`` (ONNX files and TensorRT engines)."""
    env = os.environ.get("TRIPLED_FAST_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tripled_fast"


class FeatureRunner:
    """Callable ``B x 3 x S x S`` float32 (normalised) -> ``B x D`` float32 torch tensor.

    Attributes:
        name: backend name (``eager``, ``compile``, ``onnxruntime``, ``tensorrt``).
        device: device the runner computes on.
        detail: e.g. the execution providers or the engine precision.
        parity: minimum cosine similarity to eager on the sample (set by the resolver).
        images_per_s: measured throughput on the sample (set by the resolver).
    """

    name = "base"

    def __init__(self, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.detail = ""
        self.parity: Optional[float] = None
        self.images_per_s: Optional[float] = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        extra = f", {self.detail}" if self.detail else ""
        return (f"{type(self).__name__}(name={self.name!r}, device={str(self.device)!r}{extra}, "
                f"parity={self.parity}, images_per_s={self.images_per_s})")


class EagerRunner(FeatureRunner):
    """The torch module in eval mode."""

    name = "eager"

    def __init__(self, model: nn.Module, device: str | torch.device = "cpu") -> None:
        super().__init__(device)
        self.model = model.eval().to(self.device)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.model(x.to(self.device)).float()


class CompiledRunner(FeatureRunner):
    """``torch.compile`` of the module, always called with a ``batch_size`` batch.

    Shorter batches are zero-padded and longer ones split, so the graph compiles once
    (batch-norm runs in eval mode, so padding rows never affect real rows).
    """

    name = "compile"

    def __init__(self, model: nn.Module, batch_size: int, device: str | torch.device = "cpu",
                 mode: Optional[str] = None) -> None:
        super().__init__(device)
        if self.device.type == "cpu" and not any(shutil.which(c) for c in ("g++", "c++", "clang++")):
            raise BackendUnavailable("compile: torch.compile on the CPU needs a C++ compiler (g++ / clang++) on PATH")
        self.batch_size = int(batch_size)
        self.model = model.eval().to(self.device)
        self.compiled = torch.compile(self.model, dynamic=False, mode=mode)
        self.detail = f"batch={self.batch_size}"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device)
        outs = []
        with torch.inference_mode():
            for chunk in x.split(self.batch_size):
                n = chunk.shape[0]
                if n < self.batch_size:
                    pad = chunk.new_zeros((self.batch_size - n, *chunk.shape[1:]))
                    chunk = torch.cat([chunk, pad])
                # one input layout for every call, so the compiled graph's stride guards hold
                chunk = chunk.contiguous(memory_format=torch.channels_last)
                outs.append(self.compiled(chunk)[:n].float())
        return torch.cat(outs)


def onnxruntime_providers(device: str | torch.device, cache_dir: Optional[Path] = None) -> list:
    """Execution providers to try, best first: TensorRT / CUDA EPs on a CUDA device, then CPU."""
    import onnxruntime as ort

    available = set(ort.get_available_providers())
    dev = torch.device(device)
    providers: list = []
    if dev.type == "cuda":
        index = dev.index or 0
        if "TensorrtExecutionProvider" in available and cache_dir is not None:
            providers.append(("TensorrtExecutionProvider", {
                "device_id": index, "trt_engine_cache_enable": True,
                "trt_engine_cache_path": str(cache_dir / "ort_trt"), "trt_fp16_enable": False,
            }))
        if "CUDAExecutionProvider" in available:
            providers.append(("CUDAExecutionProvider", {"device_id": index}))
    providers.append("CPUExecutionProvider")
    return providers


class OnnxRuntimeRunner(FeatureRunner):
    """An ONNX Runtime session over an exported backbone (host numpy in, host numpy out)."""

    name = "onnxruntime"

    def __init__(self, onnx_path: str | Path, device: str | torch.device = "cpu",
                 providers: Optional[list] = None, threads: Optional[int] = None) -> None:
        super().__init__(device)
        try:
            import onnxruntime as ort
        except ImportError:
            raise BackendUnavailable("onnxruntime: not installed (pip install onnxruntime)") from None
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            opts.intra_op_num_threads = int(threads)
        providers = providers or onnxruntime_providers(self.device, Path(onnx_path).parent)
        self.session = ort.InferenceSession(str(onnx_path), sess_options=opts, providers=providers)
        self.input_name = self.session.get_inputs()[0].name
        self.detail = "providers=" + "+".join(self.session.get_providers())

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        arr = x.detach().to("cpu", torch.float32).contiguous().numpy()
        out = self.session.run(None, {self.input_name: arr})[0]
        return torch.from_numpy(np.asarray(out, dtype=np.float32))


# --------------------------------------------------------------------------- TensorRT
def _import_tensorrt():  # noqa: ANN202 - module object
    try:
        import tensorrt as trt
    except ImportError:
        raise BackendUnavailable("tensorrt: the tensorrt Python package is not installed (pip install tensorrt)") from None
    return trt


def build_tensorrt_engine(onnx_path: Path, engine_path: Path, input_size: int, max_batch: int,
                          opt_batch: int, workspace_bytes: int = 2 << 30) -> Path:
    """Build and serialise a TensorRT engine from ``onnx_path`` (atomic write to ``engine_path``).

    The network is created strongly typed (precision comes from the ONNX graph: an fp16 export
    gives an fp16 engine). TensorRT 10 needs the ``STRONGLY_TYPED`` creation flag for that and
    TensorRT 11, which removed ``BuilderFlag.FP16``, accepts and ignores it (TensorRT 10.x -> 11.x
    Python migration guide). The single optimisation
    profile covers batch ``1 .. max_batch`` tuned for ``opt_batch``.
    """
    trt = _import_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errs = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise BackendUnavailable(f"tensorrt: cannot parse {onnx_path.name}: {errs or 'unknown error'}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_bytes))
    profile = builder.create_optimization_profile()
    tensor = network.get_input(0)
    shape = lambda b: (b, 3, input_size, input_size)  # noqa: E731
    profile.set_shape(tensor.name, shape(1), shape(min(opt_batch, max_batch)), shape(max_batch))
    config.add_optimization_profile(profile)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise BackendUnavailable(f"tensorrt: engine build failed for {onnx_path.name} (see TensorRT log)")
    engine_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = engine_path.with_name(f".{engine_path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(memoryview(plan))
    os.replace(tmp, engine_path)
    return engine_path


class TensorRTRunner(FeatureRunner):
    """A native TensorRT engine (CUDA tensors in and out, run on torch's current stream).

    Engines are cached in ``cache_dir`` under a name keyed by the ONNX file (model, weights hash,
    input size, precision), the batch range, the TensorRT version and the GPU.
    """

    name = "tensorrt"

    def __init__(self, onnx_path: str | Path, info: BackboneInfo, *, precision: Precision,
                 cache_dir: str | Path, max_batch: int, device: str | torch.device = "cuda") -> None:
        super().__init__(device)
        if self.device.type != "cuda" or not torch.cuda.is_available():
            raise BackendUnavailable(f"tensorrt: needs a CUDA device (got device={str(self.device)!r})")
        trt = _import_tensorrt()
        onnx_path = Path(onnx_path)
        gpu = re.sub(r"[^A-Za-z0-9]+", "-", torch.cuda.get_device_name(self.device)).strip("-")
        self.max_batch = int(max_batch)
        engine_path = Path(cache_dir) / (
            f"{onnx_path.stem}-b1-{self.max_batch}-trt{trt.__version__}-{gpu}.engine")
        if not engine_path.is_file():
            build_tensorrt_engine(onnx_path, engine_path, info.input_size, self.max_batch, self.max_batch)
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self.engine = self._runtime.deserialize_cuda_engine(engine_path.read_bytes())
        if self.engine is None:
            raise BackendUnavailable(f"tensorrt: cannot deserialise {engine_path} (stale cache? delete it)")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if len(inputs) != 1 or len(outputs) != 1:
            raise BackendUnavailable(f"tensorrt: expected one input and one output, got {inputs} / {outputs}")
        self.input_name, self.output_name = inputs[0], outputs[0]
        self.precision = precision
        self.engine_path = engine_path
        self.detail = f"precision={precision}, engine={engine_path.name}"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, torch.float32)
        outs = []
        stream = torch.cuda.current_stream(self.device)
        for chunk in x.split(self.max_batch):
            chunk = chunk.contiguous()
            self.context.set_input_shape(self.input_name, tuple(chunk.shape))
            out = torch.empty(tuple(self.context.get_tensor_shape(self.output_name)),
                              dtype=torch.float32, device=self.device)
            self.context.set_tensor_address(self.input_name, chunk.data_ptr())
            self.context.set_tensor_address(self.output_name, out.data_ptr())
            if not self.context.execute_async_v3(stream.cuda_stream):
                raise RuntimeError("tensorrt: execute_async_v3 failed")
            outs.append(out)
        return torch.cat(outs)


# --------------------------------------------------------------------------- resolution
def backend_available(name: str, device: str | torch.device) -> Optional[str]:
    """``None`` when backend ``name`` can run on ``device``, else a one-line reason."""
    dev = torch.device(device)
    if name == "eager":
        return None
    if name == "compile":
        if dev.type == "cpu" and not any(shutil.which(c) for c in ("g++", "c++", "clang++")):
            return "torch.compile on the CPU needs a C++ compiler (g++ / clang++) on PATH"
        if dev.type == "cuda" and importlib.util.find_spec("triton") is None:
            return "torch.compile on CUDA needs the triton package"
        return None
    if name == "onnxruntime":
        if importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("onnx") is None:
            return "onnxruntime / onnx are not installed (pip install onnxruntime onnx)"
        return None
    if name == "tensorrt":
        if dev.type != "cuda" or not torch.cuda.is_available():
            return f"needs a CUDA device (device={str(dev)!r})"
        if importlib.util.find_spec("tensorrt") is None:
            return "the tensorrt Python package is not installed (pip install tensorrt)"
        return None
    return f"unknown backend (expected one of auto, {', '.join(BACKENDS)})"


def _build(name: str, model: nn.Module, info: BackboneInfo, cache_dir: Path, device: torch.device,
           batch_size: int, check: Callable[[FeatureRunner], float]) -> FeatureRunner:
    if name == "eager":
        return EagerRunner(model, device)
    if name == "compile":
        return CompiledRunner(model, batch_size, device)
    if name == "onnxruntime":
        return OnnxRuntimeRunner(export_onnx(model, info, cache_dir), device)
    if name == "tensorrt":
        try:
            fp16 = TensorRTRunner(export_onnx(model, info, cache_dir, precision="fp16"), info,
                                  precision="fp16", cache_dir=cache_dir, max_batch=batch_size, device=device)
            fp16.parity = check(fp16)
            if fp16.parity >= PARITY_MIN:
                return fp16
            log.info("tensorrt fp16 parity %.5f < %.3f, building fp32", fp16.parity, PARITY_MIN)
        except BackendUnavailable as exc:
            log.info("tensorrt fp16 unusable (%s), building fp32", exc)
        return TensorRTRunner(export_onnx(model, info, cache_dir, precision="fp32"), info,
                              precision="fp32", cache_dir=cache_dir, max_batch=batch_size, device=device)
    raise BackendUnavailable(f"features.backend: unknown backend {name!r} (expected auto, {', '.join(BACKENDS)})")


def _throughput(runner: FeatureRunner, model: nn.Module, info: BackboneInfo, patches: np.ndarray,
                batch_size: int, device: torch.device, repeats: int) -> float:
    """Images per second of ``embed_patches`` with ``runner`` (best of ``repeats`` timed runs)."""
    best = float("inf")
    for _ in range(max(1, repeats)):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        embed_patches(model, info, patches, batch_size=batch_size, device=device, runner=runner)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - t0)
    return len(patches) / max(best, 1e-9)


def resolve_feature_backend(
    name: str,
    model: nn.Module,
    info: BackboneInfo,
    sample_patches: np.ndarray,
    cache_dir: str | Path | None = None,
    *,
    device: str | torch.device = "cpu",
    batch_size: int = 64,
    candidates: Optional[Sequence[str]] = None,
    repeats: int = 2,
    min_parity: float = PARITY_MIN,
    workload: Optional[int] = None,
    min_compile_seconds: float = 60.0,
) -> FeatureRunner:
    """Build the feature backend ``name`` and check it against eager on ``sample_patches``.

    Args:
        name: ``auto`` or one of ``eager``, ``compile``, ``onnxruntime``, ``tensorrt``.
        model, info: the backbone from :func:`~tripled_fast.features.backbones.load_backbone`.
        sample_patches: ``uint8 N x h x w x C`` real patches (a few dozen) for parity and timing.
        cache_dir: where ONNX files and TensorRT engines are cached (default
            :func:`default_cache_dir`).
        device: compute device.
        batch_size: batch the runner will be fed (compile / TensorRT shapes are fixed to it).
        candidates: backends ``auto`` may try (default: all; eager is always included).
        repeats: timed passes over the sample per candidate (best one counts).
        min_parity: minimum cosine similarity to eager a runner must reach.
        workload: number of patches the runner will embed. With ``auto``, backends with a long
            build (``compile``, ``tensorrt``) are skipped when eager would finish that workload
            in under ``min_compile_seconds`` (their build would cost more than it saves).

    Returns:
        The runner, with ``name``, ``parity`` and ``images_per_s`` set. ``auto`` returns the
        fastest candidate whose parity is at least ``min_parity``.

    Raises:
        BackendUnavailable: an explicitly named backend cannot run here or fails parity
            (one-line message).
    """
    dev = torch.device(device)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if name != "auto" and name not in BACKENDS:
        raise BackendUnavailable(f"features.backend: unknown backend {name!r} (expected auto, {', '.join(BACKENDS)})")
    from tripled_fast.features.extract import check_patches

    check_patches(sample_patches, "sample_patches")
    model = model.eval().to(dev)
    ref = embed_patches(model, info, sample_patches, batch_size=batch_size, device=dev)

    def check(runner: FeatureRunner) -> float:
        return parity(lambda _: ref,
                      lambda p: embed_patches(model, info, p, batch_size=batch_size, device=dev, runner=runner),
                      sample_patches)

    def make(backend: str) -> FeatureRunner:
        reason = backend_available(backend, dev)
        if reason is not None:
            raise BackendUnavailable(f"{backend}: {reason}")
        try:
            runner = _build(backend, model, info, cache, dev, batch_size, check)
            runner.parity = check(runner)  # first call also warms up (compiles / builds)
        except BackendUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - compile / runtime failures become one line
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BackendUnavailable(f"{backend}: failed on {info.name} ({first})") from None
        if runner.parity < min_parity:
            raise BackendUnavailable(
                f"{backend}: parity {runner.parity:.5f} < {min_parity} (min cosine to eager on the sample)")
        runner.images_per_s = _throughput(runner, model, info, sample_patches, batch_size, dev, repeats)
        return runner

    if name != "auto":
        runner = make(name)
        log.info("feature backend %s: parity %.6f, %.1f images/s", runner.name, runner.parity, runner.images_per_s)
        return runner

    order = list(candidates) if candidates is not None else list(BACKENDS)
    if "eager" not in order:
        order.insert(0, "eager")
    best: Optional[FeatureRunner] = None
    for backend in order:
        if backend in ("compile", "tensorrt") and workload is not None and best is not None \
                and best.images_per_s and workload / best.images_per_s < min_compile_seconds:
            log.info("feature backend %s skipped: %d patches take %.0f s with %s (< %.0f s)", backend,
                     workload, workload / best.images_per_s, best.name, min_compile_seconds)
            continue
        try:
            runner = make(backend)
        except BackendUnavailable as exc:
            log.info("feature backend %s skipped: %s", backend, exc)
            continue
        log.info("feature backend %s: parity %.6f, %.1f images/s", backend, runner.parity, runner.images_per_s)
        if best is None or runner.images_per_s > best.images_per_s:  # type: ignore[operator]
            best = runner
    if best is None:
        raise BackendUnavailable(f"features.backend: no usable backend among {order} for {info.name}")
    return best
