"""How tuple elements go through a network: `ElementEncoder` and `TupleModel`.

`ElementEncoder(net, element)` is the encoder every chapter trains and evaluates: it takes uint8
elements (B, T, C, H, W) exactly as the datasets yield them, runs the input step on whatever device
it lives on (`ssvlib.data.transforms.prepare`: normalise, frame differences, clip or channel-stack
layout), then the network. Pretext training, fine-tuning and feature extraction therefore all see
the same input, and samples cross to the device as uint8.

`TupleModel(encoder, head)` applies one shared encoder to every element of a tuple and fuses the
features with a head (``ssvlib.models.heads``).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ..data.transforms import prepare


class ElementEncoder(nn.Module):
    """`net` behind the input step of `element`: uint8 (B, T, C, H, W) -> (B, feature_dim).

    The feature is the net's last map averaged over time and over space, or, with ``grid=g``,
    average-pooled to a g x g grid of cells and flattened: frame encoders keep *where* things
    are that way, which is what the order of frames is about (CaffeNet's fc6 reads its whole
    6 x 6 pool5 map: grid=6). For the "frames" layout, `net` (a 2D CNN) encodes every frame and
    the features are concatenated in time order: feature_dim = T x C x g x g, and the feature
    map is (B, C, T, H, W) like a 3D CNN's.
    """

    def __init__(self, net: nn.Module, element, grid: int = 1) -> None:
        super().__init__()
        if not isinstance(getattr(net, "feature_dim", None), int):
            raise ValueError(
                f"{type(net).__name__} has no integer `feature_dim`: the encoders of "
                f"ssvlib.models.encoders set it to the size of the vector forward() returns"
            )
        if isinstance(grid, bool) or not isinstance(grid, int) or grid < 1:
            raise ValueError(f"grid={grid!r} must be an integer >= 1 (1: global average)")
        self.net = net
        self.element = element
        self.grid = grid
        frames = element.length if element.layout == "frames" else 1
        self.feature_dim = frames * net.feature_dim * grid * grid

    def forward(self, x: Tensor) -> Tensor:
        """Pooled features (B, feature_dim): the feature map, pooled as `pool` says."""
        return self.pool(self.feature_map(x))

    def feature_map(self, x: Tensor) -> Tensor:
        """The last convolutional map ("conv5"), before pooling."""
        x = prepare(x, self.element)
        if self.element.layout != "frames":
            return self.net.feature_map(x)
        b, t = x.shape[:2]
        fmap = self.net.feature_map(x.flatten(0, 1))  # (B * T, C, H, W)
        return fmap.reshape(b, t, *fmap.shape[1:]).transpose(1, 2)  # (B, C, T, H, W)

    def pool(self, fmap: Tensor) -> Tensor:
        """Average over time (not for "frames") and over space, to `grid` x `grid` cells, flattened.

        For "frames" the frames' features are concatenated in time order (time-major).
        """
        if fmap.dim() == 5 and self.element.layout != "frames":
            fmap = fmap.mean(2)  # a clip encoder's time axis
        if fmap.dim() == 5:  # frames: (B, C, T, H, W) -> (B, T, C, H, W), one grid per frame
            b, t = fmap.shape[0], fmap.shape[2]
            cells = F.adaptive_avg_pool2d(fmap.transpose(1, 2).flatten(0, 1), self.grid)
            return cells.reshape(b, t, -1).flatten(1)
        return F.adaptive_avg_pool2d(fmap, self.grid).flatten(1)


class TupleModel(nn.Module):
    """Siamese tuple network: ``head(encoder(each element))``.

    Input: a tuple batch (B, N, T, C, H, W) of uint8 elements. All B * N elements go through the
    encoder in one call (the weights are shared, and so are the batch-norm statistics), the
    features are reshaped to (B, N, D) with the elements in the order given, and the head turns
    them into (B, classes) logits. After pretext training, ``model.encoder`` is the part kept.
    """

    def __init__(self, encoder: ElementEncoder, head: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head

    def encode(self, x: Tensor) -> Tensor:
        """Features of every element: (B, N, ...) -> (B, N, D)."""
        if x.dim() < 3:
            raise ValueError(
                f"TupleModel expects a tuple batch (B, N, T, C, H, W), got shape {tuple(x.shape)}"
            )
        batch, num = x.shape[:2]
        return self.encoder(x.flatten(0, 1)).reshape(batch, num, -1)

    def forward(self, x: Tensor) -> Tensor:
        """Class logits (B, num_classes) for a tuple batch (B, N, ...)."""
        return self.head(self.encode(x))
