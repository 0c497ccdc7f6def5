"""Clip transforms: resize, crops, flips, OPN's jitter and channel splitting, normalisation.

A clip is a ``torch.uint8`` tensor shaped ``(T, C, H, W)``: frames first, so a crop or a flip is
one slice of the whole clip. Only the last step, `normalize` (or `residual`), turns it into the
float ``(C, T, H, W)`` layout a 3D convolution expects.

Every random choice takes an explicit ``rng: numpy.random.Generator``, so a sample is the same
whenever it is drawn from the same seed, in any worker, in any order.

The pitfall these helpers exist to avoid: a crop drawn once *per frame* instead of once *per clip*
makes the frames of a clip disagree about where things are, and a network then learns from the
crop positions instead of the motion. `crop`, `random_crop` and `center_crop` cut the same box
from every frame; only `jitter_crops` moves the box per frame, on purpose (OPN's spatial jitter).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

Box = tuple[int, int, int, int]
"""A crop box: (top, left, height, width) in pixels."""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HALF = (0.5, 0.5, 0.5)


def _pair(size: int | Sequence[int], name: str = "size") -> tuple[int, int]:
    """Turn an int or an (h, w) pair into a validated (h, w) tuple of positive ints."""
    if isinstance(size, (int, np.integer)):
        pair = (int(size), int(size))
    elif isinstance(size, Sequence) and len(size) == 2:
        pair = (int(size[0]), int(size[1]))
    else:
        raise ValueError(f"{name}={size!r} must be an int or an (h, w) pair")
    if min(pair) < 1:
        raise ValueError(f"{name}={size!r} must be positive")
    return pair


def _check_clip(clip: torch.Tensor, name: str = "clip") -> None:
    """Raise a clear error unless `clip` is a (T, C, H, W) tensor."""
    if not isinstance(clip, torch.Tensor) or clip.ndim != 4:
        got = tuple(clip.shape) if hasattr(clip, "shape") else type(clip).__name__
        raise ValueError(
            f"{name} must be a torch tensor shaped (T, C, H, W), got {got}; "
            "turn a (T, H, W, 3) frame array into a clip with to_clip(frames)"
        )


def to_clip(frames: np.ndarray) -> torch.Tensor:
    """Turn (T, H, W, 3) uint8 RGB frames (as the readers return them) into a (T, 3, H, W) clip."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(
            f"to_clip expects a (T, H, W, 3) uint8 array, got shape {frames.shape} "
            f"and dtype {frames.dtype}"
        )
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).contiguous()


def resize(clip: torch.Tensor, size: int | Sequence[int]) -> torch.Tensor:
    """Resize every frame (bilinear, antialiased): an int sets the short side, (h, w) both sides."""
    _check_clip(clip)
    height, width = clip.shape[-2:]
    if isinstance(size, (int, np.integer)):
        short = _pair(size)[0]
        if height <= width:
            out = (short, max(1, round(width * short / height)))
        else:
            out = (max(1, round(height * short / width)), short)
    else:
        out = _pair(size)
    if out == (height, width):
        return clip
    resized = F.interpolate(
        clip.float(), size=out, mode="bilinear", align_corners=False, antialias=True
    )
    if clip.dtype == torch.uint8:
        return resized.round_().clamp_(0, 255).to(torch.uint8)
    return resized.to(clip.dtype)


def _check_fits(height: int, width: int, size: tuple[int, int]) -> None:
    """Raise a clear error when a crop of `size` does not fit in a height x width frame."""
    if size[0] > height or size[1] > width:
        raise ValueError(
            f"crop size {size} does not fit in frames of {height}x{width}; "
            "resize the clip first or ask for a smaller crop"
        )


def random_crop_box(
    height: int, width: int, size: int | Sequence[int], rng: np.random.Generator
) -> Box:
    """Draw a (top, left, h, w) box of `size` uniformly inside a height x width frame."""
    h, w = _pair(size)
    _check_fits(height, width, (h, w))
    top = int(rng.integers(0, height - h + 1))
    left = int(rng.integers(0, width - w + 1))
    return top, left, h, w


def center_crop_box(height: int, width: int, size: int | Sequence[int]) -> Box:
    """The (top, left, h, w) box of `size` at the centre of a height x width frame."""
    h, w = _pair(size)
    _check_fits(height, width, (h, w))
    return (height - h) // 2, (width - w) // 2, h, w


def crop(clip: torch.Tensor, box: Box) -> torch.Tensor:
    """Cut the same (top, left, h, w) box out of every frame of the clip."""
    _check_clip(clip)
    top, left, h, w = (int(v) for v in box)
    height, width = clip.shape[-2:]
    if top < 0 or left < 0 or h < 1 or w < 1 or top + h > height or left + w > width:
        raise ValueError(
            f"crop box {box} (top, left, h, w) is not inside frames of {height}x{width}"
        )
    return clip[..., top : top + h, left : left + w]


def random_crop(
    clip: torch.Tensor, size: int | Sequence[int], rng: np.random.Generator
) -> torch.Tensor:
    """Crop one random box of `size`, the same for every frame of the clip."""
    _check_clip(clip)
    return crop(clip, random_crop_box(clip.shape[-2], clip.shape[-1], size, rng))


def center_crop(clip: torch.Tensor, size: int | Sequence[int]) -> torch.Tensor:
    """Crop the central box of `size` from every frame of the clip."""
    _check_clip(clip)
    return crop(clip, center_crop_box(clip.shape[-2], clip.shape[-1], size))


def hflip(clip: torch.Tensor) -> torch.Tensor:
    """Mirror every frame left to right."""
    _check_clip(clip)
    return clip.flip(-1)


def jitter_boxes(
    height: int,
    width: int,
    size: int | Sequence[int],
    max_shift: int,
    rng: np.random.Generator,
    num: int,
) -> list[Box]:
    """`num` boxes of `size`: the centre box, each moved by its own shift in [-max_shift, max_shift].

    A shift that would leave the frame is clamped to the border.
    """
    if max_shift < 0:
        raise ValueError(f"max_shift={max_shift!r} must be >= 0")
    top0, left0, h, w = center_crop_box(height, width, size)
    shifts = rng.integers(-max_shift, max_shift + 1, size=(num, 2))
    return [
        (
            int(np.clip(top0 + dy, 0, height - h)),
            int(np.clip(left0 + dx, 0, width - w)),
            h,
            w,
        )
        for dy, dx in shifts
    ]


def jitter_crops(
    clip: torch.Tensor, size: int | Sequence[int], max_shift: int, rng: np.random.Generator
) -> torch.Tensor:
    """Crop each frame around the common centre, shifted by up to +-max_shift px (OPN's jitter).

    Unlike `random_crop`, every frame gets its own small shift: OPN adds this so the network cannot
    order frames by matching low-level pixel positions. Crop the clip to the tuple's window first.
    """
    _check_clip(clip)
    boxes = jitter_boxes(clip.shape[-2], clip.shape[-1], size, max_shift, rng, clip.shape[0])
    return torch.stack([crop(frame[None], box)[0] for frame, box in zip(clip, boxes, strict=True)])


def channel_split(clip: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """For each frame pick one of the RGB channels at random and copy it into all three (OPN).

    This removes the chromatic aberration cue that lets a network locate a patch in the frame.
    """
    _check_clip(clip)
    if clip.shape[1] != 3:
        raise ValueError(
            f"channel_split needs 3 channels (RGB), got clip of shape {tuple(clip.shape)}"
        )
    picks = torch.from_numpy(rng.integers(0, 3, size=clip.shape[0]))
    chosen = clip[torch.arange(clip.shape[0]), picks]
    return chosen[:, None].expand(-1, 3, -1, -1).contiguous()


def normalize(
    clip: torch.Tensor, mean: Sequence[float] = HALF, std: Sequence[float] = HALF
) -> torch.Tensor:
    """Scale a uint8 clip to [0, 1], standardise per channel and return float (C, T, H, W).

    The defaults (mean = std = 0.5) map pixels to [-1, 1], suited to networks trained from
    scratch; pass ``IMAGENET_MEAN, IMAGENET_STD`` for ImageNet-pretrained weights.
    """
    _check_clip(clip)
    if clip.dtype != torch.uint8:
        raise ValueError(f"normalize expects a uint8 clip (values 0-255), got dtype {clip.dtype}")
    channels = clip.shape[1]
    if len(mean) != channels or len(std) != channels:
        raise ValueError(
            f"mean and std need one value per channel ({channels}), got {len(mean)} and {len(std)}"
        )
    mean_t = torch.tensor(mean, dtype=torch.float32).view(channels, 1, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(channels, 1, 1, 1)
    return (clip.permute(1, 0, 2, 3).float().div_(255.0) - mean_t) / std_t


def frame_differences(clip: torch.Tensor) -> torch.Tensor:
    """Differences of consecutive frames, float (T-1, C, H, W) in [-1, 1]: frame t+1 minus frame t."""
    _check_clip(clip)
    if clip.shape[0] < 2:
        raise ValueError(f"frame differences need at least 2 frames, got {clip.shape[0]}")
    frames = clip.float()
    if clip.dtype == torch.uint8:
        frames = frames.div_(255.0)
    return frames[1:] - frames[:-1]


def residual(clip: torch.Tensor) -> torch.Tensor:
    """Model input made of frame differences (O3N's stack of differences): float (C, T-1, H, W).

    One frame shorter than the clip. Still background cancels out and only what moved remains,
    which let a small 3D CNN learn temporal order far faster in our prototype than raw frames.
    """
    return frame_differences(clip).permute(1, 0, 2, 3).contiguous()


def rank_pool_weights(length: int) -> torch.Tensor:
    """Approximate rank pooling's frame weights (Bilen et al., CVPR 2016), frame t = 1..T:
    alpha_t = 2 (T - t + 1) - (T + 1) (H_T - H_{t-1}), H_t the t-th harmonic number (H_0 = 0).

    They sum to zero: a still video gives a blank image, and later frames weigh more than
    earlier ones, so the image records the direction things moved in.
    """
    harmonic = torch.cat([torch.zeros(1), torch.cumsum(1.0 / torch.arange(1, length + 1), 0)])
    t = torch.arange(1, length + 1, dtype=torch.float32)
    return 2 * (length - t + 1) - (length + 1) * (harmonic[length] - harmonic[t.long() - 1])


def dynamic_image(frames: torch.Tensor) -> torch.Tensor:
    """(..., T, C, H, W) floats -> (..., C, H, W): the rank-pooling weighted sum of the frames,
    scaled per image so that its largest magnitude is 1 (values in [-1, 1]). An image whose
    peak is under 1/1000 of the largest possible one (a still element) stays near 0."""
    weights = rank_pool_weights(frames.shape[-4]).to(frames)
    image = (frames * weights[:, None, None, None]).sum(-4)
    peak = image.abs().amax(dim=(-3, -2, -1), keepdim=True)
    return image / peak.clamp_min(1e-3 * float(weights.abs().sum()))


def prepare(x: torch.Tensor, element) -> torch.Tensor:
    """The input step, on the device: uint8 elements (..., T, C, H, W) -> the encoder's floats.

    Pixels go to [-1, 1] (mean = std = 0.5), or, with ``element.residual``, differences of
    consecutive frames are taken (values in [-1, 1], one frame fewer). Layout "clip" gives a 3D
    encoder (..., C, T, H, W); layout "stack" gives a 2D encoder (..., T * C, H, W); layout
    "frames" keeps (..., T, C, H, W) for a 2D encoder to take frame by frame; layout "dynamic"
    gives one image (..., C, H, W) per element (`dynamic_image`).
    The training loop and the evaluation both call this, through ``ElementEncoder``.
    """
    if x.dtype != torch.uint8 or x.ndim < 4:
        raise ValueError(
            f"prepare expects uint8 elements shaped (..., T, C, H, W) as the datasets of "
            f"ssvlib.data.datasets yield them, got dtype {x.dtype} and shape {tuple(x.shape)}"
        )
    x = x.float().div_(255.0)
    x = x[..., 1:, :, :, :] - x[..., :-1, :, :, :] if element.residual else x.sub_(0.5).mul_(2.0)
    if element.layout == "clip":
        return x.transpose(-4, -3).contiguous()
    if element.layout == "frames":
        return x
    if element.layout == "dynamic":
        return dynamic_image(x)
    return x.flatten(-4, -3)
