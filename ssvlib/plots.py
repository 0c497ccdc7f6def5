"""The book's pictures: filmstrips, tuples, motion curves, training curves, splits, retrieval grids."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle


def _show(ax, image: np.ndarray, title: str | None = None, color: str | None = None) -> None:
    """One image on an axis without ticks, with an optional (coloured) title."""
    ax.imshow(image, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title, fontsize=8, color=color or "black")
    if color is not None:
        for spine in ax.spines.values():
            spine.set_edgecolor(color)
            spine.set_linewidth(2)


def filmstrips(rows: dict[str, np.ndarray], frames: int = 8, frame_labels: bool = False,
               size: float = 1.1):
    """One row per entry: `frames` evenly spaced frames of a (T, H, W, 3) video, titled by key."""
    fig, axes = plt.subplots(len(rows), frames, figsize=(frames * size * 1.25, len(rows) * size),
                             squeeze=False)
    for row, (name, video) in zip(axes, rows.items(), strict=True):
        picks = np.linspace(0, len(video) - 1, frames).round().astype(int)
        for ax, t in zip(row, picks, strict=True):
            _show(ax, video[t], f"t={t}" if frame_labels else None)
        row[0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    fig.tight_layout()
    return fig


def tuple_row(axes, images: Sequence[np.ndarray], titles: Sequence[str],
              colors: Sequence[str | None] | None = None) -> None:
    """Fill a row of axes with the elements of one tuple."""
    colors = colors or [None] * len(images)
    for ax, image, title, color in zip(axes, images, titles, colors, strict=True):
        _show(ax, image, title, color)


def split_groups(test_groups: dict[int, Sequence[int]], groups: int = 25):
    """Which groups each split tests on: a splits x groups grid, test groups dark."""
    grid = np.zeros((len(test_groups), groups))
    for row, split in enumerate(sorted(test_groups)):
        for g in test_groups[split]:
            grid[row, g - 1] = 1
    fig, ax = plt.subplots(figsize=(8, 0.5 + 0.45 * len(test_groups)))
    ax.imshow(grid, cmap="Blues", vmin=-0.2, vmax=1.2, aspect="auto")
    ax.set_xticks(range(groups), [str(g) for g in range(1, groups + 1)], fontsize=7)
    ax.set_yticks(range(len(test_groups)), [f"split {s}" for s in sorted(test_groups)])
    ax.set_xlabel("group (dark: test, light: train)")
    fig.tight_layout()
    return fig


def motion_curve(ax, motion: np.ndarray, windows: Sequence[int] = (), length: int = 0,
                 label: str = "motion") -> None:
    """A per-frame motion curve with the chosen windows shaded."""
    ax.plot(motion, lw=1.2, label=label)
    for k, start in enumerate(windows):
        ax.axvspan(start, start + length - 1, alpha=0.18, color="tab:orange",
                   label="high-motion window" if k == 0 else None)
    ax.set_xlabel("frame")
    ax.set_ylabel("motion")


def box(ax, top: int, left: int, height: int, width: int, color: str = "yellow") -> None:
    """Outline a (top, left, height, width) box on an image axis."""
    ax.add_patch(Rectangle((left - 0.5, top - 0.5), width, height, fill=False, ec=color, lw=2))


def training_curves(history: dict, keys: Sequence[str] = ("loss", "acc"), chance: float | None = None,
                    title: str = ""):
    """Train and validation loss and accuracy per epoch from a History.to_dict()."""
    epochs = [e["epoch"] for e in history["epochs"]]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.0), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        for split in ("train", "val"):
            values = [e.get(f"{split}_{key}") for e in history["epochs"]]
            if any(v is not None for v in values):
                ax.plot(epochs, values, marker="o", ms=3, label=split)
        if key == "acc" and chance is not None:
            ax.axhline(chance, ls="--", color="gray", label="chance")
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, classes: Sequence[str],
                     title: str = ""):
    """A row-normalised confusion matrix (rows: true class)."""
    n = len(classes)
    counts = np.zeros((n, n))
    np.add.at(counts, (np.asarray(labels), np.asarray(predictions)), 1)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(0.45 * n + 2, 0.45 * n + 1.5))
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), classes, rotation=90, fontsize=8)
    ax.set_yticks(range(n), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def retrieval_grid(queries: Sequence[np.ndarray], neighbours: Sequence[Sequence[np.ndarray]],
                   query_titles: Sequence[str], neighbour_titles: Sequence[Sequence[str]],
                   hits: Sequence[Sequence[bool]]):
    """Each row: a query frame, then its nearest neighbours, green where the class matches."""
    k = len(neighbours[0])
    fig, axes = plt.subplots(len(queries), k + 1, figsize=(1.5 * (k + 1), 1.5 * len(queries)),
                             squeeze=False)
    for row, q, nbrs, qt, nts, hs in zip(axes, queries, neighbours, query_titles, neighbour_titles,
                                         hits, strict=True):
        _show(row[0], q, f"query: {qt}", "black")
        for ax, image, title, hit in zip(row[1:], nbrs, nts, hs, strict=True):
            _show(ax, image, title, "tab:green" if hit else "tab:red")
    fig.tight_layout()
    return fig
