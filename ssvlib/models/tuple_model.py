"""TupleModel: one shared encoder applied to every element of a tuple, then a fusion head."""

from __future__ import annotations

from torch import Tensor, nn


class TupleModel(nn.Module):
    """Siamese tuple network: ``head(encoder(each element))``.

    Input: a tuple batch (B, N, ...) -- clips (B, N, C, T, H, W) for a 3D encoder, frames
    (B, N, C, H, W) for a 2D one. All B * N elements go through the encoder in one call (the
    weights are shared, and so are the batch-norm statistics), the features are reshaped to
    (B, N, D) with the elements in the order given, and the head turns them into (B, classes)
    logits. After pretext training, ``model.encoder`` is the part that is kept.
    """

    def __init__(self, encoder: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head

    def encode(self, x: Tensor) -> Tensor:
        """Features of every element: (B, N, ...) -> (B, N, D)."""
        if x.dim() < 3:
            raise ValueError(
                f"TupleModel expects a tuple batch (B, N, C, ...) , got shape {tuple(x.shape)}"
            )
        batch, num = x.shape[:2]
        feats = self.encoder(x.flatten(0, 1))
        return feats.reshape(batch, num, -1)

    def forward(self, x: Tensor) -> Tensor:
        """Class logits (B, num_classes) for a tuple batch (B, N, ...)."""
        return self.head(self.encode(x))
