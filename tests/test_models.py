"""Encoders, fusion heads and the tuple model: shapes, errors, and the properties a task uses."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ssvlib.models.encoders import (
    C3D,
    ENCODERS,
    build_encoder,
    conv2plus1d,
    conv3d_full,
    count_parameters,
    describe_encoder,
    r21d_mid_channels,
)
from ssvlib.models.heads import (
    ConcatHead,
    PairwiseHead,
    SumOfDifferencesHead,
    sum_of_differences,
)
from ssvlib.models.tuple_model import TupleModel

PAPER_ENCODERS = ("c3d", "r3d", "r21d")
SMALL_CLIP = {  # the smallest quick input each encoder accepts (C3D halves time four times)
    "small3d": (3, 8, 32, 32),
    "c3d": (3, 16, 32, 32),
    "r3d": (3, 8, 32, 32),
    "r21d": (3, 8, 32, 32),
    "r3d_18": (3, 8, 32, 32),
    "r21d_18": (3, 8, 32, 32),
}


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# --------------------------------------------------------------------------- encoders


@pytest.mark.parametrize("name", PAPER_ENCODERS)
def test_paper_encoders_give_512_features_at_16x112x112(name):
    model = build_encoder(name).eval()
    with torch.inference_mode():
        out = model(torch.randn(2, 3, 16, 112, 112))
    assert model.feature_dim == 512
    assert out.shape == (2, 512)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", [n for n in ENCODERS if n != "c3d"])  # C3D: next test
def test_features_are_the_average_of_the_conv5_map(name):
    model = build_encoder(name).eval()
    x = torch.randn(2, *SMALL_CLIP[name])
    with torch.inference_mode():
        feats, fmap = model(x), model.feature_map(x)
    assert isinstance(model.feature_dim, int)
    assert feats.shape == (2, model.feature_dim)
    assert fmap.dim() == 5 and fmap.shape[:2] == (2, model.feature_dim)
    assert torch.allclose(feats, fmap.mean(dim=(2, 3, 4)), atol=1e-5)
    if name != "small3d":  # the ResNets: time /8, space /16 (16x112x112 -> 2x7x7)
        _, t, h, w = SMALL_CLIP[name]
        assert fmap.shape[2:] == (t // 8, h // 16, w // 16)


def test_c3d_features_are_the_average_of_pool5_of_the_conv5_map():
    model = build_encoder("c3d").eval()
    x = torch.randn(2, *SMALL_CLIP["c3d"])
    with torch.inference_mode():
        feats, fmap = model(x), model.feature_map(x)
    assert feats.shape == (2, 512) and fmap.shape[:2] == (2, 512)
    assert torch.allclose(feats, model.pool5(fmap).mean(dim=(2, 3, 4)), atol=1e-5)
    assert fmap.shape[2:] == (2, 2, 2)  # time /8, space /16 (16x112x112 -> 2x7x7)


def test_describe_encoder_reports_size_and_map():
    model = build_encoder("small3d")
    info = describe_encoder(model, clip_shape=(3, 8, 64, 64))
    assert info["parameters"] == count_parameters(model)
    assert info["feature_dim"] == 128 and info["feature_map"] == (128, 4, 4, 4)
    assert model.training  # left in the mode it came in


def test_small3d_takes_other_channel_counts_and_single_frames():
    model = build_encoder("small3d", in_channels=1).eval()
    with torch.inference_mode():
        assert model(torch.randn(2, 1, 8, 48, 48)).shape == (2, model.feature_dim)
        assert model(torch.randn(2, 1, 1, 48, 48)).shape == (2, model.feature_dim)


@pytest.mark.parametrize("name", ["r3d", "r21d_18"])
def test_resnets_take_other_channel_counts(name):
    model = build_encoder(name, in_channels=1).eval()
    with torch.inference_mode():
        assert model(torch.randn(1, 1, 8, 32, 32)).shape == (1, 512)


def test_layers_sets_the_blocks_per_stage():
    ten, eighteen = build_encoder("r3d"), build_encoder("r3d", layers=(2, 2, 2, 2))
    assert [len(s) for s in (ten.conv2, ten.conv3, ten.conv4, ten.conv5)] == [1, 1, 1, 1]
    assert [len(s) for s in (eighteen.conv2, eighteen.conv5)] == [2, 2]
    assert count_parameters(eighteen) > count_parameters(ten)


def test_r21d_middle_width_keeps_the_parameter_count_of_the_full_conv():
    assert r21d_mid_channels(64, 64) == 144  # Tran et al.'s example: 64 -> 144 -> 64
    for cin, cout in [(64, 64), (64, 128), (256, 512)]:
        full = count_parameters(conv3d_full(cin, cout))
        split = count_parameters(conv2plus1d(cin, cout))
        assert abs(split - full) / full < 0.02


def test_unknown_encoder_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="small3d") as err:
        build_encoder("resnet50")
    assert "r21d_18" in str(err.value)


def test_bad_inputs_raise_clear_errors():
    model = build_encoder("small3d")
    with pytest.raises(ValueError, match="channels"):
        model(torch.randn(1, 8, 3, 32, 32))  # (B, T, C, H, W) by mistake
    with pytest.raises(ValueError, match="5D"):
        model(torch.randn(3, 8, 32, 32))
    with pytest.raises(TypeError, match="float"):
        model(torch.zeros(1, 3, 8, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match="16 frames"):
        C3D()(torch.randn(1, 3, 8, 32, 32))


def test_count_parameters_counts_trainable_ones_apart():
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    assert count_parameters(model) == (3 * 2 + 2) + (2 + 1)
    model[0].requires_grad_(False)
    assert count_parameters(model, trainable_only=True) == 3


# --------------------------------------------------------------------------- heads


@pytest.mark.parametrize("n, pairs", [(3, 3), (4, 6)])
def test_pairwise_head_scores_every_pair(n, pairs):
    head = PairwiseHead(feature_dim=8, num_elements=n, num_classes=5, hidden=16)
    assert head.num_pairs == pairs
    assert head.classifier.in_features == pairs * 16
    assert head(torch.randn(4, n, 8)).shape == (4, 5)


@pytest.mark.parametrize(
    "head",
    [
        PairwiseHead(8, 3, 6, hidden=16),
        ConcatHead(8, 3, 2),
        ConcatHead(8, 3, 2, hidden=16),
        SumOfDifferencesHead(8, 3, 3),
    ],
    ids=["pairwise", "concat", "concat-hidden", "sum-of-differences"],
)
def test_heads_see_the_order_of_the_elements(head):
    head.eval()
    feats = torch.randn(4, 3, 8)
    swapped = feats[:, [1, 0, 2]]
    logits = head(feats)
    assert logits.shape == (4, head.num_classes)
    assert not torch.allclose(logits, head(swapped))


def test_sum_of_differences_ignores_what_all_elements_share():
    head = SumOfDifferencesHead(8, 6, 6).eval()
    feats = torch.randn(4, 6, 8)
    shared = torch.randn(4, 1, 8)
    assert torch.allclose(head(feats), head(feats + shared), atol=1e-5)
    assert torch.allclose(sum_of_differences(feats).sum(dim=1), torch.zeros(4, 8), atol=1e-5)


def test_sum_of_differences_puts_the_odd_one_at_its_position():
    feats = torch.zeros(1, 5, 4)
    feats[0, 3] = 1.0  # element 3 differs from the rest
    d = sum_of_differences(feats)[0].norm(dim=1)
    assert d.argmax().item() == 3


def test_heads_reject_features_of_the_wrong_shape():
    head = PairwiseHead(8, 3, 6)
    with pytest.raises(ValueError, match="N=3, D=8"):
        head(torch.randn(2, 4, 8))
    with pytest.raises(ValueError, match="at least 2"):
        SumOfDifferencesHead(8, 1, 1)


# --------------------------------------------------------------------------- tuple model


def test_tuple_model_on_clips_gives_one_logit_row_per_tuple():
    encoder = build_encoder("small3d")
    model = TupleModel(encoder, PairwiseHead(encoder.feature_dim, 3, 6))
    assert model(torch.randn(2, 3, 3, 8, 32, 32)).shape == (2, 6)


def test_tuple_model_applies_one_shared_encoder_to_each_element():
    encoder = build_encoder("small3d").eval()
    model = TupleModel(encoder, ConcatHead(encoder.feature_dim, 3, 2)).eval()
    x = torch.randn(2, 3, 3, 8, 32, 32)
    with torch.inference_mode():
        feats = model.encode(x)
        for i in range(3):
            assert torch.allclose(feats[:, i], encoder(x[:, i]), atol=1e-5)


def test_tuple_model_on_frames_with_a_2d_encoder():
    encoder = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    model = TupleModel(encoder, PairwiseHead(4, 4, 12, hidden=8))
    assert model(torch.randn(2, 4, 3, 16, 16)).shape == (2, 12)


# --------------------------------------------------------------------------- paper preset


@pytest.mark.slow
@pytest.mark.parametrize("name", PAPER_ENCODERS)
def test_paper_preset_one_sgd_step(name):
    """VCOP at paper scale: one tuple of 3 clips of 16x112x112, SGD as in the paper's code."""
    encoder = build_encoder(name)
    model = TupleModel(encoder, PairwiseHead(encoder.feature_dim, 3, 6))
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)
    before = [p.detach().clone() for p in model.parameters()]
    loss = nn.functional.cross_entropy(model(torch.randn(1, 3, 3, 16, 112, 112)), torch.tensor([4]))
    opt.zero_grad()
    loss.backward()
    assert torch.isfinite(loss)
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
    assert next(encoder.parameters()).grad.abs().sum() > 0  # the gradient reaches conv1
    opt.step()
    changed = [not torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True)]
    assert all(changed), f"{changed.count(False)} parameter tensors did not change"
