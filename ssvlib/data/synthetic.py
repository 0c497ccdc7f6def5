"""The built-in dataset's videos: ten motion classes, rendered frame by frame and encoded as XviD.

Every default run of the book trains on this dataset, so it is designed for one property:
**the class is carried by motion, not by appearance.**

- Appearance belongs to the *group* (UCF-101's "same actor and scene"): the background texture,
  its colours and lighting, the object's shape, colours and size are drawn once per group and
  shared by every class of that group. A single frame therefore says little about the class.
- Motion belongs to the *video*: every position, speed, phase, event time, direction and the
  camera pan are drawn per video. In particular every cue to the direction of time is drawn per
  video, never per group (a group-wide pan direction would let a network read time's arrow off
  the texture).
- Where the object is says little too: each video's path is shifted to a random place that
  keeps it in view, and floors, pivots and drains are never drawn.
- Five classes have a visible arrow of time (a ball that bounces lower and lower, an object that
  shatters, a slide that stops, a spiral into a drain, a blot that spreads); five look the same
  played backwards, in distribution (glide, orbit, pendulum, projectile, spin). No class is
  another class reversed, and no periodic motion repeats within 64 frames.

This module draws the videos: `render_video(class_name, group, clip, seed)` gives one video's
frames and `write_avi` encodes them as UCF-101's are. Writing the whole dataset in the UCF-101
layout and caching it is `ssvlib.data.builtin`'s job (`generate`, `builtin_root`); a change to
what is drawn here changes the dataset, so bump `builtin.VERSION` with it.
Everything is a pure function of the seed: the same seed gives the same pixels.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..settings import check_choice

FPS = 25
GOP_SIZE = 12


@dataclass(frozen=True)
class ClassSpec:
    """One motion class: its name, a one-line description and whether it looks the same reversed."""

    name: str
    description: str
    time_symmetric: bool


CLASSES: dict[str, ClassSpec] = {
    spec.name: spec
    for spec in [
        ClassSpec(
            "BounceToRest", "a ball is dropped and bounces lower each time, then rests", False
        ),
        ClassSpec("Glide", "the object crosses at constant speed in a random direction", True),
        ClassSpec("Orbit", "the object circles a point, slowly, either way round", True),
        ClassSpec("Pendulum", "the object swings on an invisible string, slowly", True),
        ClassSpec("Projectile", "the object flies a parabola, left or right, no bounce", True),
        ClassSpec("Shatter", "the object falls, hits the floor and breaks into pieces", False),
        ClassSpec("SlideToRest", "the object slides along the floor, slowing to a stop", False),
        ClassSpec("Spin", "the object turns in place, slowly, either way round", True),
        ClassSpec("SpiralIn", "the object spirals into a drain, ever faster, and stops", False),
        ClassSpec("Spread", "the object appears as a dot and grows, ever more slowly", False),
    ]
}
"""The classes, in classInd.txt order (alphabetical, as in UCF-101)."""

SHAPES = ("disk", "square", "triangle", "hexagon", "ellipse", "rhombus")
_SHAPE_REACH = {  # how far each unit-sized shape extends from its centre
    "disk": 1.0,
    "square": 1.17,
    "triangle": 1.51,
    "hexagon": 1.1,
    "ellipse": 1.25,
    "rhombus": 1.4,
}
TEXTURES = ("blobs", "stripes", "checker", "bricks", "grain")


@dataclass(frozen=True)
class Settings:
    """What the dataset holds: frame size, groups, clips per (class, group), frames per clip."""

    height: int = 64
    width: int = 80
    groups: int = 25
    clips_per_group: tuple[int, int] = (2, 4)
    frames: tuple[int, int] = (64, 112)

    def __post_init__(self) -> None:
        if self.height < 24 or self.width < 24:
            raise ValueError(
                f"frame size {self.height}x{self.width} is too small; use at least 24x24"
            )
        if self.height % 2 or self.width % 2:
            raise ValueError(
                f"frame size {self.height}x{self.width} must be even (yuv420p); use e.g. 64x80"
            )
        if self.groups < 4:
            raise ValueError(
                f"groups={self.groups} is too few: each of the 3 splits needs test and train "
                "groups; use groups >= 4"
            )
        lo, hi = self.clips_per_group
        if not 1 <= lo <= hi <= 99:
            raise ValueError(
                f"clips_per_group={self.clips_per_group} must be (min, max) with "
                "1 <= min <= max <= 99"
            )
        lo, hi = self.frames
        if not 16 <= lo <= hi:
            raise ValueError(f"frames={self.frames} must be (min, max) with 16 <= min <= max")


# ----------------------------------------------------------------------------------------------
# Appearance (per group)


@dataclass(frozen=True)
class Appearance:
    """What a group looks like: background canvas, object shape, colours, size and light."""

    background: np.ndarray  # (H + 2 pad, W + 2 pad, 3) float32 in [0, 1]
    pad: int
    shape: str
    fill: np.ndarray  # (3,) colours in [0, 1]
    outline: np.ndarray
    mark: np.ndarray
    radius: float  # object size in pixels (about the radius of a disk of the same area)
    light: np.ndarray  # (2,) unit vector: direction the light comes from, in the image


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    """An RGB colour in [0, 1] from hue, saturation and value in [0, 1]."""
    hsv = np.array([[[h * 180.0, s * 255.0, v * 255.0]]], dtype=np.float32)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32) / 255.0


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Gaussian-blurred white noise rescaled to [0, 1]."""
    noise = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), sigma)
    noise -= noise.min()
    return noise / max(float(noise.max()), 1e-6)


def _texture(
    rng: np.random.Generator, kind: str, shape: tuple[int, int], unit: float
) -> np.ndarray:
    """A (h, w) float32 texture in [0, 1]; `unit` scales its features with the frame size."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    u = xx * np.cos(angle) + yy * np.sin(angle)
    v = -xx * np.sin(angle) + yy * np.cos(angle)
    wobble = _smooth_noise(rng, shape, 3 * unit)
    if kind == "blobs":
        tex = 0.6 * _smooth_noise(rng, shape, rng.uniform(2, 4) * unit) + 0.4 * wobble
    elif kind == "stripes":
        period = rng.uniform(7, 13) * unit
        tex = 0.5 + 0.5 * np.sin(2 * np.pi * u / period + 4 * wobble)
    elif kind == "checker":
        cell = rng.uniform(6, 11) * unit
        tex = ((np.floor(u / cell) + np.floor(v / cell)) % 2) * 0.7 + 0.3 * wobble
    elif kind == "bricks":
        bh = rng.uniform(5, 9) * unit
        bw = bh * rng.uniform(1.6, 2.4)
        row = np.floor(yy / bh)
        col = np.floor((xx + (row % 2) * bw / 2) / bw)
        shade = rng.random((int(row.max()) + 2, int(col.max()) + 2)).astype(np.float32)
        tex = 0.25 + 0.6 * shade[row.astype(int), col.astype(int)]
        mortar = (yy % bh < 1.0) | ((xx + (row % 2) * bw / 2) % bw < 1.0)
        tex = np.where(mortar, 0.0, tex) + 0.15 * wobble
    else:  # grain: fine noise stretched along one direction
        fine = rng.standard_normal(shape).astype(np.float32)
        kernel = np.zeros((9, 9), np.float32)
        kernel[4, :] = 1.0 / 9.0
        rot = cv2.getRotationMatrix2D((4, 4), np.degrees(angle), 1.0)
        kernel = cv2.warpAffine(kernel, rot, (9, 9))
        fine = cv2.filter2D(fine, -1, kernel / max(kernel.sum(), 1e-6))
        tex = 0.5 + 0.35 * fine / max(float(fine.std()), 1e-6) * 0.5 + 0.3 * (wobble - 0.5)
    return np.clip(tex, 0.0, 1.0).astype(np.float32)


def _contrasting_colour(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A saturated fill colour whose every channel is near 0 or 1, and a mark colour opposite it."""
    bits = int(rng.integers(8))
    pattern = np.array([(bits >> i) & 1 for i in range(3)], dtype=np.float32)
    fill = np.where(pattern > 0, rng.uniform(0.82, 1.0, 3), rng.uniform(0.0, 0.18, 3))
    mark = np.where(pattern > 0, rng.uniform(0.0, 0.15, 3), rng.uniform(0.85, 1.0, 3))
    return fill.astype(np.float32), mark.astype(np.float32)


@functools.lru_cache(maxsize=8)
def group_appearance(seed: int, group: int, height: int, width: int) -> Appearance:
    """The look shared by every video of one group (texture, colours, light, object); cached."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0, group]))
    unit = min(height, width) / 64.0
    pad = int(np.ceil(0.25 * width)) + 4
    canvas = (height + 2 * pad, width + 2 * pad)
    tex = _texture(rng, str(rng.choice(TEXTURES)), canvas, unit)
    # low-saturation palette around mid grey, so a saturated object with a dark outline stands out
    base = rng.uniform(0.38, 0.62)
    c1 = _hsv(rng.random(), rng.uniform(0.1, 0.4), base - rng.uniform(0.1, 0.18))
    c2 = _hsv(rng.random(), rng.uniform(0.1, 0.4), base + rng.uniform(0.1, 0.18))
    background = c1 * (1 - tex[..., None]) + c2 * tex[..., None]
    angle = rng.uniform(0, 2 * np.pi)
    light = np.array([np.cos(angle), np.sin(angle)], dtype=np.float32)
    yy, xx = np.mgrid[0 : canvas[0], 0 : canvas[1]].astype(np.float32)
    gradient = ((xx - canvas[1] / 2) * light[0] + (yy - canvas[0] / 2) * light[1]) / max(canvas)
    background *= (1 - rng.uniform(0.0, 0.35) * gradient)[..., None] * rng.uniform(0.85, 1.15)
    fill, mark = _contrasting_colour(rng)
    outline = np.full(3, 0.04, np.float32) if fill.mean() > 0.3 else np.full(3, 0.95, np.float32)
    return Appearance(
        background=np.clip(background, 0, 1).astype(np.float32),
        pad=pad,
        shape=str(rng.choice(SHAPES)),
        fill=fill,
        outline=outline,
        mark=mark,
        radius=float(rng.uniform(0.13, 0.17) * min(height, width)),
        light=light,
    )


# ----------------------------------------------------------------------------------------------
# Shapes: signed distance functions of unit-sized shapes (negative inside)


def _sdf(shape: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Signed distance (in object units) from points to a shape of about unit radius."""
    if shape == "disk":
        return np.hypot(x, y) - 1.0
    if shape == "square":
        qx, qy = np.abs(x) - 0.72, np.abs(y) - 0.72
        return (
            np.hypot(np.maximum(qx, 0), np.maximum(qy, 0))
            + np.minimum(np.maximum(qx, qy), 0)
            - 0.15
        )
    if shape == "ellipse":
        a, b = 1.25, 0.8
        return (np.hypot(x / a, y / b) - 1.0) * b
    if shape == "rhombus":
        a, b = 1.4, 0.95
        return (np.abs(x) / a + np.abs(y) / b - 1.0) * (a * b / np.hypot(a, b))
    if shape == "hexagon":
        kx, ky, kz, r = -0.866025404, 0.5, 0.577350269, 0.95
        px, py = np.abs(x), np.abs(y)
        dot = np.minimum(kx * px + ky * py, 0.0)
        px, py = px - 2 * dot * kx, py - 2 * dot * ky
        px = px - np.clip(px, -kz * r, kz * r)
        py = py - r
        return np.hypot(px, py) * np.sign(py)
    if shape == "triangle":
        r, k = 1.3, np.sqrt(3.0)
        px, py = np.abs(x) - r, -y + r / k
        flip = px + k * py > 0
        px, py = np.where(flip, (px - k * py) / 2, px), np.where(flip, (-k * px - py) / 2, py)
        px = px - np.clip(px, -2 * r, 0.0)
        return -np.hypot(px, py) * np.sign(py)
    raise ValueError(f"shape={shape!r} is not one of {SHAPES}")


# ----------------------------------------------------------------------------------------------
# Tracks: where an object (or a piece of it) is in every frame


@dataclass
class Track:
    """An object's pose in every frame: centre (x, y) in pixels, angle, scale and visibility."""

    x: np.ndarray
    y: np.ndarray
    angle: np.ndarray
    scale: np.ndarray
    visible: np.ndarray
    sector: tuple[float, float] | None = None  # keep only this angular slice (a shattered piece)
    anchor: tuple[float, float] = (0.0, 0.0)  # the shape point (object units) placed at (x, y)


def _track(n: int, x, y, angle=0.0, scale=1.0, visible=True, **kw) -> Track:
    """A Track with every field (a number or an array over frames) broadcast to n frames."""

    def full(v, dtype: type = np.float32) -> np.ndarray:
        return np.broadcast_to(np.asarray(v, dtype=dtype), (n,)).copy()

    return Track(full(x), full(y), full(angle), full(scale), full(visible, bool), **kw)


def _bodies(
    p: np.ndarray,
    v: np.ndarray,
    t_start: float,
    n: int,
    g: float,
    floor: np.ndarray,
    restitution: float,
    friction: float,
    walls: tuple[float, float] | None = None,
    substeps: int = 4,
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate point bodies under gravity with a bouncy floor: x, y, each (n frames, k bodies).

    `p`, `v` are (k, 2) positions and velocities at time `t_start` (may be negative); before it
    the bodies are held still. They bounce off the floor with `restitution`, lose `friction` of
    their horizontal speed per frame while touching it, and bounce off the optional `walls`
    (x_min, x_max).
    """
    out = np.zeros((n, len(p), 2))
    for body in range(len(p)):  # plain floats: much faster than numpy for a handful of bodies
        x, y = float(p[body, 0]), float(p[body, 1])
        vx, vy = float(v[body, 0]), float(v[body, 1])
        ground = float(floor[body])
        t = float(t_start)
        for frame in range(n):
            while t < frame:
                step = min(1.0 / substeps, frame - t)
                vy += g * step
                x, y = x + vx * step, y + vy * step
                if y >= ground:
                    y, vy = ground, (0.0 if vy * restitution < 2 * g else -vy * restitution)
                    vx *= (1 - friction) ** step
                if walls is not None and not walls[0] <= x <= walls[1]:
                    x = 2 * walls[0] - x if x < walls[0] else 2 * walls[1] - x
                    vx = -vx
                t += step
            out[frame, body] = x, y
    return out[..., 0], out[..., 1]


def _motion_bounce(rng: np.random.Generator, n: int, h: int, w: int, r: float) -> list[Track]:
    """A ball dropped from a height, bouncing lower each time and rolling to rest."""
    floor = rng.uniform(0.7, 1.0) * h - r  # the ball's centre when it touches the (unseen) floor
    g = rng.uniform(0.12, 0.2) * h / 64
    t0 = rng.uniform(-0.12, 0.12) * n
    p = np.array([[rng.uniform(0.25, 0.75) * w, rng.uniform(0.05, 0.3) * h]])
    v = np.array([[rng.choice([-1, 1]) * rng.uniform(0.15, 0.5) * w / 80, rng.uniform(-0.5, 0.0)]])
    x, y = _bodies(
        p, v, t0, n, g, np.array([floor]), rng.uniform(0.55, 0.72), 0.03, walls=(r, w - r)
    )
    x, y = x[:, 0], y[:, 0]
    angle = rng.uniform(0, 2 * np.pi) + (x - x[0]) / r  # rolling
    return [_track(n, x, y, angle)]


def _motion_shatter(rng: np.random.Generator, n: int, h: int, w: int, r: float) -> list[Track]:
    """An object is dropped, hits the floor and breaks into pieces that scatter and come to rest."""
    frames = np.arange(n, dtype=np.float64)
    floor = rng.uniform(0.7, 1.0) * h - 0.4 * r  # where the pieces' centres come to rest
    y_hit = floor - 0.6 * r
    g = rng.uniform(0.12, 0.2) * h / 64
    drop = y_hit - rng.uniform(0.05, 0.3) * h
    t_hit = rng.uniform(0.25, 0.6) * n
    fall = np.clip(frames - (t_hit - np.sqrt(2 * drop / g)), 0, None)
    x0 = rng.uniform(0.3, 0.7) * w
    theta = rng.uniform(0, 2 * np.pi)
    whole = _track(n, x0, y_hit - drop + 0.5 * g * fall**2, theta, visible=frames < t_hit)
    k = int(rng.integers(4, 7))
    fractions = np.cumsum(np.r_[0.0, rng.dirichlet(np.full(k, 6.0))])
    edges = rng.uniform(0, 2 * np.pi) + 2 * np.pi * fractions  # piece boundaries, object frame
    mids = (edges[:-1] + edges[1:]) / 2
    anchors = 0.55 * np.stack([np.cos(mids), np.sin(mids)], 1)  # piece centres, object units
    outward = np.stack([np.cos(mids + theta), np.sin(mids + theta)], 1)  # world frame
    start = np.array([x0, y_hit]) + 0.55 * r * outward
    vel = outward * rng.uniform(0.6, 1.6, (k, 1)) * h / 64
    vel[:, 1] -= rng.uniform(0.8, 1.8, k) * h / 64  # kicked upwards by the impact
    px, py = _bodies(start, vel, t_hit, n, g, np.full(k, floor), 0.3, 0.15)
    spin = rng.uniform(-0.15, 0.15, k)
    after = frames >= t_hit
    tracks = [whole]
    for i in range(k):
        moving = np.clip(np.r_[0, np.hypot(np.diff(px[:, i]), np.diff(py[:, i]))], 0, 1)
        angle = theta + np.cumsum(spin[i] * moving * after)
        sector = (float(edges[i]), float(edges[i + 1]))
        anchor = (float(anchors[i, 0]), float(anchors[i, 1]))
        tracks.append(
            _track(n, px[:, i], py[:, i], angle, visible=after, sector=sector, anchor=anchor)
        )
    return tracks


def _motion_spread(rng: np.random.Generator, n: int, h: int, w: int, r: float) -> list[Track]:
    """The object appears as a dot and grows, ever more slowly (like an ink blot spreading)."""
    frames = np.arange(n, dtype=np.float64)
    onset = rng.uniform(-0.3, 0.25) * n
    tau = rng.uniform(0.2, 0.4) * n
    first, final = rng.uniform(0.1, 0.25), rng.uniform(1.1, 1.5)
    scale = final - (final - first) * np.exp(-np.maximum(frames - onset, 0) / tau)
    x = rng.uniform(0.3, 0.7) * w
    y = rng.uniform(0.3, 0.7) * h
    return [_track(n, x, y, rng.uniform(0, 2 * np.pi), scale, visible=frames >= onset)]


def _motion_slide(rng: np.random.Generator, n: int, h: int, w: int, r: float) -> list[Track]:
    """The object slides in along the floor under friction, slowing down to a stop."""
    frames = np.arange(n, dtype=np.float64)
    floor = rng.uniform(0.7, 1.0) * h - 0.8 * r
    t_rest = rng.uniform(0.5, 0.9) * n  # comes to rest at this frame
    distance = rng.uniform(0.45, 0.8) * w  # covered from the first frame to rest
    deceleration = 2 * distance / t_rest**2
    remaining = np.maximum(t_rest - frames, 0)  # time left until rest
    x = w / 2 - rng.choice([-1, 1]) * deceleration / 2 * remaining**2
    return [_track(n, x, floor, rng.uniform(0, 2 * np.pi))]


def _motion_spiral(rng: np.random.Generator, n: int, h: int, w: int, r: float) -> list[Track]:
    """The object circles a drain and spirals into its centre, ever faster, where it stops."""
    frames = np.arange(n, dtype=np.float64)
    cx, cy = w / 2 + rng.uniform(-0.15, 0.15) * w, h / 2 + rng.uniform(-0.1, 0.1) * h
    t_end = rng.uniform(0.65, 0.95) * n  # reaches the centre
    t_start = -rng.uniform(0.0, 0.5) * n  # started spiralling before the clip
    radius0 = rng.uniform(0.3, 0.4) * min(h, w)
    radius = radius0 * np.clip((t_end - frames) / (t_end - t_start), 0, 1)
    omega = 2 * np.pi / rng.uniform(90, 140) * np.sqrt(radius0 / np.maximum(radius, 0.3 * radius0))
    omega[frames >= t_end] = 0
    phase = rng.uniform(0, 2 * np.pi) + rng.choice([-1, 1]) * np.cumsum(omega)
    x, y = cx + radius * np.cos(phase), cy + radius * np.sin(phase)
    return [_track(n, x, y, rng.uniform(0, 2 * np.pi))]


def _motion_glide(rng: np.random.Generator, n: int, h: int, w: int, r: float) -> list[Track]:
    """The object crosses at constant velocity in a random direction."""
    frames = np.arange(n, dtype=np.float64)
    heading = rng.uniform(0, 2 * np.pi)
    speed = rng.uniform(0.6, 1.1) * min(h, w) / 64
    t_mid = rng.uniform(0.35, 0.65) * n
    cx, cy = rng.uniform(0.35, 0.65) * w, rng.uniform(0.35, 0.65) * h
    x = cx + np.cos(heading) * speed * (frames - t_mid)
    y = cy + np.sin(heading) * speed * (frames - t_mid)
    return [_track(n, x, y, rng.uniform(0, 2 * np.pi))]


def _motion_orbit(rng: np.random.Generator, n: int, h: int, w: int, r: float) -> list[Track]:
    """The object circles a centre (period 80-130 frames) in a random direction."""
    frames = np.arange(n, dtype=np.float64)
    radius = rng.uniform(0.22, 0.32) * min(h, w)
    cx, cy = w / 2 + rng.uniform(-0.1, 0.1) * w, h / 2 + rng.uniform(-0.05, 0.05) * h
    phase = rng.uniform(0, 2 * np.pi) + rng.choice([-1, 1]) * 2 * np.pi * frames / rng.uniform(
        80, 130
    )
    x, y = cx + radius * np.cos(phase), cy + radius * np.sin(phase)
    return [_track(n, x, y, rng.uniform(0, 2 * np.pi))]


def _motion_pendulum(rng: np.random.Generator, n: int, h: int, w: int, r: float) -> list[Track]:
    """The object swings on an invisible string (period 90-150 frames)."""
    frames = np.arange(n, dtype=np.float64)
    pivot_x, pivot_y = rng.uniform(0.35, 0.65) * w, rng.uniform(-0.4, 0.05) * h
    length = rng.uniform(0.6, 0.78) * h - pivot_y
    amplitude = rng.uniform(0.35, 0.65)
    swing = amplitude * np.sin(
        2 * np.pi * frames / rng.uniform(90, 150) + rng.uniform(0, 2 * np.pi)
    )
    x, y = pivot_x + length * np.sin(swing), pivot_y + length * np.cos(swing)
    return [_track(n, x, y, rng.uniform(0, 2 * np.pi) - swing)]


def _motion_projectile(rng: np.random.Generator, n: int, h: int, w: int, r: float) -> list[Track]:
    """The object flies a parabola through the frame, left or right, its apex at a random time."""
    frames = np.arange(n, dtype=np.float64)
    t_apex = rng.uniform(0.3, 0.7) * n
    y_apex = rng.uniform(0.15, 0.35) * h
    longest = max(t_apex, n - t_apex)  # drops 50-75% of the frame height by the far end
    g = 2 * rng.uniform(0.5, 0.75) * h / longest**2
    vx = rng.choice([-1, 1]) * rng.uniform(0.7, 1.0) * w / n
    x = w / 2 + rng.uniform(-0.1, 0.1) * w + vx * (frames - t_apex)
    y = y_apex + 0.5 * g * (frames - t_apex) ** 2
    angle = rng.uniform(0, 2 * np.pi) + rng.choice([-1, 1]) * rng.uniform(0.01, 0.04) * frames
    return [_track(n, x, y, angle)]


def _motion_spin(rng: np.random.Generator, n: int, h: int, w: int, r: float) -> list[Track]:
    """The object turns in place, one turn per 80-150 frames, in a random direction."""
    frames = np.arange(n, dtype=np.float64)
    x, y = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
    angle = rng.uniform(0, 2 * np.pi) + rng.choice([-1, 1]) * 2 * np.pi * frames / rng.uniform(
        80, 150
    )
    return [_track(n, x, y, angle)]


Motion = Callable[[np.random.Generator, int, int, int, float], list[Track]]
"""(rng, frames, height, width, object radius) -> the tracks of one video, in world pixels."""

MOTIONS: dict[str, Motion] = {
    "BounceToRest": _motion_bounce,
    "Glide": _motion_glide,
    "Orbit": _motion_orbit,
    "Pendulum": _motion_pendulum,
    "Projectile": _motion_projectile,
    "Shatter": _motion_shatter,
    "SpiralIn": _motion_spiral,
    "SlideToRest": _motion_slide,
    "Spin": _motion_spin,
    "Spread": _motion_spread,
}


# ----------------------------------------------------------------------------------------------
# Rendering


def _camera(rng: np.random.Generator, n: int, width: int) -> np.ndarray:
    """Camera offsets (n, 2): still half the time, else a slow pan in a random direction."""
    if rng.random() < 0.5:
        return np.zeros((n, 2))
    heading = rng.uniform(0, 2 * np.pi)
    speed = rng.uniform(0.1, 0.3) * width / 80
    frames = np.arange(n) - (n - 1) / 2
    return np.array([np.cos(heading), np.sin(heading)])[None, :] * speed * frames[:, None]


def _backgrounds(look: Appearance, offsets: np.ndarray, height: int, width: int) -> np.ndarray:
    """The background seen through the moving camera: (n, H, W, 3) float32, sub-pixel panned."""
    if not offsets.any():
        crop = look.background[look.pad : look.pad + height, look.pad : look.pad + width]
        return np.repeat(crop[None], len(offsets), axis=0)
    out = np.empty((len(offsets), height, width, 3), np.float32)
    for i, (dx, dy) in enumerate(offsets):
        shift = np.float32([[1, 0, -(look.pad + dx)], [0, 1, -(look.pad + dy)]])
        out[i] = cv2.warpAffine(
            look.background,
            shift,
            (width, height),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT,
        )
    return out


def _reach(look: Appearance, track: Track) -> np.ndarray:
    """Per frame, how far (pixels) from its centre a track's drawing can extend."""
    return look.radius * track.scale * (_SHAPE_REACH[look.shape] + np.hypot(*track.anchor)) + 2


def _draw_track(frames: np.ndarray, look: Appearance, track: Track, offsets: np.ndarray) -> None:
    """Composite one object (or piece) into the frames, in place, in a small window per frame."""
    _, height, width, _ = frames.shape
    reach = _reach(look, track)
    cx, cy = track.x - offsets[:, 0], track.y - offsets[:, 1]  # screen pixels
    inside = (cx + reach > 0) & (cx - reach < width) & (cy + reach > 0) & (cy - reach < height)
    idx = np.flatnonzero(track.visible & inside)
    if len(idx) == 0:
        return
    span = 2 * int(np.ceil(reach[idx].max())) + 2
    x0 = np.floor(cx[idx]).astype(int) - span // 2
    y0 = np.floor(cy[idx]).astype(int) - span // 2
    grid = np.arange(span)
    sel = (slice(None), None, None)
    dx = ((x0[:, None] + grid)[:, None, :] - cx[idx][sel]).astype(np.float32)
    dy = ((y0[:, None] + grid)[:, :, None] - cy[idx][sel]).astype(np.float32)
    size = (look.radius * track.scale[idx])[sel].astype(np.float32)  # pixels per object unit
    cos, sin = np.cos(track.angle[idx])[sel], np.sin(track.angle[idx])[sel]
    lx = (cos * dx + sin * dy) / size + track.anchor[0]  # object coordinates
    ly = (-sin * dx + cos * dy) / size + track.anchor[1]
    dist = _sdf(look.shape, lx, ly) * size  # pixels
    edge = np.clip(0.5 - dist, 0, 1)
    inner = np.clip(0.5 - (dist + max(1.0, 0.12 * look.radius)), 0, 1)
    dot = np.clip(0.5 - (np.hypot(lx - 0.42, ly + 0.1) - 0.3) * size, 0, 1) * inner
    if track.sector is not None:  # keep the points whose angle is within the slice
        start, end = track.sector
        mid, half = (start + end) / 2, (end - start) / 2
        along = lx * np.cos(mid) + ly * np.sin(mid)
        across = -lx * np.sin(mid) + ly * np.cos(mid)
        keep = np.abs(np.arctan2(across, along)) < half
        edge, inner, dot = edge * keep, inner * keep, dot * keep
    light = 1 + 0.25 * np.clip(-(dx * look.light[0] + dy * look.light[1]) / (1.2 * size), -1, 1)
    colour = look.outline * (edge - inner)[..., None]
    colour += np.clip(look.fill * light[..., None], 0, 1) * (inner - dot)[..., None]
    colour += look.mark * dot[..., None]
    keep = 1 - edge[..., None]
    for i, (f, x, y) in enumerate(zip(idx, x0, y0, strict=True)):  # slices beat fancy indexing
        xa, xb, ya, yb = max(x, 0), min(x + span, width), max(y, 0), min(y + span, height)
        if xa >= xb or ya >= yb:
            continue
        window = frames[f, ya:yb, xa:xb]
        local = (i, slice(ya - y, yb - y), slice(xa - x, xb - x))
        window *= keep[local]
        window += colour[local]


def render(
    look: Appearance, tracks: list[Track], offsets: np.ndarray, height: int, width: int
) -> np.ndarray:
    """Draw the tracks over the background through a camera: (n, H, W, 3) uint8 RGB frames."""
    frames = _backgrounds(look, offsets, height, width)
    for track in tracks:
        _draw_track(frames, look, track, offsets)
    frames *= 255
    frames += 0.5
    return np.clip(frames, 0, 255, out=frames).astype(np.uint8)


def _place(
    rng: np.random.Generator,
    tracks: list[Track],
    offsets: np.ndarray,
    height: int,
    width: int,
    margin: float,
) -> None:
    """Shift all tracks by one random offset that keeps their path in the (moving) frame.

    Every class then spreads its object over the whole frame, so where the object is in a single
    frame says little about the class (a floor, a pivot or a drain is never drawn).
    """
    shown = [
        (t.x[t.visible] - offsets[t.visible, 0], t.y[t.visible] - offsets[t.visible, 1])
        for t in tracks
        if t.visible.any()
    ]
    if not shown:
        return
    xs, ys = np.concatenate([x for x, _ in shown]), np.concatenate([y for _, y in shown])
    dx = rng.uniform(*sorted((margin - xs.min(), width - margin - xs.max())))
    dy = rng.uniform(*sorted((margin - ys.min(), height - margin - ys.max())))
    for track in tracks:
        track.x += dx
        track.y += dy


def _video_rng(seed: int, label: int, group: int, clip: int) -> np.random.Generator:
    """The random stream of one video: independent of every other video and of generation order."""
    return np.random.default_rng(np.random.SeedSequence([seed, 1, label, group, clip]))


def render_video(
    class_name: str, group: int = 1, clip: int = 1, seed: int = 0, settings: Settings | None = None
) -> np.ndarray:
    """The frames of one built-in video, (T, H, W, 3) uint8 RGB, as `generate` encodes them."""
    settings = settings or Settings()
    check_choice("class_name", class_name, CLASSES)
    label = list(CLASSES).index(class_name)
    rng = _video_rng(seed, label, group, clip)
    n = int(rng.integers(settings.frames[0], settings.frames[1] + 1))
    look = group_appearance(seed, group, settings.height, settings.width)
    scale = rng.uniform(0.8, 1.2)  # per-video size jitter around the group's object
    tracks = MOTIONS[class_name](rng, n, settings.height, settings.width, look.radius * scale)
    for track in tracks:
        track.scale *= scale
    offsets = _camera(rng, n, settings.width)
    _place(rng, tracks, offsets, settings.height, settings.width, 0.6 * look.radius * scale)
    return render(look, tracks, offsets, settings.height, settings.width)


# ----------------------------------------------------------------------------------------------
# Encoding


def write_avi(path: Path, frames: np.ndarray, fps: int = FPS, gop: int = GOP_SIZE) -> None:
    """Encode (T, H, W, 3) uint8 RGB frames as XviD (MPEG-4 part 2) AVI, high quality.

    A keyframe every `gop` frames (12, as in UCF-101); the output is the same bytes on every run.
    """
    import av

    with av.open(str(path), "w", format="avi") as container:
        stream = container.add_stream("mpeg4", rate=fps, options={"qmin": "2", "qmax": "4"})
        stream.codec_context.codec_tag = "XVID"
        stream.codec_context.gop_size = gop
        stream.codec_context.thread_count = 1  # deterministic output
        stream.bit_rate = 2_000_000
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
