"""DnCNN (Zhang et al., "Beyond a Gaussian Denoiser", TIP 2017) with an optional VDSR-style SR mode.

The network is a plain stack ``conv-ReLU, (conv-[BN]-ReLU) x (depth - 2), conv`` predicting the
residual (the noise); the output is ``x - body(x)``. For ``scale > 1`` the input is first
upsampled bicubically (as in VDSR, Kim et al. CVPR 2016) and the same residual stack runs at the
target resolution.

With ``bn=False, bias=True, depth=17, width=64`` the layer indices of :attr:`DnCNN.body` coincide
with KAIR's ``model.0 ... model.32`` (conv at even indices, ReLU at odd ones), which is what
:func:`load_kair_dncnn` relies on.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


class DnCNN(nn.Module):
    """Residual denoising CNN.

    Args:
        in_ch: input channels C_in.
        out_ch: output channels (defaults to ``in_ch``; must equal it when ``residual``).
        depth: number of conv layers (>= 2).
        width: feature channels.
        bn: batch normalisation in the middle layers (the paper's DnCNN-S); KAIR's released
            weights have it merged (``bn=False``).
        bias: conv bias; default ``not bn`` for middle layers (the first and last conv always
            carry a bias).
        residual: output ``x - body(x)`` (noise prediction) instead of ``body(x)``.
        scale: integer upscaling factor; > 1 upsamples bicubically before the body.

    Shapes: ``(N, C_in, H, W) -> (N, out_ch, H * scale, W * scale)``.
    """

    size_multiple: int = 1

    def __init__(
        self,
        in_ch: int = 1,
        out_ch: int | None = None,
        *,
        depth: int = 17,
        width: int = 64,
        bn: bool = True,
        bias: bool | None = None,
        residual: bool = True,
        scale: int = 1,
    ) -> None:
        super().__init__()
        out_ch = in_ch if out_ch is None else out_ch
        if depth < 2:
            raise ValueError(f"DnCNN depth: expected >= 2 conv layers, got {depth}")
        if width < 1 or in_ch < 1 or out_ch < 1:
            raise ValueError(f"DnCNN: expected positive channels, got in={in_ch} out={out_ch} width={width}")
        if scale < 1:
            raise ValueError(f"DnCNN scale: expected an integer >= 1, got {scale}")
        if residual and in_ch != out_ch:
            raise ValueError(f"DnCNN residual: needs in_ch == out_ch, got {in_ch} and {out_ch}")
        mid_bias = (not bn) if bias is None else bias
        layers: list[nn.Module] = [nn.Conv2d(in_ch, width, 3, padding=1, bias=True), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers.append(nn.Conv2d(width, width, 3, padding=1, bias=mid_bias))
            if bn:
                layers.append(nn.BatchNorm2d(width, eps=1e-4, momentum=0.05))
            layers.append(nn.ReLU(inplace=True))
        layers.append(nn.Conv2d(width, out_ch, 3, padding=1, bias=True))
        self.body = nn.Sequential(*layers)
        self.in_ch, self.out_ch, self.depth, self.width = in_ch, out_ch, depth, width
        self.bn, self.residual, self.scale = bn, residual, scale
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        # a small last layer makes the untrained net close to the identity map
        last = self.body[-1]
        assert isinstance(last, nn.Conv2d)
        nn.init.normal_(last.weight, std=1e-3)

    def upsample(self, x: torch.Tensor) -> torch.Tensor:
        """Bicubic pre-upsampling used for ``scale > 1`` (identity otherwise)."""
        if self.scale == 1:
            return x
        return F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.upsample(x)
        y = self.body(x)
        return x - y if self.residual else y

    def encoder_decoder_split(self) -> tuple[nn.Sequential, nn.Sequential]:
        """Split :attr:`body` after the ReLU of conv layer ``depth // 2``.

        Returns ``(encoder, decoder)``, two ``nn.Sequential`` views sharing this model's modules
        (training them trains this model), so that for ``x`` already upsampled by
        :meth:`upsample`: ``body(x) == decoder(encoder(x))``. The encoder output is the
        ``width``-channel feature map used as the distillation target.
        """
        convs_seen = 0
        split = None
        for i, m in enumerate(self.body):
            if isinstance(m, nn.Conv2d):
                convs_seen += 1
            if isinstance(m, nn.ReLU) and convs_seen == self.depth // 2:
                split = i + 1
                break
        assert split is not None
        mods = list(self.body)
        return nn.Sequential(*mods[:split]), nn.Sequential(*mods[split:])


def kair_state_dict_to_dncnn(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map KAIR ``model.<i>.{weight,bias}`` keys onto :class:`DnCNN` ``body.<i>.*`` keys."""
    out = {}
    for key, value in state.items():
        if not key.startswith("model."):
            raise ValueError(f"KAIR DnCNN state dict: expected keys 'model.<i>.*', got {key!r}")
        out["body." + key[len("model."):]] = value
    return out


def load_kair_dncnn(path: str | Path) -> DnCNN:
    """Load KAIR's released plain DnCNN (BN merged) into a :class:`DnCNN` (``bn=False``).

    Depth, width and channel counts are read from the tensors, so ``dncnn_25``, ``dncnn_50``,
    ``dncnn_color_blind`` (20 layers, RGB) all load. The file is read with
    ``torch.load(weights_only=True)``. Returns the model in eval mode.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: KAIR DnCNN weight file not found")
    from ...weights import load_state_file

    state = load_state_file(path)
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(state).__name__}")
    state = kair_state_dict_to_dncnn(state)
    weights = sorted((int(k.split(".")[1]), v) for k, v in state.items() if k.endswith(".weight"))
    if not weights:
        raise ValueError(f"{path}: no conv weights found")
    depth = len(weights)
    width = weights[0][1].shape[0]
    in_ch = weights[0][1].shape[1]
    out_ch = weights[-1][1].shape[0]
    model = DnCNN(in_ch, out_ch, depth=depth, width=width, bn=False, bias=True, residual=True)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{path}: not a plain KAIR DnCNN (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    return model.eval()
