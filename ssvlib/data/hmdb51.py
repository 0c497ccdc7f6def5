"""HMDB-51's official splits: the index of which video trains and which tests, for splits 1-3.

A root holds the split files as published, ``testTrainMulti_7030_splits/<action>_test_split<N>.txt``
(one file per action and split; each line ``<video>.avi <id>``, 1 = train, 2 = test, 0 = unused;
70 train and 30 test videos per action and split), and the videos as ``videos/<action>/<video>.avi``.
The class is the action; labels follow the actions in alphabetical order. HMDB-51 has no groups
as UCF-101 has: clips cut from the same source video share its title, the part of the file name
before the action, and `VideoRecord.group` numbers those titles, so that a held-out set never
shares a source video with the training set.
"""

from __future__ import annotations

import re
from pathlib import Path

from .index import Split, VideoRecord

VIDEO_DIR = "videos"
SPLIT_DIR = "testTrainMulti_7030_splits"
SPLITS = (1, 2, 3)
NUM_CLASSES = 51
_SPLIT_FILE = re.compile(r"^(?P<action>.+)_test_split(?P<split>[123])\.txt$")
_CLIP = re.compile(r"_(?P<clip>\d+)\.avi$", re.IGNORECASE)


class HMDB51Error(ValueError):
    """An HMDB-51 root or split file is not as the dataset publishes it."""


def find_root(root: str | Path) -> Path:
    """Check that `root` holds testTrainMulti_7030_splits/ and return it as an absolute Path."""
    root = Path(root).expanduser().resolve()
    if not (root / SPLIT_DIR).is_dir():
        raise HMDB51Error(
            f"{root} has no {SPLIT_DIR}/ folder: an HMDB-51 root holds the official split files "
            f"there (test_train_splits.rar) and the videos under {VIDEO_DIR}/<action>/"
        )
    return root


def load_classes(root: str | Path) -> list[str]:
    """The 51 actions, in alphabetical order (label = position), from the split files' names."""
    folder = find_root(root) / SPLIT_DIR
    actions = sorted({m["action"] for p in folder.iterdir() if (m := _SPLIT_FILE.match(p.name))})
    if len(actions) != NUM_CLASSES:
        raise HMDB51Error(
            f"{folder} names {len(actions)} actions in <action>_test_split<N>.txt files, expected "
            f"{NUM_CLASSES}: re-extract test_train_splits.rar there"
        )
    return actions


def source_title(name: str, action: str) -> str:
    """The source video's title in a clip name: what comes before `_<action>_`."""
    head, sep, _ = Path(name).name.rpartition(f"_{action}_")
    return head if sep else Path(name).stem


def load_split(root: str | Path, split: int = 1, check_files: bool = True) -> Split:
    """Read split 1, 2 or 3; with check_files, list the videos absent on disk (by name)."""
    if split not in SPLITS:
        raise HMDB51Error(f"split={split!r} is not valid; HMDB-51 has splits 1, 2 and 3")
    root = find_root(root)
    classes = load_classes(root)
    train, test, titles = [], [], {}
    for label, action in enumerate(classes):
        path = root / SPLIT_DIR / f"{action}_test_split{split}.txt"
        if not path.is_file():
            raise HMDB51Error(f"missing split file {path}: re-extract test_train_splits.rar")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            parts = line.split()  # lines end with a space after the id, as published
            if not parts:
                continue
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise HMDB51Error(
                    f"{path}: line {number} is {line!r}, expected '<video>.avi 0|1|2'"
                )
            if parts[1] == "0":
                continue
            name = parts[0]
            match = _CLIP.search(name)
            group = titles.setdefault(source_title(name, action), len(titles) + 1)
            record = VideoRecord(
                f"{action}/{name}", root / VIDEO_DIR / action / name, label, action, group,
                int(match["clip"]) if match else 0,
            )  # fmt: skip
            (train if parts[1] == "1" else test).append(record)
    missing = [r.rel for r in train + test if not r.path.is_file()] if check_files else []
    return Split(split, classes, train, test, missing)
