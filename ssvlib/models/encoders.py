"""Encoders: 3D clip networks (a small CPU network, C3D, R3D and R(2+1)D as in the VCOP code) and
2D frame networks (a small CPU network and CaffeNet with batch norm, as in Shuffle and Learn and
OPN).

A 3D encoder takes a float clip batch (B, C, T, H, W), a 2D encoder an image batch (B, C, H, W);
every encoder has:

- ``feature_dim``: the length of the pooled feature vector;
- ``feature_map(x) -> (B, C', T', H', W')``: the last convolutional ("conv5") map;
- ``forward(x) -> (B, feature_dim)``: that map, globally average-pooled (always exactly that:
  `ssvlib.evaluate.encode_videos` takes the pooled feature and the retrieval feature from one
  ``feature_map`` call).

No encoder ever downloads weights. ``build_encoder(name)`` builds one by name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torchvision
from torch import Tensor, nn

from ..settings import check_choice

ENCODERS = ("small3d", "c3d", "r3d", "r21d", "r3d_18", "r21d_18", "small2d", "caffenet")
ENCODERS_2D = ("small2d", "caffenet")  # frame encoders, for Shuffle and Learn, OPN and O3N
ENCODERS_3D = tuple(name for name in ENCODERS if name not in ENCODERS_2D)  # clip encoders: VCOP
Triple = tuple[int, int, int]


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters in `model` (only those with requires_grad when trainable_only)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def check_clip_batch(
    x: Tensor, in_channels: int, name: str, min_size: tuple[int, int, int] = (1, 1, 1)
) -> None:
    """Raise a clear error unless `x` is a float (B, in_channels, T, H, W) batch of at least min_size."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} expects a torch.Tensor clip batch, got {type(x).__name__}")
    if x.dim() != 5:
        raise ValueError(
            f"{name} expects a 5D clip batch (B, C, T, H, W), got shape {tuple(x.shape)}; "
            "a tuple batch (B, N, C, T, H, W) goes through ssvlib.models.tuple_model.TupleModel"
        )
    if x.shape[1] != in_channels:
        raise ValueError(
            f"{name} expects {in_channels} channels in dim 1 of (B, C, T, H, W), got shape "
            f"{tuple(x.shape)}; transforms give (T, C, H, W) clips: ssvlib.data.transforms."
            f"normalize turns them into (C, T, H, W), or build the encoder with in_channels="
            f"{x.shape[1]}"
        )
    if not x.is_floating_point():
        raise TypeError(
            f"{name} expects a float clip batch, got dtype {x.dtype}; "
            "convert with ssvlib.data.transforms.normalize"
        )
    t, h, w = x.shape[2:]
    min_t, min_h, min_w = min_size
    if t < min_t or h < min_h or w < min_w:
        raise ValueError(
            f"{name} needs clips of at least {min_t} frames of {min_h}x{min_w} pixels, "
            f"got {t} frames of {h}x{w}; use longer clips or larger crops"
        )


def check_image_batch(x: Tensor, in_channels: int, name: str) -> None:
    """Raise a clear error unless `x` is a float (B, in_channels, H, W) batch."""
    if x.dim() != 4 or x.shape[1] != in_channels or not x.is_floating_point():
        raise ValueError(
            f"{name} expects a float image batch (B, {in_channels}, H, W), got "
            f"{tuple(x.shape)} of {x.dtype}; wrap it in ssvlib.models.tuple_model."
            f"ElementEncoder to feed it uint8 frames"
        )


def init_weights(model: nn.Module) -> None:
    """Kaiming-normal convolutions, unit batch norms, small linear layers (torchvision's scheme)."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm3d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


def conv_bn_relu(in_ch: int, out_ch: int, stride: int | Triple = 1) -> nn.Sequential:
    """A 3x3x3 convolution, batch norm and ReLU (no bias: batch norm has one)."""
    return nn.Sequential(
        nn.Conv3d(in_ch, out_ch, kernel_size=3, stride=stride, padding=1, bias=False),
        nn.BatchNorm3d(out_ch),
        nn.ReLU(inplace=True),
    )


# --------------------------------------------------------------------------------------------
# Small3D: the CPU preset's encoder
# --------------------------------------------------------------------------------------------


class Small3D(nn.Module):
    """Four conv-BN-ReLU blocks (16-32-64-128 channels) for CPU runs on small, short clips.

    Block 1 is a 3x7x7 convolution with spatial stride 4 (ResNet's stride-2 stem and stride-2
    max-pool folded into one: 35-40% faster per training step on CPU than a 3x3x3 conv plus
    pooling, same output size). Block 2 max-pools space only, so time keeps full resolution
    through three convolutions; block 3 max-pools time and space by 2; block 4's map is the
    "conv5" map. Pools round up (ceil_mode), so any clip size works, even a single frame
    (T=1). The conv5 map is (128, 4, 4, 4) at 8x64x64 and (128, 8, 7, 7) at 16x112x112.
    """

    def __init__(self, in_channels: int = 3, widths: Sequence[int] = (16, 32, 64, 128)) -> None:
        super().__init__()
        if len(widths) != 4:
            raise ValueError(f"Small3D takes 4 block widths, got widths={tuple(widths)}")
        w1, w2, w3, w4 = widths
        self.in_channels = in_channels
        self.feature_dim = w4
        self.block1 = nn.Sequential(
            nn.Conv3d(in_channels, w1, (3, 7, 7), stride=(1, 4, 4), padding=(1, 3, 3), bias=False),
            nn.BatchNorm3d(w1),
            nn.ReLU(inplace=True),
        )
        self.block2 = nn.Sequential(conv_bn_relu(w1, w2), nn.MaxPool3d((1, 2, 2), ceil_mode=True))
        self.block3 = nn.Sequential(conv_bn_relu(w2, w3), nn.MaxPool3d(2, ceil_mode=True))
        self.block4 = conv_bn_relu(w3, w4)
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        init_weights(self)

    def feature_map(self, x: Tensor) -> Tensor:
        """The last block's map (B, widths[-1], T/2, H/8, W/8), rounded up."""
        check_clip_batch(x, self.in_channels, "Small3D")
        return self.block4(self.block3(self.block2(self.block1(x))))

    def forward(self, x: Tensor) -> Tensor:
        """Globally average-pooled features (B, feature_dim)."""
        return self.avgpool(self.feature_map(x)).flatten(1)


# --------------------------------------------------------------------------------------------
# C3D with batch norm (Tran et al. 2015, as used by VCOP)
# --------------------------------------------------------------------------------------------


class C3D(nn.Module):
    """C3D with batch norm: 8 convs 64-128-256-256-512-512-512-512, 3x3x3 kernels, then 512-d.

    Pools as in C3D: pool1 halves space only, pool2-pool4 halve time and space. As in the
    official VCOP code, conv5b is global-average-pooled straight into 512 numbers: there is no
    pool5 and none of C3D's fc6-fc8. Needs clips of at least 16 frames. At 16x112x112 the conv5
    map (``feature_map``) is (512, 2, 7, 7).
    """

    feature_dim = 512

    def __init__(self, in_channels: int = 3) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.conv1 = conv_bn_relu(in_channels, 64)
        self.pool1 = nn.MaxPool3d(kernel_size=(1, 2, 2), stride=(1, 2, 2))
        self.conv2 = conv_bn_relu(64, 128)
        self.pool2 = nn.MaxPool3d(kernel_size=2, stride=2)
        self.conv3 = nn.Sequential(conv_bn_relu(128, 256), conv_bn_relu(256, 256))
        self.pool3 = nn.MaxPool3d(kernel_size=2, stride=2)
        self.conv4 = nn.Sequential(conv_bn_relu(256, 512), conv_bn_relu(512, 512))
        self.pool4 = nn.MaxPool3d(kernel_size=2, stride=2)
        self.conv5 = nn.Sequential(conv_bn_relu(512, 512), conv_bn_relu(512, 512))
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        init_weights(self)

    def feature_map(self, x: Tensor) -> Tensor:
        """The conv5b map (B, 512, T/8, H/16, W/16)."""
        check_clip_batch(x, self.in_channels, "C3D", min_size=(16, 16, 16))
        x = self.pool1(self.conv1(x))
        x = self.pool2(self.conv2(x))
        x = self.pool3(self.conv3(x))
        x = self.pool4(self.conv4(x))
        return self.conv5(x)

    def forward(self, x: Tensor) -> Tensor:
        """Globally average-pooled conv5b features (B, 512)."""
        return self.avgpool(self.feature_map(x)).flatten(1)


# --------------------------------------------------------------------------------------------
# R3D and R(2+1)D (Tran et al. 2018), built as in the VCOP code: 1 block per stage by default
# --------------------------------------------------------------------------------------------


def r21d_mid_channels(in_ch: int, out_ch: int, t: int = 3, d: int = 3) -> int:
    """Tran et al.'s M = floor(t d^2 N_in N_out / (d^2 N_in + t N_out)): same parameters as t x d x d."""
    return (t * d * d * in_ch * out_ch) // (d * d * in_ch + t * out_ch)


def conv3d_full(
    in_ch: int, out_ch: int, kernel: Triple = (3, 3, 3), stride: Triple = (1, 1, 1)
) -> nn.Module:
    """A full t x d x d convolution with 'same' padding (R3D)."""
    padding = tuple(k // 2 for k in kernel)
    return nn.Conv3d(in_ch, out_ch, kernel, stride=stride, padding=padding, bias=False)


def conv2plus1d(
    in_ch: int, out_ch: int, kernel: Triple = (3, 3, 3), stride: Triple = (1, 1, 1)
) -> nn.Module:
    """A (2+1)D convolution: 1 x d x d in space, BN, ReLU, then t x 1 x 1 in time (R(2+1)D)."""
    t, d, _ = kernel
    mid = r21d_mid_channels(in_ch, out_ch, t=t, d=d)
    return nn.Sequential(
        nn.Conv3d(
            in_ch, mid, (1, d, d), stride=(1, *stride[1:]), padding=(0, d // 2, d // 2), bias=False
        ),
        nn.BatchNorm3d(mid),
        nn.ReLU(inplace=True),
        nn.Conv3d(
            mid, out_ch, (t, 1, 1), stride=(stride[0], 1, 1), padding=(t // 2, 0, 0), bias=False
        ),
    )


ConvBuilder = Callable[..., nn.Module]


class ResBlock(nn.Module):
    """A basic residual block: conv-BN-ReLU-conv-BN plus a shortcut, then ReLU."""

    def __init__(self, in_ch: int, out_ch: int, conv: ConvBuilder, downsample: bool) -> None:
        super().__init__()
        stride = (2, 2, 2) if downsample else (1, 1, 1)
        self.conv1 = nn.Sequential(conv(in_ch, out_ch, stride=stride), nn.BatchNorm3d(out_ch))
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Sequential(conv(out_ch, out_ch), nn.BatchNorm3d(out_ch))
        self.shortcut = nn.Identity()
        if downsample or in_ch != out_ch:  # a 1x1x1 convolution of the block's own kind
            self.shortcut = nn.Sequential(
                conv(in_ch, out_ch, kernel=(1, 1, 1), stride=stride), nn.BatchNorm3d(out_ch)
            )

    def forward(self, x: Tensor) -> Tensor:
        """relu(conv2(relu(conv1(x))) + shortcut(x))."""
        return self.relu(self.conv2(self.relu(self.conv1(x))) + self.shortcut(x))


def res_stage(
    in_ch: int, out_ch: int, blocks: int, conv: ConvBuilder, downsample: bool
) -> nn.Sequential:
    """`blocks` residual blocks; the first one may halve time and space."""
    if blocks < 1:
        raise ValueError(f"every ResNet stage needs at least 1 block, got {blocks}")
    layers = [ResBlock(in_ch, out_ch, conv, downsample)]
    layers += [ResBlock(out_ch, out_ch, conv, downsample=False) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class _VideoResNet(nn.Module):
    """Stem (64 channels, space /2), then stages conv2-conv5 of 64-128-256-512 channels."""

    feature_dim = 512

    def __init__(
        self, conv: ConvBuilder, layers: Sequence[int], in_channels: int, name: str
    ) -> None:
        super().__init__()
        if len(layers) != 4:
            raise ValueError(f"{name} takes 4 blocks-per-stage numbers, got layers={tuple(layers)}")
        self.in_channels = in_channels
        self.layers = tuple(layers)
        self.name = name
        self.stem = nn.Sequential(
            conv(in_channels, 64, kernel=(3, 7, 7), stride=(1, 2, 2)),
            nn.BatchNorm3d(64),
            nn.ReLU(inplace=True),
        )
        self.conv2 = res_stage(64, 64, layers[0], conv, downsample=False)
        self.conv3 = res_stage(64, 128, layers[1], conv, downsample=True)
        self.conv4 = res_stage(128, 256, layers[2], conv, downsample=True)
        self.conv5 = res_stage(256, 512, layers[3], conv, downsample=True)
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        init_weights(self)

    def feature_map(self, x: Tensor) -> Tensor:
        """The conv5 map (B, 512, T/8, H/16, W/16)."""
        check_clip_batch(x, self.in_channels, self.name)
        x = self.conv3(self.conv2(self.stem(x)))
        return self.conv5(self.conv4(x))

    def forward(self, x: Tensor) -> Tensor:
        """Globally average-pooled conv5 features (B, 512)."""
        return self.avgpool(self.feature_map(x)).flatten(1)


class R3D(_VideoResNet):
    """3D ResNet: every convolution is 3x3x3 (the stem 3x7x7).

    layers=(1, 1, 1, 1) is VCOP's 10-layer network; (2, 2, 2, 2) is the 18-layer one.
    At 16x112x112 the conv5 map is (512, 2, 7, 7).
    """

    def __init__(self, layers: Sequence[int] = (1, 1, 1, 1), in_channels: int = 3) -> None:
        super().__init__(conv3d_full, layers, in_channels, name="R3D")


class R2Plus1D(_VideoResNet):
    """R(2+1)D: every 3D convolution is split into a spatial 1xdxd and a temporal tx1x1 one.

    The middle width follows Tran et al. (``r21d_mid_channels``) so each split convolution has
    as many parameters as the full one, for the stem too (83 middle channels), as in the public
    PyTorch R(2+1)D code the VCOP repository builds on; torchvision's r2plus1d_18 uses 45 in
    its stem. layers=(1, 1, 1, 1) is VCOP's 10-layer network. The shortcut of a downsampling
    block is a factorised 1x1x1 convolution (spatial stride, BN, ReLU, then temporal stride) with
    batch norm, as in that code.
    """

    def __init__(self, layers: Sequence[int] = (1, 1, 1, 1), in_channels: int = 3) -> None:
        super().__init__(conv2plus1d, layers, in_channels, name="R2Plus1D")


# --------------------------------------------------------------------------------------------
# torchvision's 18-layer video ResNets, without their classifier
# --------------------------------------------------------------------------------------------

TORCHVISION_ARCHS = ("r3d_18", "r2plus1d_18")


class TorchvisionVideoResNet(nn.Module):
    """torchvision's r3d_18 or r2plus1d_18 (random init, never downloaded) minus its fc layer.

    The modules keep torchvision's names (stem, layer1-layer4), so Kinetics weights you fetched
    yourself load with ``load_state_dict(state, strict=False)`` (the fc keys are ignored).
    """

    feature_dim = 512

    def __init__(self, arch: str = "r3d_18", in_channels: int = 3) -> None:
        super().__init__()
        check_choice("arch", arch, TORCHVISION_ARCHS)
        net = getattr(torchvision.models.video, arch)(weights=None)
        if in_channels != 3:
            first = net.stem[0]
            net.stem[0] = nn.Conv3d(
                in_channels,
                first.out_channels,
                first.kernel_size,
                first.stride,
                first.padding,
                bias=False,
            )
            nn.init.kaiming_normal_(net.stem[0].weight, mode="fan_out", nonlinearity="relu")
        self.arch = arch
        self.in_channels = in_channels
        self.stem = net.stem
        self.layer1 = net.layer1
        self.layer2 = net.layer2
        self.layer3 = net.layer3
        self.layer4 = net.layer4
        self.avgpool = nn.AdaptiveAvgPool3d(1)

    def feature_map(self, x: Tensor) -> Tensor:
        """The layer4 ("conv5") map (B, 512, T/8, H/16, W/16)."""
        check_clip_batch(x, self.in_channels, self.arch)
        x = self.layer2(self.layer1(self.stem(x)))
        return self.layer4(self.layer3(x))

    def forward(self, x: Tensor) -> Tensor:
        """Globally average-pooled layer4 features (B, 512)."""
        return self.avgpool(self.feature_map(x)).flatten(1)


# --------------------------------------------------------------------------------------------
# Small2D: a frame encoder for the CPU presets
# --------------------------------------------------------------------------------------------


class Small2D(nn.Module):
    """Four conv-BN-ReLU blocks (16-32-64-128 channels) on images: Small3D without time.

    Block 1 is a 7x7 convolution with stride 4, blocks 2 and 3 max-pool by 2 (rounding up), block
    4's map is the "conv5" map: (128, 4, 4) at 56x56. `in_channels` is 3 for a frame and 3 x T for
    a stack of T frames (O3N). Takes (B, C, H, W).
    """

    def __init__(self, in_channels: int = 3, widths: Sequence[int] = (16, 32, 64, 128)) -> None:
        super().__init__()
        if len(widths) != 4:
            raise ValueError(f"Small2D takes 4 block widths, got widths={tuple(widths)}")
        w1, w2, w3, w4 = widths
        self.in_channels = in_channels
        self.feature_dim = w4

        def block(cin: int, cout: int, kernel: int = 3, stride: int = 1) -> list[nn.Module]:
            conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False)
            return [conv, nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

        self.block1 = nn.Sequential(*block(in_channels, w1, kernel=7, stride=4))
        self.block2 = nn.Sequential(*block(w1, w2), nn.MaxPool2d(2, ceil_mode=True))
        self.block3 = nn.Sequential(*block(w2, w3), nn.MaxPool2d(2, ceil_mode=True))
        self.block4 = nn.Sequential(*block(w3, w4))
        init_weights(self)

    def feature_map(self, x: Tensor) -> Tensor:
        """The last block's map (B, widths[-1], H/16, W/16), rounded up."""
        check_image_batch(x, self.in_channels, "Small2D")
        return self.block4(self.block3(self.block2(self.block1(x))))

    def forward(self, x: Tensor) -> Tensor:
        """Globally average-pooled features (B, feature_dim)."""
        return self.feature_map(x).mean(dim=(2, 3))


class CaffeNetBN(nn.Module):
    """CaffeNet's convolutional trunk with batch norm on conv3-5, as in the Shuffle and Learn code.

    conv1 96 11x11 stride 4, max-pool 3/2, LRN; conv2 256 5x5 (2 groups), max-pool, LRN; conv3
    384, conv4 384 (2 groups), conv5 256 (2 groups), each 3x3 with batch norm; max-pool 3/2.
    The feature map is pool5, what CaffeNet's fc6 reads: (256, 6, 6) for a 227x227 frame, 9,216
    numbers flattened. The fully connected layers (fc6, fc7) belong to each paper's head, since
    only the convolutional layers are carried over to the downstream task
    (imisra/shuffle-tuple: "We initialize conv1-5 using our unsupervised pre-training").
    Takes (B, C, H, W); C is 3 for a frame.
    """

    feature_dim = 256

    def __init__(self, in_channels: int = 3) -> None:
        super().__init__()
        self.in_channels = in_channels

        def conv(cin: int, cout: int, kernel: int, groups: int = 1, bn: bool = True):
            layer = nn.Conv2d(cin, cout, kernel, padding=kernel // 2, groups=groups, bias=not bn)
            return [layer, nn.BatchNorm2d(cout), nn.ReLU(inplace=True)] if bn else [layer]

        pool = nn.MaxPool2d(3, stride=2, ceil_mode=True)  # Caffe's pooling rounds up
        lrn = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 96, 11, stride=4),
            nn.ReLU(inplace=True),
            pool,
            lrn,
            *conv(96, 256, 5, groups=2, bn=False),
            nn.ReLU(inplace=True),
            pool,
            lrn,
            *conv(256, 384, 3),
            *conv(384, 384, 3, groups=2),
            *conv(384, 256, 3, groups=2),
            pool,
        )
        init_weights(self)

    def feature_map(self, x: Tensor) -> Tensor:
        """pool5: (B, 256, 6, 6) for 227x227 frames."""
        check_image_batch(x, self.in_channels, "CaffeNetBN")
        if min(x.shape[-2:]) < 63:
            raise ValueError(
                f"CaffeNetBN needs frames of at least 63x63 pixels (227x227 in the papers), got "
                f"{tuple(x.shape[-2:])}; use small2d for small frames, or preset='paper'"
            )
        return self.features(x)

    def forward(self, x: Tensor) -> Tensor:
        """Globally average-pooled features (B, 256)."""
        return self.feature_map(x).mean(dim=(2, 3))


# --------------------------------------------------------------------------------------------


def build_encoder(name: str, **kwargs) -> nn.Module:
    """Build an encoder by name (one of ENCODERS); kwargs go to its constructor (e.g. in_channels).

    "r3d" and "r21d" are VCOP's 10-layer ResNets (pass layers=(2, 2, 2, 2) for 18 layers of the
    same design); "r3d_18" and "r21d_18" are torchvision's 18-layer networks.
    """
    check_choice("encoder", name, ENCODERS)
    if name == "small3d":
        return Small3D(**kwargs)
    if name == "small2d":
        return Small2D(**kwargs)
    if name == "caffenet":
        return CaffeNetBN(**kwargs)
    if name == "c3d":
        return C3D(**kwargs)
    if name == "r3d":
        return R3D(**kwargs)
    if name == "r21d":
        return R2Plus1D(**kwargs)
    if name == "r3d_18":
        return TorchvisionVideoResNet("r3d_18", **kwargs)
    return TorchvisionVideoResNet("r2plus1d_18", **kwargs)
