"""Encoders, fusion heads and the tuple model: shapes, errors, the uint8 input step, and the
properties a task and the evaluation rely on."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ssvlib.data.transforms import prepare
from ssvlib.models.encoders import (
    C3D,
    ENCODERS,
    R2Plus1D,
    Small2D,
    Small3D,
    build_encoder,
    conv2plus1d,
    conv3d_full,
    count_parameters,
    r21d_mid_channels,
)
from ssvlib.models.heads import (
    ConcatHead,
    PairwiseHead,
    SumOfDifferencesHead,
    sum_of_differences,
)
from ssvlib.models.tuple_model import ElementEncoder, TupleModel
from ssvlib.settings import Element

PAPER_ENCODERS = ("c3d", "r3d", "r21d")
SMALL_CLIP = {  # the smallest quick input each encoder takes with more than one conv5 position
    "small3d": (3, 8, 32, 32),
    "c3d": (3, 16, 32, 32),  # C3D halves time three times and needs 16 frames
    "r3d": (3, 8, 32, 32),
    "r21d": (3, 8, 32, 32),
    "r3d_18": (3, 8, 32, 32),
    "r21d_18": (3, 8, 32, 32),
    "small2d": (3, 32, 32),  # a frame encoder: (B, C, H, W)
    "caffenet": (3, 99, 99),  # pool5 is 2x2 at 99x99 (6x6 at 227x227)
}


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def uint8_clips(*shape: int) -> torch.Tensor:
    """Random uint8 pixels shaped like the datasets' output."""
    return torch.randint(0, 256, shape, dtype=torch.uint8)


# --------------------------------------------------------------------------- encoders


@pytest.mark.parametrize("name", PAPER_ENCODERS)
def test_paper_encoders_give_512_features_at_16x112x112(name):
    model = build_encoder(name).eval()
    with torch.inference_mode():
        fmap = model.feature_map(torch.randn(1, 3, 16, 112, 112))
    assert model.feature_dim == 512
    assert fmap.shape == (1, 512, 2, 7, 7)  # time /8, space /16
    assert torch.isfinite(fmap).all()


@pytest.mark.parametrize("name", ENCODERS)
def test_features_are_the_global_average_of_the_conv5_map(name):
    """evaluate.encode_videos takes both features from one feature_map call: they must agree."""
    model = build_encoder(name).eval()
    x = torch.randn(2, *SMALL_CLIP[name])
    with torch.inference_mode():
        feats, fmap = model(x), model.feature_map(x)
    assert isinstance(model.feature_dim, int)
    assert feats.shape == (2, model.feature_dim)
    assert fmap.dim() == x.dim() and fmap.shape[:2] == (2, model.feature_dim)
    assert fmap.shape[2:].numel() > 1  # more than one position: the average means something
    assert torch.allclose(feats, fmap.flatten(2).mean(2), atol=1e-5)


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
        C3D()(torch.randn(1, 3, 15, 32, 32))
    with pytest.raises(ValueError, match="ElementEncoder"):
        Small2D()(torch.randn(1, 3, 4, 32, 32))  # a clip given to a frame encoder


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


# --------------------------------------------------------------------------- the input step


def test_prepare_clip_layout_maps_pixels_to_minus_one_one():
    x = torch.zeros(2, 4, 3, 5, 6, dtype=torch.uint8)  # (B, T, C, H, W)
    x[:, :, 0] = 255  # red full, others black
    x[:, 2, 1] = 51  # frame 2 a little green
    out = prepare(x, Element(4))
    assert out.shape == (2, 3, 4, 5, 6) and out.dtype == torch.float32  # (B, C, T, H, W)
    assert torch.all(out[:, 0] == 1.0) and torch.all(out[:, 2] == -1.0)
    assert torch.allclose(out[:, 1, 2], torch.tensor(2 * 51 / 255 - 1))
    assert torch.all(out[:, 1, [0, 1, 3]] == -1.0)


def test_prepare_stack_layout_puts_frames_along_channels_in_time_order():
    x = torch.zeros(2, 3, 3, 4, 4, dtype=torch.uint8)
    for t in range(3):
        x[:, t] = 100 * t  # frame t has level 100 t in every channel
    out = prepare(x, Element(3, layout="stack"))
    assert out.shape == (2, 9, 4, 4)  # (B, T*C, H, W), frame 0's RGB first
    levels = out[0, :, 0, 0].reshape(3, 3)
    assert torch.allclose(
        levels, (torch.tensor([0.0, 100, 200]) / 255 * 2 - 1)[:, None].expand(3, 3)
    )


def test_prepare_residual_takes_differences_of_consecutive_frames():
    x = torch.zeros(1, 5, 3, 4, 4, dtype=torch.uint8)
    for t in range(5):
        x[:, t] = 10 * t * t  # a quickening brightening: differences 10, 30, 50, 70
    clip = prepare(x, Element(4, residual=True))
    assert clip.shape == (1, 3, 4, 4, 4)  # one frame fewer than read
    assert torch.allclose(clip[0, :, :, 0, 0], torch.tensor([10.0, 30, 50, 70]) / 255)
    stack = prepare(x, Element(4, residual=True, layout="stack"))
    assert stack.shape == (1, 12, 4, 4)
    still = prepare(torch.full((1, 3, 3, 4, 4), 77, dtype=torch.uint8), Element(2, residual=True))
    assert torch.all(still == 0)  # still background cancels out


def test_prepare_refuses_floats():
    with pytest.raises(ValueError, match="uint8"):
        prepare(torch.rand(1, 4, 3, 8, 8), Element(4))


def test_element_encoder_takes_uint8_elements():
    net = Small3D(widths=(4, 4, 8, 8)).eval()
    encoder = ElementEncoder(net, Element(4)).eval()
    x = uint8_clips(2, 4, 3, 16, 16)
    with torch.inference_mode():
        feats, fmap = encoder(x), encoder.feature_map(x)
        assert torch.allclose(feats, net(prepare(x, Element(4))), atol=1e-6)
        assert torch.equal(fmap, net.feature_map(prepare(x, Element(4))))
    assert encoder.feature_dim == 8 and feats.shape == (2, 8)


def test_element_encoder_stack_feeds_a_2d_encoder_the_frames_as_channels():
    element = Element(3, layout="stack")
    net = Small2D(in_channels=element.channels, widths=(4, 4, 8, 8)).eval()
    encoder = ElementEncoder(net, element).eval()
    x = uint8_clips(2, 3, 3, 32, 32)
    with torch.inference_mode():
        assert torch.allclose(encoder(x), net(prepare(x, element)), atol=1e-6)
    assert encoder.feature_dim == 8


def test_element_encoder_frames_encodes_each_frame_and_keeps_time_order():
    element = Element(3, layout="frames")
    net = Small2D(widths=(4, 4, 8, 8)).eval()
    encoder = ElementEncoder(net, element).eval()
    x = uint8_clips(2, 3, 3, 32, 32)
    with torch.inference_mode():
        feats, fmap = encoder(x), encoder.feature_map(x)
        per_frame = [net(prepare(x[:, t : t + 1], Element(1, layout="stack"))) for t in range(3)]
        swapped = encoder(x[:, [1, 0, 2]])
    assert encoder.feature_dim == 3 * 8 and feats.shape == (2, 24)
    assert torch.allclose(feats, torch.cat(per_frame, dim=1), atol=1e-6)  # frame 0's first
    assert fmap.shape == (2, 8, 3, 2, 2)  # (B, C, T, H, W), like a 3D encoder's map
    assert torch.allclose(swapped[:, :8], per_frame[1], atol=1e-6)


def test_element_encoder_on_residual_elements_ignores_what_stands_still():
    net = Small3D(widths=(4, 4, 8, 8)).eval()
    encoder = ElementEncoder(net, Element(3, residual=True)).eval()
    dark = torch.full((1, 4, 3, 16, 16), 20, dtype=torch.uint8)
    with torch.inference_mode():
        assert torch.equal(encoder(dark), encoder(dark + 200))
        assert torch.equal(encoder(dark), net(torch.zeros(1, 3, 3, 16, 16)))


def test_element_encoder_needs_an_encoder_with_feature_dim():
    with pytest.raises(ValueError, match="feature_dim"):
        ElementEncoder(nn.Conv3d(3, 4, 1), Element())


# --------------------------------------------------------------------------- tuple model


def test_tuple_model_on_clips_gives_one_logit_row_per_tuple():
    encoder = ElementEncoder(Small3D(widths=(4, 4, 8, 8)), Element(4))
    model = TupleModel(encoder, PairwiseHead(encoder.feature_dim, 3, 6, hidden=8))
    assert model(uint8_clips(2, 3, 4, 3, 16, 16)).shape == (2, 6)


def test_tuple_model_applies_one_shared_encoder_to_each_element():
    encoder = ElementEncoder(Small3D(widths=(4, 4, 8, 8)), Element(4)).eval()
    model = TupleModel(encoder, ConcatHead(encoder.feature_dim, 3, 2)).eval()
    x = uint8_clips(2, 3, 4, 3, 16, 16)
    with torch.inference_mode():
        feats = model.encode(x)
        assert feats.shape == (2, 3, 8)
        for i in range(3):
            assert torch.allclose(feats[:, i], encoder(x[:, i]), atol=1e-5)


@pytest.mark.parametrize(
    "element",
    [
        Element(1, layout="stack"),
        Element(3, layout="stack"),
        Element(3, residual=True, layout="stack"),
        Element(2, layout="frames"),
    ],
)
def test_tuple_model_on_frames_with_a_2d_encoder(element):
    encoder = ElementEncoder(Small2D(element.channels, widths=(4, 4, 4, 4)), element)
    model = TupleModel(encoder, PairwiseHead(encoder.feature_dim, 4, 12, hidden=8))
    x = uint8_clips(2, 4, element.frames_read, 3, 16, 16)
    assert model(x).shape == (2, 12)


def test_tuple_model_refuses_a_batch_without_elements():
    net = Small2D(widths=(4, 4, 4, 4))
    model = TupleModel(ElementEncoder(net, Element(layout="stack")), ConcatHead(4, 3, 2))
    with pytest.raises(ValueError, match="B, N, T, C, H, W"):
        model(torch.zeros(2, 3, dtype=torch.uint8))


def test_r21d_downsampling_shortcut_is_factorised_like_its_convolutions():
    block = R2Plus1D().conv3[0]  # 64 -> 128 channels, time and space halved
    spatial, _, _, temporal = block.shortcut[0]
    assert spatial.out_channels == 64 * 128 // (64 + 128) == 42
    assert spatial.stride == (1, 2, 2) and temporal.stride == (2, 1, 1)
    assert block.shortcut(torch.zeros(1, 64, 4, 8, 8)).shape == (1, 128, 2, 4, 4)


# --------------------------------------------------------------------------- frame networks


def test_caffenet_pool5_is_what_fc6_reads_at_227():
    net = build_encoder("caffenet").eval()
    with torch.inference_mode():
        fmap = net.feature_map(torch.randn(1, 3, 227, 227))
    assert fmap.shape == (1, 256, 6, 6)  # 9,216 numbers, CaffeNet's fc6 input
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [96, 256, 384, 384, 256]
    assert [c.groups for c in convs] == [1, 2, 1, 2, 2]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in net.modules()) == 3  # conv3-5
    with pytest.raises(ValueError, match="at least 63x63"):
        net.feature_map(torch.randn(1, 3, 32, 32))


def test_grid_pooling_keeps_where_things_are():
    net = Small2D(widths=(4, 4, 8, 8)).eval()
    element = Element(1, layout="stack")
    left = torch.zeros(1, 1, 3, 64, 64, dtype=torch.uint8)  # a 4x4 map
    left[..., :, :24] = 255
    right = left.flip(-1)
    pooled, gridded = ElementEncoder(net, element), ElementEncoder(net, element, grid=2)
    assert gridded.feature_dim == 8 * 4
    with torch.inference_mode():
        fmap = gridded.feature_map(left)
        cells = gridded(left).reshape(8, 2, 2)
        assert torch.allclose(cells.mean((1, 2)), pooled(left)[0], atol=1e-6)
        assert torch.allclose(cells[:, 0, 0], fmap[0, :, :2, :2].mean((1, 2)), atol=1e-6)
        assert not torch.allclose(gridded(left), gridded(right), atol=1e-4)
    with pytest.raises(ValueError, match="grid=0"):
        ElementEncoder(net, element, grid=0)


def test_grid_pooling_of_frames_gives_each_frame_its_cells_in_time_order():
    element = Element(3, layout="frames")
    net = Small2D(widths=(4, 4, 8, 8)).eval()
    encoder = ElementEncoder(net, element, grid=2)
    x = uint8_clips(2, 3, 3, 32, 32)
    single = ElementEncoder(net, Element(1, layout="stack"), grid=2)
    with torch.inference_mode():
        feats = encoder(x)
        per_frame = [single(x[:, t : t + 1]) for t in range(3)]
    assert encoder.feature_dim == 3 * 8 * 4 and feats.shape == (2, 96)
    assert torch.allclose(feats, torch.cat(per_frame, dim=1), atol=1e-6)


def test_element_fc_is_shared_by_the_elements_and_concat_head_reads_its_output():
    head = ConcatHead(16, 3, 2, element_fc=(8, 4), dropout=0.5).eval()
    fcs = [m for m in head.element_fc.modules() if isinstance(m, nn.Linear)]
    assert [(f.in_features, f.out_features) for f in fcs] == [(16, 8), (8, 4)]
    assert head.classifier.in_features == 3 * 4
    feats = torch.randn(5, 3, 16)
    with torch.inference_mode():
        out = head.element_fc(feats)
        alone = head.element_fc(feats[:, 1:2].expand(5, 3, 16).contiguous())
    assert out.shape == (5, 3, 4)
    assert torch.allclose(out[:, 1], alone[:, 0], atol=1e-6)  # the same weights per element
    assert head(feats).shape == (5, 2)


def test_pairwise_head_with_frame_fc_pairs_the_fc_outputs():
    head = PairwiseHead(16, 4, 12, hidden=8, element_fc=(6,)).eval()
    assert head.pair_fc.in_features == 2 * 6 and head.classifier.in_features == 6 * 8
    feats = torch.randn(3, 4, 16)
    with torch.inference_mode():
        fc6 = head.element_fc(feats)  # (B, 4, 6): OPN's fc6, one per frame
        pairs = [torch.relu(head.pair_fc(torch.cat([fc6[:, i], fc6[:, j]], 1))) for i, j in
                 head.pairs]  # fmt: skip
        by_hand = head.classifier(torch.cat(pairs, 1))
        assert torch.allclose(head(feats), by_hand, atol=1e-5)


def test_pairwise_fc7_batch_norm_pools_every_pair_of_the_batch():
    torch.manual_seed(0)
    head = PairwiseHead(8, 4, 12, hidden=5, hidden_bn=True)
    assert head.pair_fc.bias is None and head.pair_bn.num_features == 5
    feats = torch.randn(3, 4, 8)
    assert head.train()(feats).shape == (3, 12)
    pairs = torch.cat([feats[:, head.first], feats[:, head.second]], dim=2)  # (3, 6, 16)
    fc7 = head.pair_fc(pairs).detach().reshape(-1, 5)  # 18 rows: 3 tuples x 6 pairs
    assert torch.allclose(head.pair_bn.running_mean, 0.1 * fc7.mean(0), atol=1e-6)
    plain = PairwiseHead(8, 4, 12, hidden=5)
    assert isinstance(plain.pair_bn, nn.Identity) and plain.pair_fc.bias is not None
