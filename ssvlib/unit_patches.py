"""What single units of a frame encoder respond to: their most activating image regions.

Shuffle and Learn shows that the conv units of its network prefer moving body parts. Here, for
each unit (channel) of the encoder's last map, `top_patches` finds the frames and positions
where it fires hardest, over a set of frames; each position is drawn as the image region under
its map cell, twice the cell's stride on a side (an approximation of the effective receptive
field, which is larger but weighs its centre most). `motion` scores each region: the mean
absolute change of its grey levels from the previous frame, divided by that of the whole frame,
so 1 means "as much motion as the frame on average" and a moving object scores well above 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from .data.decode import read_frames, video_info
from .models.tuple_model import ElementEncoder
from .settings import Element, View


@dataclass(frozen=True)
class Patch:
    """One of a unit's strongest responses: which frame, which region, how strong, how moving."""

    unit: int
    frame: int  # index into the frames given to `top_patches`
    box: tuple[int, int, int, int]  # (top, left, height, width) in that frame
    activation: float
    motion: float  # the region's frame-to-frame change over the whole frame's


def probe_frames(
    records: Sequence, per_video: int = 4, step: int = 4, view: View | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """`per_video` frames spread over each video, and for each the frame `step` before it.

    Returns two uint8 arrays (N, H, W, 3): the frames, and the frames `step` earlier (what
    `motion` compares against), resized as `view` resizes them (whole frames, no crop), so
    that the encoder sees them at the size it was trained on. All must share one size.
    """
    frames, before = [], []
    for record in records:
        count = video_info(record.path).num_frames
        picks = np.linspace(step, count - 1, per_video).round().astype(int)
        wanted = sorted({*picks.tolist(), *(picks - step).tolist()})
        decoded = read_frames(record.path, wanted)
        if view is not None:
            height, width = view.resized(*decoded.shape[1:3])
            decoded = [
                cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA) for f in decoded
            ]
        both = dict(zip(wanted, decoded, strict=True))
        if frames and both[wanted[0]].shape != frames[0].shape:
            raise ValueError(
                f"{record.path}: frames of {both[wanted[0]].shape[:2]}, but the first video's "
                f"are {frames[0].shape[:2]}; probe videos of one frame size"
            )
        frames += [both[t] for t in picks]
        before += [both[t - step] for t in picks]
    return np.stack(frames), np.stack(before)


def _gray(x: np.ndarray) -> np.ndarray:
    """Grey levels (..., H, W) of RGB frames (..., H, W, 3), as float32."""
    return x.astype(np.float32).mean(-1)


@torch.no_grad()
def top_patches(
    net: torch.nn.Module,
    frames: np.ndarray,
    before: np.ndarray,
    k: int = 6,
    batch_size: int = 64,
) -> list[list[Patch]]:
    """For every unit of `net`'s last map, its `k` strongest responses over `frames`.

    One response per frame at most (the frame's peak), so a unit's k patches come from k
    different frames. Returns one list of k `Patch`es per unit, strongest first; `net` is run
    in eval mode and left in the mode it came in.
    """
    was_training = net.training
    encoder = ElementEncoder(net, Element(1, layout="stack")).eval()
    device = next(net.parameters()).device
    x = torch.from_numpy(frames).permute(0, 3, 1, 2)[:, None]  # (N, 1, C, H, W) uint8
    try:
        maps = torch.cat(
            [
                encoder.feature_map(x[i : i + batch_size].to(device)).cpu()
                for i in range(0, len(x), batch_size)
            ]
        )  # (N, units, h, w)
    finally:
        net.train(was_training)  # the caller's network keeps its mode
    n, units, h, w = maps.shape
    peak, where = maps.flatten(2).max(2)  # (N, units): each frame's peak per unit
    height, width = frames.shape[1:3]
    stride_y, stride_x = height / h, width / w
    change = np.abs(_gray(frames) - _gray(before))  # (N, H, W)
    frame_motion = change.mean((1, 2)) + 1e-6
    out = []
    for unit in range(units):
        best = torch.argsort(peak[:, unit], descending=True)[:k]
        patches = []
        for f in best.tolist():
            cy, cx = divmod(int(where[f, unit]), w)
            box = _box(cy, cx, stride_y, stride_x, height, width)
            top, left, bh, bw = box
            region = change[f, top : top + bh, left : left + bw].mean()
            patches.append(
                Patch(unit, f, box, float(peak[f, unit]), float(region / frame_motion[f]))
            )
        out.append(patches)
    return out


def _box(cy: int, cx: int, sy: float, sx: float, height: int, width: int):
    """The region twice a cell's stride on a side, centred on cell (cy, cx), inside the frame."""
    bh, bw = min(height, round(2 * sy)), min(width, round(2 * sx))
    top = int(np.clip(round((cy + 0.5) * sy - bh / 2), 0, height - bh))
    left = int(np.clip(round((cx + 0.5) * sx - bw / 2), 0, width - bw))
    return top, left, bh, bw


def strongest_units(patches: list[list[Patch]], count: int) -> list[list[Patch]]:
    """The `count` units with the highest mean top-k activation (the ones a figure should show)."""
    order = np.argsort([-np.mean([p.activation for p in unit]) for unit in patches])
    return [patches[i] for i in order[:count]]


def motion_summary(patches: list[list[Patch]]) -> dict[str, float]:
    """Over every unit's top patches: their median motion score, and the share above 2."""
    scores = np.array([p.motion for unit in patches for p in unit])
    return {"median_motion": float(np.median(scores)), "share_moving": float(np.mean(scores > 2))}
