"""Parameter / FLOP counting against hand counts."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from tripled_fast.metrics.cost import conv2d_flops, count_flops, count_params, model_cost
from tripled_fast.train.archs import build_model


def test_single_conv_matches_hand_count() -> None:
    conv = nn.Conv2d(3, 8, 3, padding=1)
    # 2 FLOPs per multiply-add: N * H_out * W_out * C_out * C_in * k * k MACs, bias not counted
    assert count_flops(conv, (2, 3, 16, 20)) == 2 * (2 * 16 * 20 * 8 * 3 * 3 * 3)
    assert count_params(conv) == 8 * 3 * 3 * 3 + 8


def test_strided_grouped_conv_matches_hand_count() -> None:
    conv = nn.Conv2d(8, 12, 3, stride=2, padding=1, groups=4, bias=False)
    # 15x15 -> 8x8 output, each output channel sees 8 / 4 = 2 input channels
    assert count_flops(conv, (1, 8, 15, 15)) == 2 * (8 * 8 * 12 * 2 * 9)
    assert conv2d_flops(8, 12, 3, (8, 8), groups=4) == 2 * (8 * 8 * 12 * 2 * 9)
    assert count_params(conv) == 12 * 2 * 9


def test_dncnn_flops_are_the_sum_of_its_convs() -> None:
    net = build_model("dncnn", in_ch=1, out_ch=1, depth=4, width=6, bn=False, seed=0)
    h, w = 10, 14
    hand = 2 * h * w * 9 * (1 * 6 + 6 * 6 + 6 * 6 + 6 * 1)
    assert count_flops(net, (1, 1, h, w)) == hand
    assert count_flops(net, (3, 1, h, w)) == 3 * hand
    assert count_params(net) == (9 * 6 + 6) + 2 * (9 * 36 + 6) + (9 * 6 + 1)


def test_trainable_only_and_shared_parameters() -> None:
    lin = nn.Linear(4, 4)
    seq = nn.Sequential(lin, lin)  # shared module counted once
    assert count_params(seq) == 20
    lin.bias.requires_grad_(False)
    assert count_params(seq, trainable_only=True) == 16


def test_model_cost_ratio_and_bad_shape() -> None:
    a = model_cost(nn.Conv2d(1, 4, 3, padding=1), (1, 1, 8, 8))
    b = model_cost(nn.Conv2d(1, 2, 3, padding=1), (1, 1, 8, 8))
    assert b.ratio_to(a) == {"params": 20 / 40, "flops": 0.5}
    with pytest.raises(ValueError, match="input_shape"):
        count_flops(nn.Identity(), (1, 8, 8))


def test_count_flops_restores_training_mode() -> None:
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)).train()
    count_flops(net, (1, 1, 6, 6))
    assert net.training
    assert torch.equal(net[1].running_mean, torch.zeros(2))  # eval mode: stats untouched
