"""Run-wide settings: smoke mode, cache folder, device choice and seeding."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np


def is_smoke() -> bool:
    """True when SSV_SMOKE is set to anything but '' or '0': every run shrinks to seconds."""
    return os.environ.get("SSV_SMOKE", "").strip() not in ("", "0")


def is_strict() -> bool:
    """True when SSV_STRICT is set to anything but '' or '0': an unreadable video stops a run."""
    return os.environ.get("SSV_STRICT", "").strip() not in ("", "0")


def cache_dir() -> Path:
    """Folder for generated data and caches: $SSV_CACHE, else ~/.cache/ssvlib."""
    root = os.environ.get("SSV_CACHE") or Path.home() / ".cache" / "ssvlib"
    path = Path(root).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def shown_path(path: str | Path) -> str:
    """`path` as a page or a log may show it: inside the cache as ``$SSV_CACHE/...``, inside
    this checkout relative to it; elsewhere (a data root the user gave) as it is."""
    path = Path(path)
    places = [("$SSV_CACHE", cache_dir())]
    if repo_root() is not None:
        places.append((None, repo_root()))
    for name, base in places:
        try:
            inside = path.resolve().relative_to(base.resolve())
        except ValueError:
            continue
        return str(inside) if name is None else f"{name}/{inside}"
    return str(path)


def resolve_device(name="auto"):
    """Turn 'auto', 'cuda', 'mps' or 'cpu' into a torch.device ('auto': CUDA, then MPS, then CPU)."""
    import torch

    if isinstance(name, torch.device):
        return name
    valid = ("auto", "cuda", "mps", "cpu")
    base = str(name).split(":")[0]
    if base not in valid:
        raise ValueError(
            f"device={name!r} is not one of {valid} (a CUDA index like 'cuda:1' works too)"
        )
    if base == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if base == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "device='cuda' was asked for but torch sees no CUDA GPU; use 'auto' or 'cpu'"
        )
    if base == "mps" and not torch.backends.mps.is_available():
        raise ValueError(
            "device='mps' was asked for but this torch has no MPS; use 'auto' or 'cpu'"
        )
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) from one integer."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def repo_root() -> Path | None:
    """The checkout this ssvlib was installed from (editable install), or None."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() and (root / "_toc.yml").is_file() else None


def default_results_dir() -> Path:
    """Where runs write their JSON: $SSV_RESULTS, else results/ in the checkout (smoke: _build/)."""
    if os.environ.get("SSV_RESULTS"):
        return Path(os.environ["SSV_RESULTS"]).expanduser()
    base = repo_root()
    if base is None:
        return cache_dir() / ("results-smoke" if is_smoke() else "results")
    return base / "_build" / "smoke" / "results" if is_smoke() else base / "results"


def run_dir(kind: str, settings: dict) -> Path:
    """A checkpoint folder named by a hash of the run's settings: new settings, new folder."""
    import hashlib
    import json

    digest = hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()
    smoke = "smoke-" if is_smoke() else ""
    return cache_dir() / "runs" / f"{smoke}{kind}-{digest[:10]}"
