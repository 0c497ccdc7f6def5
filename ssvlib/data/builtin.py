"""The built-in dataset on disk: the rendered videos written in the UCF-101 layout, and its cache.

`generate(root)` writes, exactly as UCF-101 extracts (folder names from `ssvlib.data.ucf101`)::

    root/UCF-101/<Class>/v_<Class>_gXX_cYY.avi
    root/ucfTrainTestlist/classInd.txt, trainlist0N.txt, testlist0N.txt   (N = 1, 2, 3)
    root/synthetic.json                                                    (the settings)

The pixels come from `ssvlib.data.synthetic`; this module decides which videos exist (clips per
class and group), which groups each split tests on, and where the files go. `builtin_root()`
generates the dataset once into the cache and reuses it after. Everything is a pure function of
the seed: the same seed gives the same files.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ssvlib import config
from ssvlib.data.synthetic import CLASSES, Settings, render_video, write_avi
from ssvlib.data.ucf101 import SPLIT_DIR, VIDEO_DIR, parse_video_name

VERSION = 2
"""Bumped whenever the dataset's files change (here or in the renderer), so a cache never serves
stale videos."""

INFO_NAME = "synthetic.json"
TEST_GROUPS_PER_SPLIT = 7  # of 25 groups: split 1 tests groups 1-7, split 2 8-14, split 3 15-21


def _video_name(class_name: str, group: int, clip: int) -> str:
    """The UCF-101 relative path of one video, e.g. 'Spin/v_Spin_g08_c01.avi'."""
    return f"{class_name}/v_{class_name}_g{group:02d}_c{clip:02d}.avi"


def clip_counts(seed: int, settings: Settings) -> dict[tuple[str, int], int]:
    """How many clips each (class, group) has: drawn per class and group from the seed."""
    lo, hi = settings.clips_per_group
    counts = {}
    for label, name in enumerate(CLASSES):
        for group in range(1, settings.groups + 1):
            rng = np.random.default_rng(np.random.SeedSequence([seed, 2, label, group]))
            counts[name, group] = int(rng.integers(lo, hi + 1))
    return counts


def video_names(seed: int, settings: Settings) -> list[str]:
    """Every video's relative path, e.g. 'Spin/v_Spin_g08_c01.avi', in classInd order."""
    counts = clip_counts(seed, settings)
    names = [_video_name(c, g, k) for (c, g), m in counts.items() for k in range(1, m + 1)]
    return sorted(names, key=lambda n: (list(CLASSES).index(n.split("/")[0]), n))


def split_test_groups(split: int, groups: int) -> range:
    """The groups a split tests on: 1-7, 8-14, 15-21 of 25 (scaled down for fewer groups)."""
    block = max(1, groups * TEST_GROUPS_PER_SPLIT // 25)
    return range((split - 1) * block + 1, split * block + 1)


def _write_split_files(folder: Path, names: list[str], groups: int) -> None:
    """classInd.txt, trainlist0N.txt and testlist0N.txt (N = 1, 2, 3), CRLF line ends."""
    folder.mkdir(parents=True)
    labels = {cls: i + 1 for i, cls in enumerate(CLASSES)}
    lines = [f"{i} {cls}" for cls, i in labels.items()]
    (folder / "classInd.txt").write_bytes("".join(f"{line}\r\n" for line in lines).encode())
    group_of = {name: parse_video_name(name)[0] for name in names}
    for split in (1, 2, 3):
        tested = split_test_groups(split, groups)
        train = [f"{n} {labels[n.split('/')[0]]}" for n in names if group_of[n] not in tested]
        test = [n for n in names if group_of[n] in tested]
        for kind, rows in (("train", train), ("test", test)):
            text = "".join(f"{row}\r\n" for row in rows)
            (folder / f"{kind}list0{split}.txt").write_bytes(text.encode())


def generate(
    root: str | Path,
    seed: int = 0,
    *,
    height: int = 64,
    width: int = 80,
    groups: int = 25,
    clips_per_group: tuple[int, int] = (2, 4),
    frames: tuple[int, int] = (64, 112),
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Write the built-in dataset under `root` in the UCF-101 layout; returns `root`.

    The files are written to a temporary sibling folder which is renamed to `root` only once
    complete, so an interrupted run never leaves a half dataset that looks finished.
    """
    from tqdm import tqdm

    root = Path(root).expanduser()
    settings = Settings(height, width, groups, tuple(clips_per_group), tuple(frames))
    if _occupied(root) and not overwrite:
        raise FileExistsError(
            f"{root} already exists and is not empty; delete it, pick another folder "
            "or pass overwrite=True"
        )
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.partial-", dir=root.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the finished dataset should be readable
    try:
        names = video_names(seed, settings)
        started = time.perf_counter()
        for name in tqdm(
            names, desc=f"built-in dataset (seed {seed})", unit="video", disable=not progress
        ):
            cls = name.split("/")[0]
            group, clip = parse_video_name(name)
            (tmp / VIDEO_DIR / cls).mkdir(parents=True, exist_ok=True)
            write_avi(tmp / VIDEO_DIR / name, render_video(cls, group, clip, seed, settings))
        _write_split_files(tmp / SPLIT_DIR, names, groups)
        info = {
            "version": VERSION,
            "seed": seed,
            "settings": asdict(settings),
            "videos": len(names),
            "seconds": round(time.perf_counter() - started, 1),
            "classes": {c.name: asdict(c) for c in CLASSES.values()},
        }
        (tmp / INFO_NAME).write_text(json.dumps(info, indent=1))
        _move_into_place(tmp, root, overwrite)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def _occupied(path: Path) -> bool:
    """True when the path exists and is not an empty folder."""
    return path.exists() and (not path.is_dir() or any(path.iterdir()))


def _move_into_place(tmp: Path, root: Path, overwrite: bool) -> None:
    """Rename the finished folder to `root` (replacing an old one if asked)."""
    if root.is_dir() and not any(root.iterdir()):
        root.rmdir()
    old = None
    if overwrite and root.exists():
        old = root.with_name(f".{root.name}.old-{os.getpid()}")
        root.rename(old)
    os.rename(tmp, root)  # atomic; fails if another process put a dataset there meanwhile
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def read_info(root: str | Path) -> dict | None:
    """The settings a generated dataset was made with (its synthetic.json), or None."""
    path = Path(root) / INFO_NAME
    return json.loads(path.read_text()) if path.is_file() else None


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (POSIX flock; a no-op where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:  # Windows: rely on the atomic rename alone
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def builtin_root(seed: int = 0, root: str | Path | None = None, *, progress: bool = True) -> Path:
    """The built-in dataset's root folder, generated on first use (default settings).

    Lives in `config.cache_dir() / f"builtin-v{VERSION}-seed{seed}"` unless `root` is given; a
    folder that already holds this generator version's dataset for this seed is used as it is.
    Two processes calling this at once generate it once: the second waits for the first.
    """
    if root is None:
        root = config.cache_dir() / f"builtin-v{VERSION}-seed{seed}"
    root = Path(root).expanduser()
    if _complete(root, seed):
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(root.with_name(f".{root.name}.lock")):
        if not _complete(root, seed):
            for stale in root.parent.glob(f".{root.name}.partial-*"):  # left by a killed run
                shutil.rmtree(stale, ignore_errors=True)
            try:
                generate(root, seed, progress=progress)
            except OSError:
                if not _complete(root, seed):  # not a lost race: a real error
                    raise
    return root


def _complete(root: Path, seed: int) -> bool:
    """True when `root` holds a finished dataset made by this generator version and seed."""
    info = read_info(root)
    return info is not None and info.get("version") == VERSION and info.get("seed") == seed
