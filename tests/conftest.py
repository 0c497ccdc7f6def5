"""Shared fixtures: the real UCF-101 files (when present) and tiny videos written on the fly."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def real_data_root() -> Path | None:
    """$SSV_REAL_DATA, else ../shared/ucf101 beside the checkout, else None."""
    candidate = os.environ.get("SSV_REAL_DATA") or REPO.parent / "shared" / "ucf101"
    path = Path(candidate)
    return path if (path / "ucfTrainTestlist").is_dir() else None


@pytest.fixture(scope="session")
def real_root() -> Path:
    """The real UCF-101 split files and clips; skips when this clone has none."""
    root = real_data_root()
    if root is None:
        pytest.skip("real UCF-101 files not found: set SSV_REAL_DATA to a folder holding "
                    "ucfTrainTestlist/ and UCF-101/ (CI uses ../shared/ucf101)")
    return root


def write_video(path: Path, frames: np.ndarray, fps: int = 25, gop: int = 12) -> Path:
    """Write uint8 RGB frames (T, H, W, 3) as an MPEG-4 (XviD) AVI with PyAV."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = gop
        stream.codec_context.codec_tag = "XVID"
        stream.options = {"qscale": "2"}
        for array in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")))
        container.mux(stream.encode())
    return path


def numbered_frames(count: int, height: int = 48, width: int = 64) -> np.ndarray:
    """Frames whose brightness encodes their index, so a decoded frame tells which one it is."""
    levels = (np.arange(count) * 255 // max(count - 1, 1)).astype(np.uint8)
    return np.repeat(levels[:, None, None, None], height * width * 3, axis=1).reshape(
        count, height, width, 3)


@pytest.fixture
def numbered_video(tmp_path: Path) -> Path:
    """A 40-frame AVI whose frame i has brightness about i * 255 / 39."""
    return write_video(tmp_path / "numbered.avi", numbered_frames(40))
