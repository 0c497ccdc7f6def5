"""Run-wide settings: smoke mode, cache folder, device choice and seeding."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np


def is_smoke() -> bool:
    """True when SSV_SMOKE is set to anything but '' or '0': every run shrinks to seconds."""
    return os.environ.get("SSV_SMOKE", "").strip() not in ("", "0")


def cache_dir() -> Path:
    """Folder for generated data and caches: $SSV_CACHE, else ~/.cache/ssvlib."""
    root = os.environ.get("SSV_CACHE") or Path.home() / ".cache" / "ssvlib"
    path = Path(root).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def resolve_device(name: str = "auto"):
    """Turn 'auto', 'cuda', 'mps' or 'cpu' into a torch.device ('auto': CUDA, then MPS, then CPU)."""
    import torch

    valid = ("auto", "cuda", "mps", "cpu")
    base = name.split(":")[0]
    if base not in valid:
        raise ValueError(f"device={name!r} is not one of {valid} (a CUDA index like 'cuda:1' works too)")
    if base == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if base == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for but torch sees no CUDA GPU; use 'auto' or 'cpu'")
    if base == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device='mps' was asked for but this torch has no MPS; use 'auto' or 'cpu'")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) from one integer."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def check_choice(name: str, value, valid) -> None:
    """Raise a ValueError that lists the valid values when `value` is not among them."""
    valid = tuple(valid)
    if value not in valid:
        raise ValueError(f"{name}={value!r} is not valid; choose one of: {', '.join(map(repr, valid))}")
