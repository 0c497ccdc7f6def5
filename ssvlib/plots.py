"""The book's pictures: filmstrips, tuples, motion curves, training curves, comparisons, retrieval."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
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


def filmstrips(
    rows: dict[str, np.ndarray], frames: int = 8, frame_labels: bool = False, size: float = 1.1
):
    """One row per entry: `frames` evenly spaced frames of a (T, H, W, 3) video, titled by key."""
    fig, axes = plt.subplots(
        len(rows), frames, figsize=(frames * size * 1.25, len(rows) * size), squeeze=False
    )
    for row, (name, video) in zip(axes, rows.items(), strict=True):
        picks = np.linspace(0, len(video) - 1, frames).round().astype(int)
        for ax, t in zip(row, picks, strict=True):
            _show(ax, video[t], f"t={t}" if frame_labels else None)
        row[0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    fig.tight_layout()
    return fig


def tuple_row(
    axes,
    images: Sequence[np.ndarray],
    titles: Sequence[str],
    colors: Sequence[str | None] | None = None,
) -> None:
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


def motion_curve(
    ax, motion: np.ndarray, windows: Sequence[int] = (), length: int = 0, label: str = "motion"
) -> None:
    """A per-frame motion curve with the chosen windows shaded."""
    ax.plot(motion, lw=1.2, label=label)
    for k, start in enumerate(windows):
        ax.axvspan(
            start,
            start + length - 1,
            alpha=0.18,
            color="tab:orange",
            label="high-motion window" if k == 0 else None,
        )
    ax.set_xlabel("frame")
    ax.set_ylabel("motion")


def box(ax, top: int, left: int, height: int, width: int, color: str = "yellow") -> None:
    """Outline a (top, left, height, width) box on an image axis."""
    ax.add_patch(Rectangle((left - 0.5, top - 0.5), width, height, fill=False, ec=color, lw=2))


def retrieval_grid(
    queries: Sequence[np.ndarray],
    neighbours: Sequence[Sequence[np.ndarray]],
    query_titles: Sequence[str],
    neighbour_titles: Sequence[Sequence[str]],
    hits: Sequence[Sequence[bool]],
):
    """Each row: a query frame, then its nearest neighbours, green where the class matches."""
    k = len(neighbours[0])
    fig, axes = plt.subplots(
        len(queries), k + 1, figsize=(1.5 * (k + 1), 1.5 * len(queries)), squeeze=False
    )
    for row, q, nbrs, qt, nts, hs in zip(
        axes, queries, neighbours, query_titles, neighbour_titles, hits, strict=True
    ):
        _show(row[0], q, f"query: {qt}", "black")
        for ax, image, title, hit in zip(row[1:], nbrs, nts, hs, strict=True):
            _show(ax, image, title, "tab:green" if hit else "tab:red")
    fig.tight_layout()
    return fig


def _middle_frame(element: torch.Tensor) -> np.ndarray:
    """The middle frame of a uint8 (T, C, H, W) element as an (H, W, 3) image."""
    return element[len(element) // 2].permute(1, 2, 0).numpy()


def tuple_grid(samples: Sequence[torch.Tensor], titles: Sequence[str], row_label: str = "shown"):
    """Samples side by side: one column per uint8 (N, T, C, H, W) sample, one row per element.

    Each cell shows the element's middle frame, in the order the network sees the elements.
    """
    rows = samples[0].shape[0]
    fig, axes = plt.subplots(
        rows, len(samples), figsize=(2.0 * len(samples), 1.9 * rows), squeeze=False
    )
    for col, (x, title) in enumerate(zip(samples, titles, strict=True)):
        for row in range(rows):
            _show(axes[row, col], _middle_frame(x[row]))
        axes[0, col].set_title(title, fontsize=8)
    for row in range(rows):
        axes[row, 0].set_ylabel(f"{row_label} {row + 1}", fontsize=8)
    fig.tight_layout()
    return fig


def element_input(x: torch.Tensor, element, frames: int = 4):
    """What the encoder receives for one uint8 (N, T, C, H, W) sample, element by element.

    Raw frames are shown as they are; frame differences (residual elements) are shown with grey
    for 0 and amplified x2, so that what moved stands out.
    """
    from .data.transforms import prepare

    inputs = prepare(x, element)  # (N, C, T, H, W) for clips, (N, T*C, H, W) for stacks
    if element.layout == "stack":
        inputs = inputs.unflatten(1, (-1, 3)).transpose(1, 2)
    picks = np.linspace(0, inputs.shape[2] - 1, min(frames, inputs.shape[2])).round().astype(int)
    scale = 1.0 if element.residual else 0.5
    fig, axes = plt.subplots(
        len(inputs), len(picks), figsize=(1.5 * len(picks), 1.5 * len(inputs)), squeeze=False
    )
    for row, clip in enumerate(inputs):
        for col, t in enumerate(picks):
            image = (clip[:, t].permute(1, 2, 0).numpy() * scale + 0.5).clip(0, 1)
            _show(
                axes[row, col], image, f"element {row + 1}, t={t}" if row == 0 or col == 0 else None
            )
    fig.tight_layout()
    return fig


def training_curves(history, chance: float | None = None, title: str = ""):
    """Train and validation loss and accuracy per epoch (a History or its to_dict()), best marked."""
    history = history.to_dict() if hasattr(history, "to_dict") else history
    epochs = [e["epoch"] for e in history["epochs"]]
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.0))
    for ax, key in zip(axes, ("loss", "acc"), strict=True):
        for split in ("train", "val"):
            values = [e.get(f"{split}_{key}") for e in history["epochs"]]
            if any(v is not None for v in values):
                ax.plot(epochs, values, marker="o", ms=3, label=split)
        if key == "acc" and chance is not None:
            ax.axhline(chance, ls="--", color="gray", label="chance")
        if history.get("best_epoch"):
            ax.axvline(history["best_epoch"], ls=":", color="black", label="epoch kept")
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def compare_inits(
    rows: Sequence[tuple[str, float, float]],
    chance: float,
    supervised: float | None = None,
    names: tuple[str, str] = ("pretrained", "random init"),
):
    """Bars per measure: (measure, pretrained, random init); chance and the supervised reference.

    The supervised reference is the same encoder trained from random initialisation on all
    labels (the random-init fine-tuning at 100%), a line to read every bar against.
    """
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    positions = np.arange(len(rows))
    for offset, column, name in ((-0.2, 1, names[0]), (0.2, 2, names[1])):
        values = [r[column] for r in rows]
        bars = ax.bar(positions + offset, values, 0.4, label=name)
        ax.bar_label(bars, [f"{100 * v:.0f}" for v in values], fontsize=7)
    ax.axhline(chance, ls="--", color="gray", label="chance")
    if supervised is not None:
        ax.axhline(supervised, ls=":", color="black", label="supervised reference")
    ax.set_xticks(positions, [r[0] for r in rows], fontsize=8)
    ax.set_ylabel("accuracy (video level)")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8, ncols=4, loc="upper center", bbox_to_anchor=(0.5, 1.2))
    fig.tight_layout()
    return fig


def finetune_curves(runs: dict[str, dict[float, dict]], chance: float | None = None):
    """Validation accuracy per fine-tuning epoch, one panel per label fraction, one line per init.

    `runs` maps an initialisation's name to {fraction: finetune result}; the kept epoch is marked.
    """
    fractions = sorted({f for by_fraction in runs.values() for f in by_fraction}, reverse=True)
    fig, axes = plt.subplots(1, len(fractions), figsize=(4.2 * len(fractions), 3.0), squeeze=False)
    for ax, fraction in zip(axes[0], fractions, strict=True):
        for name, by_fraction in runs.items():
            history = by_fraction[fraction]["history"]
            line = ax.plot(
                history.series("epoch"),
                history.series("val_acc"),
                marker="o",
                ms=3,
                label=name.replace("_", " "),
            )[0]
            best = history.best
            ax.plot([best["epoch"]], [best["val_acc"]], marker="*", ms=12, color=line.get_color())
        if chance is not None:
            ax.axhline(chance, ls="--", color="gray", label="chance")
        ax.set_title(f"{fraction:.0%} of the labels", fontsize=9)
        ax.set_xlabel("fine-tuning epoch")
        ax.set_ylabel("validation accuracy")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def retrieval_examples(
    features: dict[str, tuple[torch.Tensor, torch.Tensor]],
    queries: Sequence,
    gallery: Sequence,
    k: int = 4,
    n: int = 3,
    seed: int = 0,
):
    """`n` random query videos (middle frames) and their `k` nearest gallery videos by cosine,
    one row for each entry of `features` ({name: (query features, gallery features)}, such as
    the pretrained and the random-init encoder's), green where the class matches."""
    from .data.decode import read_frames, video_info
    from .evaluate import nearest_neighbours

    frames: dict[str, np.ndarray] = {}

    def middle(record) -> np.ndarray:
        if record.rel not in frames:
            count = video_info(record.path).num_frames
            frames[record.rel] = read_frames(record.path, [count // 2])[0]
        return frames[record.rel]

    picks = np.random.default_rng(seed).choice(
        len(queries), size=min(n, len(queries)), replace=False
    )
    rows = []  # (query, its neighbours, the features' name)
    for q in picks:
        for name, (query_feats, gallery_feats) in features.items():
            nearest = nearest_neighbours(query_feats[[int(q)]], gallery_feats, k)[0]
            rows.append((queries[q], [gallery[int(j)] for j in nearest], name))
    return retrieval_grid(
        [middle(query) for query, _, _ in rows],
        [[middle(r) for r in found] for _, found, _ in rows],
        [f"{query.class_name}\n({name})" for query, _, name in rows],
        [[r.class_name for r in found] for _, found, _ in rows],
        [[r.label == query.label for r in found] for query, found, _ in rows],
    )


def verification_tuples(
    frames: np.ndarray,
    motion: np.ndarray,
    five: Sequence[int],
    tuples: Sequence[tuple[str, Sequence[int], int]],
    candidates: np.ndarray | None = None,
):
    """Shuffle and Learn's sampling: the motion curve with frames a..e, then one row per tuple.

    `tuples` holds (name, the three frame indices in the order shown, label); positives are
    framed green, negatives red. `candidates`, a boolean per frame, shades the frames that lie
    in a window the sampler may pick (the high-motion ones).
    """
    fig = plt.figure(figsize=(7.2, 2.0 + 1.9 * len(tuples)))
    grid = fig.add_gridspec(1 + len(tuples), 3, height_ratios=[1.3] + [1] * len(tuples))
    curve = fig.add_subplot(grid[0, :])
    curve.plot(motion, lw=1.2, color="tab:blue", label="motion per frame")
    if candidates is not None:
        top = np.max(motion)
        curve.fill_between(
            np.arange(len(motion)), 0, top, where=candidates, color="tab:orange", alpha=0.15,
            label="in a high-motion window", step="mid",
        )  # fmt: skip
    for letter, t in zip("abcde", five, strict=True):
        curve.axvline(t, color="black", lw=0.8, ls=":")
        curve.annotate(letter, (t, 1.0), xycoords=("data", "axes fraction"), ha="center",
                       va="bottom", fontsize=9)  # fmt: skip
    curve.set_xlabel("frame")
    curve.set_ylabel("motion")
    curve.legend(fontsize=7, loc="upper right")
    names = dict(zip(five, "abcde", strict=True))
    for row, (name, shown, label) in enumerate(tuples, start=1):
        color = "tab:green" if label == 1 else "tab:red"
        axes = [fig.add_subplot(grid[row, k]) for k in range(3)]
        tuple_row(
            axes,
            [frames[t] for t in shown],
            [f"{names.get(t, '?')} (frame {t})" for t in shown],
            [color] * 3,
        )
        axes[0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    fig.tight_layout()
    return fig


def unit_patches(frames: np.ndarray, units: Sequence[Sequence], title: str = ""):
    """One row per unit: its strongest responses, each region outlined in twice its size.

    `units` holds, per unit, `ssvlib.unit_patches.Patch`es; each panel's title is the region's motion
    score (its frame-to-frame change over the frame's average).
    """
    rows, cols = len(units), max(len(u) for u in units)
    fig, axes = plt.subplots(rows, cols, figsize=(1.25 * cols, 1.2 * rows + 0.4), squeeze=False)
    height, width = frames.shape[1:3]
    for row, patches in zip(axes, units, strict=True):
        for ax, patch in zip(row, patches, strict=False):
            top, left, h, w = patch.box
            y0, x0 = max(0, top - h // 2), max(0, left - w // 2)
            y1, x1 = min(height, top + h + h // 2), min(width, left + w + w // 2)
            _show(ax, frames[patch.frame][y0:y1, x0:x1], f"motion {patch.motion:.1f}")
            box(ax, top - y0, left - x0, h, w)
        for ax in row[len(patches) :]:
            ax.axis("off")
        row[0].set_ylabel(f"unit {patches[0].unit}", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def ablation(rows: Sequence, title: str = ""):
    """Per variant: pretext validation accuracy and linear probe, seeds as dots, means as bars.

    `rows` are `ssvlib.ablation.AblationRow`s; the random-init row is the probe's reference line.
    """
    names = list(dict.fromkeys(r.variant for r in rows if r.pretext_val_acc is not None))
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 0.9 + 0.45 * len(names)), sharey=True)
    for ax, key, label in (
        (axes[0], "pretext_val_acc", "pretext validation accuracy"),
        (axes[1], "linear_probe_acc", "linear probe (video level)"),
    ):
        for y, name in enumerate(names):
            values = [getattr(r, key) for r in rows if r.variant == name]
            ax.barh(y, np.mean(values), color="tab:blue", alpha=0.35)
            ax.plot(values, [y] * len(values), "o", color="tab:blue", ms=4)
        ax.set_xlabel(label)
        ax.set_xlim(0, 1)
    chance = next(r.chance for r in rows if r.chance is not None)
    axes[0].axvline(chance, ls="--", color="gray", label="chance")
    baselines = dict.fromkeys(r.variant for r in rows if r.pretext_val_acc is None)
    for k, name in enumerate(baselines):  # one dotted line per random-init baseline
        base = [r.linear_probe_acc for r in rows if r.variant == name]
        axes[1].axvline(np.mean(base), ls=(0, (1, 1 + k)), color="black", label=name)
    for ax in axes:
        ax.legend(fontsize=7, loc="lower right")
    axes[0].set_yticks(range(len(names)), names, fontsize=8)
    axes[0].invert_yaxis()
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def sorting_tuple(
    frames: np.ndarray,
    motion: np.ndarray,
    shown: Sequence[int],
    title: str,
    candidates: np.ndarray | None = None,
):
    """An order-prediction sample: the motion curve with its frames marked by their place in
    time (1 = earliest), then the frames in the order the network sees them."""
    chronological = sorted(shown)
    fig = plt.figure(figsize=(7.2, 3.9))
    grid = fig.add_gridspec(2, len(shown), height_ratios=[1.2, 1])
    curve = fig.add_subplot(grid[0, :])
    curve.plot(motion, lw=1.2, color="tab:blue", label="motion per frame")
    if candidates is not None:
        curve.fill_between(
            np.arange(len(motion)), 0, np.max(motion), where=candidates, color="tab:orange",
            alpha=0.15, label="in a high-motion window", step="mid",
        )  # fmt: skip
    for rank, t in enumerate(chronological, start=1):
        curve.axvline(t, color="black", lw=0.8, ls=":")
        curve.annotate(f"#{rank}", (t, 1.0), xycoords=("data", "axes fraction"), ha="center",
                       va="bottom", fontsize=9)  # fmt: skip
    curve.set_xlabel("frame")
    curve.set_ylabel("motion")
    curve.legend(fontsize=7, loc="upper right")
    axes = [fig.add_subplot(grid[1, k]) for k in range(len(shown))]
    tuple_row(
        axes,
        [frames[t] for t in shown],
        [f"shown {i + 1}: frame {t} (#{chronological.index(t) + 1})" for i, t in enumerate(shown)],
    )
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def spatial_steps(
    frames: np.ndarray,
    view,
    patch: tuple[int, int, int],
    boxes: Sequence[tuple[int, int, int, int]],
    crops: np.ndarray,
    mirrored: np.ndarray,
    split: np.ndarray,
    channels: Sequence[int],
):
    """OPN's spatial side, one row per step: the patch (magenta) and each frame's crop box (yellow),
    the crops, the tuple's one mirror, and channel splitting (the channel each frame kept).

    `frames` are at source size; they are shown resized as `view` resizes them, the size the
    boxes (from `ssvlib.data.datasets.place_patch` and `window_boxes`) refer to.
    """
    import cv2

    rh, rw = view.resized(*frames.shape[1:3])
    if (rh, rw) != frames.shape[1:3]:
        frames = np.stack([cv2.resize(f, (rw, rh), interpolation=cv2.INTER_AREA) for f in frames])
    top, left, side = patch
    rows = {
        "patch and crops": [frames[k] for k in range(len(frames))],
        "crops": list(crops),
        "mirrored (whole tuple)": list(mirrored),
        "one channel per frame": list(split),
    }
    fig, axes = plt.subplots(len(rows), len(frames), figsize=(1.9 * len(frames), 7.4))
    for row, (name, images) in zip(axes, rows.items(), strict=True):
        for k, (ax, image) in enumerate(zip(row, images, strict=True)):
            title = None
            if name == "patch and crops":
                box(ax, top, left, side, side, color="magenta")
                box(ax, *boxes[k])
                dy, dx = boxes[k][0] - boxes[0][0], boxes[k][1] - boxes[0][1]
                title = f"frame {k + 1}" + (f": ({dy:+d}, {dx:+d}) vs 1" if k else "")
            elif name == "one channel per frame":
                title = f"kept {'RGB'[channels[k]]}"
            _show(ax, image, title)
        row[0].set_ylabel(name, fontsize=8)
    fig.tight_layout()
    return fig


def retrieval_topk(
    curves: dict[str, dict], paper: dict[str, dict] | None = None, num_classes: int | None = None
):
    """Retrieval top-k accuracy against k: our runs as solid lines, the paper's as dashed ones.

    Each entry maps a name to {k: accuracy}; keys may be numbers or strings (as read from JSON).
    With `num_classes`, a dotted line shows a random ranking's 1 - (1 - 1/C)^k (balanced classes).
    """
    fig, ax = plt.subplots(figsize=(5.6, 3.2))
    if num_classes:
        ks = np.arange(1, 51)
        ax.plot(ks, 1 - (1 - 1 / num_classes) ** ks, ":", color="gray", label="random ranking")
    for style, entries in (("-", curves), ("--", paper or {})):
        for name, values in entries.items():
            ks = sorted(int(k) for k in values)
            by_k = {int(k): v for k, v in values.items()}
            ax.plot(ks, [by_k[k] for k in ks], style, marker="o", ms=4, label=name)
    ax.set_xscale("log")
    ax.set_xticks([1, 5, 10, 20, 50], ["1", "5", "10", "20", "50"])
    ax.set_xlabel("k (neighbours looked at)")
    ax.set_ylabel("top-k retrieval accuracy")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def confusion(labels: np.ndarray, predictions: np.ndarray, names: Sequence[str], title: str = ""):
    """Row-normalised confusion matrix: row = true class, column = predicted, cells in %."""
    k = len(names)
    counts = np.zeros((k, k))
    np.add.at(counts, (np.asarray(labels), np.asarray(predictions)), 1)
    rates = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(0.45 * k + 1.8, 0.45 * k + 1.2))
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            if rates[i, j] >= 0.05:
                color = "white" if rates[i, j] > 0.6 else "black"
                ax.text(j, i, f"{100 * rates[i, j]:.0f}", ha="center", va="center",
                        fontsize=6, color=color)  # fmt: skip
    ax.set_xticks(range(k), names, rotation=90, fontsize=7)
    ax.set_yticks(range(k), names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.colorbar(image, ax=ax, fraction=0.04)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def odd_one_out(frames: np.ndarray, elements: Sequence[Sequence[int]], odd: int, title: str = ""):
    """An O3N question: one row per element (its frames, numbered), the odd one framed red."""
    cols = max(len(e) for e in elements)
    fig, axes = plt.subplots(
        len(elements), cols, figsize=(1.1 * cols, 1.1 * len(elements) + 0.4), squeeze=False
    )
    for row, element in enumerate(elements):
        color = "tab:red" if row == odd else None
        tuple_row(
            axes[row][: len(element)],
            [frames[t] for t in element],
            [str(t) for t in element],
            [color] * len(element),
        )
        for ax in axes[row][len(element) :]:
            ax.axis("off")
        label = "odd" if row == odd else f"#{row}"
        axes[row, 0].set_ylabel(label, rotation=0, ha="right", fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def element_encodings(frames: torch.Tensor, encodings: dict[str, object]):
    """One element's frames, uint8 (T, C, H, W), as each encoding gives them to the encoder.

    `encodings` maps a name to an Element; one row per encoding: the stacked frames (or
    differences, grey = 0, amplified x2) image by image, or the one dynamic image.
    """
    from .data.transforms import prepare

    rows = {}
    for name, element in encodings.items():
        x = prepare(frames[: element.frames_read][None], element)[0]
        if element.layout == "dynamic":
            images = [x]
        else:
            images = list(x.unflatten(0, (-1, 3)))
        scale = 1.0 if element.residual else 0.5
        rows[name] = [(im.permute(1, 2, 0).numpy() * scale + 0.5).clip(0, 1) for im in images]
    cols = max(len(r) for r in rows.values())
    fig, axes = plt.subplots(len(rows), cols, figsize=(1.3 * cols, 1.4 * len(rows)), squeeze=False)
    for ax_row, (name, images) in zip(axes, rows.items(), strict=True):
        for k, ax in enumerate(ax_row):
            if k < len(images):
                _show(ax, images[k])
            else:
                ax.axis("off")
        ax_row[0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    fig.tight_layout()
    return fig


def comparison_gains(summary: Sequence[dict], measures: Sequence[str]):
    """Gain over random initialisation per measure (groups) and paper (bars), in points: the bar
    is the mean over seeds, each dot one seed, the whisker the paired 95% t-interval
    (`comparison.Spread.interval`)."""
    fig, ax = plt.subplots(figsize=(8.5, 3.4))
    width = 0.8 / max(1, len(summary))
    positions = np.arange(len(measures))
    for k, entry in enumerate(summary):
        x = positions - 0.4 + width * (k + 0.5)
        gains = [entry.get(m, {}).get("gain") for m in measures]
        means = [100 * g.mean if g else np.nan for g in gains]
        bounds = [g.interval() if g else None for g in gains]
        errors = np.array(
            [[100 * (g.mean - b[0]), 100 * (b[1] - g.mean)] if b else [0, 0]
             for g, b in zip(gains, bounds, strict=True)]
        ).T  # fmt: skip
        ax.bar(x, means, width, yerr=errors, capsize=2, label=entry["name"], alpha=0.85)
        for xi, gain in zip(x, gains, strict=True):
            if gain:
                ax.scatter([xi] * len(gain.values), [100 * v for v in gain.values], s=8,
                           color="black", zorder=3)  # fmt: skip
    ax.axhline(0, color="gray", lw=0.8)
    ax.set_xticks(positions, list(measures), fontsize=8)
    ax.set_ylabel("gain over random init\n(points, video level)")
    ax.legend(fontsize=8, ncols=len(summary), loc="upper center", bbox_to_anchor=(0.5, 1.18))
    fig.tight_layout()
    return fig
