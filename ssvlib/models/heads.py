"""Fusion heads: turn the features of a tuple's elements (B, N, D) into class logits.

- ``PairwiseHead``: OPN's and VCOP's pairwise feature extraction (order prediction).
- ``ConcatHead``: Shuffle and Learn's concatenation (is the tuple in order?).
- ``ElementFC``: fully connected layers applied to each element alone, shared by all of them
  (CaffeNet's fc6 and fc7 in Shuffle and Learn and OPN), before a head fuses the elements.
- ``SumOfDifferencesHead``: O3N's sum-of-differences fusion (which element is odd?).

The order of the elements along dim 1 is the order the network saw them in; every head keeps
it, since that order is what the pretext tasks ask about.
"""

from __future__ import annotations

from itertools import combinations

import torch
from torch import Tensor, nn


def element_pairs(num_elements: int) -> list[tuple[int, int]]:
    """Every unordered pair (i, j), i < j, of element positions, in itertools order."""
    return list(combinations(range(num_elements), 2))


def check_features(feats: Tensor, num_elements: int, feature_dim: int, name: str) -> None:
    """Raise a clear ValueError unless `feats` is shaped (B, num_elements, feature_dim)."""
    if feats.dim() != 3 or feats.shape[1:] != (num_elements, feature_dim):
        raise ValueError(
            f"{name} expects features shaped (B, N={num_elements}, D={feature_dim}), got "
            f"{tuple(feats.shape)}; build the head with the tuple length and the encoder's "
            "feature_dim"
        )


def _check_sizes(
    name: str, feature_dim: int, num_elements: int, num_classes: int, least: int
) -> None:
    """Reject non-positive sizes and tuples shorter than `least`."""
    if feature_dim < 1 or num_classes < 1:
        raise ValueError(
            f"{name}: feature_dim and num_classes must be >= 1, got {feature_dim}, {num_classes}"
        )
    if num_elements < least:
        raise ValueError(
            f"{name} needs at least {least} tuple elements, got num_elements={num_elements}"
        )


class ElementFC(nn.Module):
    """Linear, batch norm, ReLU and dropout per width, applied to each element's features alone.

    (B, N, D) -> (B, N, widths[-1]); one set of weights for every element, so the elements stay
    a Siamese network up to here: Shuffle and Learn's fc6 and fc7 (4,096 each, batch norm,
    dropout 0.5), OPN's fc6. No widths: the identity.
    """

    def __init__(self, feature_dim: int, widths: tuple[int, ...] = (), dropout: float = 0.5):
        super().__init__()
        layers: list[nn.Module] = []
        width = feature_dim
        for out in widths:
            layers += [
                nn.Linear(width, out, bias=False),
                nn.BatchNorm1d(out),
                nn.ReLU(inplace=True),
                nn.Dropout(dropout),
            ]
            width = out
        self.layers = nn.Sequential(*layers)
        self.out_dim = width

    def forward(self, feats: Tensor) -> Tensor:
        """(B, N, D) -> (B, N, out_dim)."""
        if not len(self.layers):
            return feats
        return self.layers(feats.flatten(0, 1)).reshape(*feats.shape[:2], self.out_dim)


class PairwiseHead(nn.Module):
    """Pairwise feature extraction (OPN, VCOP): score every pair of elements, then classify.

    For each pair i < j the features are concatenated [f_i, f_j] (2D) and sent through one
    shared Linear(2D, hidden) + ReLU (OPN's fc7); the pair outputs are concatenated in pair
    order (num_pairs * hidden), dropped out, and classified by Linear(num_pairs * hidden,
    num_classes) (fc8). VCOP: 3 clips, 3 pairs, 6 classes; OPN: 4 frames, 6 pairs, 12 classes.
    With ``element_fc`` widths, each element first goes through `ElementFC` (OPN's fc6 per
    frame, with batch norm and dropout), and the pairs are made of its outputs. With
    ``hidden_bn``, batch norm comes between fc7 and its ReLU, one for all pairs (OPN's code
    shares fc7's weights and batch-norm statistics across the pairs).
    """

    def __init__(
        self,
        feature_dim: int,
        num_elements: int,
        num_classes: int,
        hidden: int = 512,
        dropout: float = 0.5,
        element_fc: tuple[int, ...] = (),
        hidden_bn: bool = False,
    ) -> None:
        super().__init__()
        _check_sizes("PairwiseHead", feature_dim, num_elements, num_classes, least=2)
        self.feature_dim = feature_dim
        self.num_elements = num_elements
        self.num_classes = num_classes
        self.element_fc = ElementFC(feature_dim, tuple(element_fc), dropout)
        self.pairs = element_pairs(num_elements)
        first = torch.tensor([i for i, _ in self.pairs])
        second = torch.tensor([j for _, j in self.pairs])
        self.register_buffer("first", first, persistent=False)
        self.register_buffer("second", second, persistent=False)
        self.pair_fc = nn.Linear(2 * self.element_fc.out_dim, hidden, bias=not hidden_bn)
        self.pair_bn = nn.BatchNorm1d(hidden) if hidden_bn else nn.Identity()
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(len(self.pairs) * hidden, num_classes)

    @property
    def num_pairs(self) -> int:
        """How many element pairs the head looks at: N (N - 1) / 2."""
        return len(self.pairs)

    def forward(self, feats: Tensor) -> Tensor:
        """(B, N, D) features -> (B, num_classes) logits."""
        check_features(feats, self.num_elements, self.feature_dim, "PairwiseHead")
        feats = self.element_fc(feats)
        pairs = torch.cat([feats[:, self.first], feats[:, self.second]], dim=2)  # (B, P, 2D)
        hidden = self.pair_bn(self.pair_fc(pairs).flatten(0, 1)).unflatten(0, pairs.shape[:2])
        hidden = self.relu(hidden)  # (B, P, hidden): one shared fc7 for every pair
        return self.classifier(self.dropout(hidden.flatten(1)))


class ConcatHead(nn.Module):
    """Concatenation fusion (Shuffle and Learn; O3N's baseline): [f_1, ..., f_N] -> classifier.

    With ``element_fc`` widths, each element's features first go through `ElementFC` (shared
    weights). The N vectors are then concatenated in order; with ``hidden`` set, a
    Linear(N * D, hidden) (+ batch norm with ``hidden_bn``) + ReLU comes next; then dropout
    and a Linear to num_classes. The dropout before the classifier is `classifier_dropout`, or
    by default `dropout`, except when `element_fc` feeds the classifier directly (its layers
    already dropped units: Shuffle and Learn's fc8 reads fc7).
    Shuffle and Learn: element_fc=(4096, 4096) (fc6, fc7), their three outputs concatenated
    straight into a 2-way classifier (hidden=None).
    """

    def __init__(
        self,
        feature_dim: int,
        num_elements: int,
        num_classes: int,
        hidden: int | None = None,
        dropout: float = 0.5,
        element_fc: tuple[int, ...] = (),
        hidden_bn: bool = False,
        classifier_dropout: float | None = None,
    ) -> None:
        super().__init__()
        _check_sizes("ConcatHead", feature_dim, num_elements, num_classes, least=1)
        self.feature_dim = feature_dim
        self.num_elements = num_elements
        self.num_classes = num_classes
        self.element_fc = ElementFC(feature_dim, tuple(element_fc), dropout)
        width = num_elements * self.element_fc.out_dim
        layers: list[nn.Module] = []
        if hidden is not None:
            layers.append(nn.Linear(width, hidden, bias=not hidden_bn))
            layers += [nn.BatchNorm1d(hidden)] if hidden_bn else []
            layers.append(nn.ReLU(inplace=True))
            width = hidden
        self.hidden = nn.Sequential(*layers)
        if classifier_dropout is None:
            classifier_dropout = dropout if hidden is not None or not element_fc else 0.0
        self.dropout = nn.Dropout(classifier_dropout)
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, feats: Tensor) -> Tensor:
        """(B, N, D) features -> (B, num_classes) logits."""
        check_features(feats, self.num_elements, self.feature_dim, "ConcatHead")
        fused = self.element_fc(feats).flatten(1)
        return self.classifier(self.dropout(self.hidden(fused)))


def sum_of_differences(feats: Tensor) -> Tensor:
    """For every element i, d_i = sum_j (f_i - f_j) = N f_i - sum_j f_j; (B, N, D) -> (B, N, D)."""
    n = feats.shape[1]
    return n * feats - feats.sum(dim=1, keepdim=True)


class SumOfDifferencesHead(nn.Module):
    """O3N's sum-of-differences fusion, kept per element so the odd one's position survives.

    The paper (Fernando et al. 2017) fuses the branches by "the sum of differences" of their
    activations over pairs of branches; REFERENCE.md: "sum over pairs of feature differences".
    Read literally, summing f_j - f_i over all pairs i < j gives ONE vector,
    sum_k (2k - N + 1) f_k: the odd element then shows up only as a scalar weight on its
    features, and its position (the answer) is hard to read back.
    Our choice: for each element i we sum its differences to all the others,
    d_i = sum_j (f_i - f_j) = N f_i - sum_j f_j (each pair's difference, seen from both ends),
    and concatenate d_1 ... d_N in order (N * D) -> dropout -> Linear to num_classes.
    What is common to all elements cancels; what sets one element apart stays at its position.
    With ``element_fc`` widths, each element's features first go through `ElementFC` (shared
    weights), as in `ConcatHead`, so that both fusions read the same per-element features;
    `classifier_dropout` (default: `dropout`) is the dropout before the classifier.
    """

    def __init__(
        self,
        feature_dim: int,
        num_elements: int,
        num_classes: int,
        dropout: float = 0.5,
        element_fc: tuple[int, ...] = (),
        classifier_dropout: float | None = None,
    ) -> None:
        super().__init__()
        _check_sizes("SumOfDifferencesHead", feature_dim, num_elements, num_classes, least=2)
        self.feature_dim = feature_dim
        self.num_elements = num_elements
        self.num_classes = num_classes
        self.element_fc = ElementFC(feature_dim, tuple(element_fc), dropout)
        self.dropout = nn.Dropout(dropout if classifier_dropout is None else classifier_dropout)
        self.classifier = nn.Linear(num_elements * self.element_fc.out_dim, num_classes)

    def forward(self, feats: Tensor) -> Tensor:
        """(B, N, D) features -> (B, num_classes) logits."""
        check_features(feats, self.num_elements, self.feature_dim, "SumOfDifferencesHead")
        fused = sum_of_differences(self.element_fc(feats)).flatten(1)
        return self.classifier(self.dropout(fused))
