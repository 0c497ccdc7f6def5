"""Shared fixtures: the real UCF-101 files (when present) and tiny videos written on the fly."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def _shared(variable: str, name: str, marker: str) -> Path | None:
    """$variable, else ../shared/<name> beside the checkout, where it holds `marker`; else None."""
    path = Path(os.environ.get(variable) or REPO.parent / "shared" / name)
    return path if (path / marker).is_dir() else None


def _or_skip(root: Path | None, dataset: str, variable: str, holds: str, name: str) -> Path:
    """`root`, or skip the test saying how to give it the real files."""
    if root is None:
        pytest.skip(
            f"real {dataset} files not found: set {variable} to a folder holding {holds} "
            f"(CI uses ../shared/{name})"
        )
    return root


def real_data_root() -> Path | None:
    """$SSV_REAL_DATA, else ../shared/ucf101 beside the checkout, else None."""
    return _shared("SSV_REAL_DATA", "ucf101", "ucfTrainTestlist")


def real_hmdb51_root() -> Path | None:
    """$SSV_REAL_HMDB51, else ../shared/hmdb51 beside the checkout, else None."""
    return _shared("SSV_REAL_HMDB51", "hmdb51", "testTrainMulti_7030_splits")


@pytest.fixture(scope="session")
def real_root() -> Path:
    """The real UCF-101 split files and clips; skips when this clone has none."""
    holds = "ucfTrainTestlist/ and UCF-101/"
    return _or_skip(real_data_root(), "UCF-101", "SSV_REAL_DATA", holds, "ucf101")


@pytest.fixture(scope="session")
def real_hmdb51() -> Path:
    """The real HMDB-51 split files and clips; skips when this clone has none."""
    holds = "testTrainMulti_7030_splits/ and videos/"
    return _or_skip(real_hmdb51_root(), "HMDB-51", "SSV_REAL_HMDB51", holds, "hmdb51")


def write_video(path: Path, frames: np.ndarray, fps: int = 25, gop: int = 12) -> Path:
    """Write uint8 RGB frames (T, H, W, 3) as an XviD AVI, with the built-in dataset's encoder."""
    from ssvlib.data.synthetic import write_avi

    path.parent.mkdir(parents=True, exist_ok=True)
    write_avi(path, frames, fps=fps, gop=gop)
    return path


def numbered_frames(count: int, height: int = 48, width: int = 64) -> np.ndarray:
    """Frames whose brightness encodes their index, so a decoded frame tells which one it is."""
    levels = (np.arange(count) * 255 // max(count - 1, 1)).astype(np.uint8)
    return np.repeat(levels[:, None, None, None], height * width * 3, axis=1).reshape(
        count, height, width, 3
    )


@pytest.fixture
def numbered_video(tmp_path: Path) -> Path:
    """A 40-frame AVI whose frame i has brightness about i * 255 / 39."""
    return write_video(tmp_path / "numbered.avi", numbered_frames(40))


def train_one_step(model, x, labels, optim) -> None:
    """One optimiser step on (x, labels); fail unless the loss, every gradient and every
    parameter update are real: what a paper-size run needs before it starts on a GPU."""
    import torch

    from ssvlib.train import make_optimizer

    optimizer = make_optimizer(model.parameters(), optim)
    before = [q.detach().clone() for q in model.parameters()]
    loss = torch.nn.functional.cross_entropy(model(x), labels)
    loss.backward()
    assert torch.isfinite(loss)
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    optimizer.step()
    unchanged = [
        name
        for (name, q), b in zip(model.named_parameters(), before, strict=True)
        if torch.equal(q, b)
    ]
    assert not unchanged, f"parameters that did not change: {unchanged}"


@pytest.fixture(scope="module")
def ucf_sized_video(tmp_path_factory):
    """A 70-frame 320x240 video, UCF-101's size, with a moving bright square."""
    from ssvlib.data.index import VideoRecord

    frames = np.full((70, 240, 320, 3), 40, np.uint8)
    for t in range(70):
        frames[t, 100:140, 3 * t : 3 * t + 40] = 230
    path = write_video(tmp_path_factory.mktemp("ucf") / "Up/v_Up_g01_c01.avi", frames)
    return VideoRecord("Up/v_Up_g01_c01.avi", path, 0, "Up", 1, 1)


def solver_values(pretext, videos: int) -> dict:
    """A Caffe solver's values as a paper states them, read back from a preset's `Pretext`:
    iterations and the step counted in batches over `videos` tuples per epoch."""
    optim, per_epoch = pretext.optim, videos / pretext.batch_size
    return {
        "optimizer": optim.name,
        "lr": optim.lr,
        "momentum": optim.momentum,
        "weight decay": optim.weight_decay,
        "batch": pretext.batch_size,
        "iterations": round(pretext.epochs * per_epoch, -3),
        "lr step at": round(optim.milestones[0] * per_epoch, -3),
        "gamma": optim.gamma,
    }
