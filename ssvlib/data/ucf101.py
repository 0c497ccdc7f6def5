"""The UCF-101 index: classes, split files, groups and labels.

A data root holds two folders, exactly as the official archives extract::

    ROOT/UCF-101/<ClassName>/v_<ClassName>_gXX_cYY.avi
    ROOT/ucfTrainTestlist/classInd.txt, trainlist0N.txt, testlist0N.txt   (N = 1, 2, 3)

The built-in dataset (`ssvlib.data.builtin`) is written in the same layout, so this one loader
serves both. Labels are 0-based. The class of a video is taken from its folder, never from its file
name: UCF-101's folder says ``HandstandPushups`` where the file names say ``v_HandStandPushups_...``.
"""

from __future__ import annotations

import re
from pathlib import Path

from .index import Split, VideoRecord

VIDEO_DIR = "UCF-101"
SPLIT_DIR = "ucfTrainTestlist"
SPLITS = (1, 2, 3)
_NAME = re.compile(r"^v_(?P<cls>.+)_g(?P<group>\d+)_c(?P<clip>\d+)\.avi$", re.IGNORECASE)


class UCF101Error(ValueError):
    """A UCF-101 root, split file or video name is not as the dataset lays it out."""


def parse_video_name(name: str) -> tuple[int, int]:
    """Return (group, clip) parsed from a file name such as 'v_Biking_g01_c03.avi'."""
    match = _NAME.match(Path(name).name)
    if match is None:
        raise UCF101Error(f"{name!r} is not a UCF-101 video name (expected v_<Class>_gXX_cYY.avi)")
    return int(match["group"]), int(match["clip"])


def _read_lines(path: Path) -> list[str]:
    """Non-empty lines of a split file, CRLF or LF, stripped."""
    if not path.is_file():
        raise UCF101Error(
            f"missing split file {path}: download the split archive with "
            f"`ssv data download ROOT` or unzip UCF101TrainTestSplits-RecognitionTask.zip into "
            f"{path.parent.parent}"
        )
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def find_root(root: str | Path) -> Path:
    """Check that `root` holds ucfTrainTestlist/ (and UCF-101/) and return it as an absolute Path."""
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise UCF101Error(f"data root {root} does not exist")
    if not (root / SPLIT_DIR).is_dir():
        hint = ""
        if root.name in (VIDEO_DIR, SPLIT_DIR):
            hint = f" (you named the {root.name} folder itself; pass its parent {root.parent})"
        raise UCF101Error(
            f"{root} has no {SPLIT_DIR}/ folder{hint}: a data root holds {VIDEO_DIR}/ and {SPLIT_DIR}/ "
            f"as the official archives extract"
        )
    return root


def load_classes(root: str | Path) -> list[str]:
    """Class names in label order (label = line number in classInd.txt minus one)."""
    path = find_root(root) / SPLIT_DIR / "classInd.txt"
    classes = []
    for number, line in enumerate(_read_lines(path), start=1):
        parts = line.split()
        if len(parts) != 2 or parts[0] != str(number):
            raise UCF101Error(f"{path}: line {number} is {line!r}, expected '{number} ClassName'")
        classes.append(parts[1])
    return classes


def _record(root: Path, rel: str, label: int, classes: list[str], source: Path) -> VideoRecord:
    """Build a VideoRecord from a split-file path, checking it against the class list."""
    rel = rel.replace("\\", "/")
    folder, _, name = rel.rpartition("/")
    if folder not in classes:
        raise UCF101Error(f"{source}: {rel!r} lies in folder {folder!r}, which classInd.txt lacks")
    if classes.index(folder) != label:
        raise UCF101Error(
            f"{source}: {rel!r} has label {label + 1}, but classInd.txt gives {folder!r} "
            f"label {classes.index(folder) + 1}"
        )
    group, clip = parse_video_name(name)
    return VideoRecord(rel, root / VIDEO_DIR / rel, label, folder, group, clip)


def read_split_file(root: str | Path, name: str, classes: list[str]) -> list[VideoRecord]:
    """Records listed in one split file; train lists carry a 1-based label, test lists do not."""
    root = find_root(root)
    path = root / SPLIT_DIR / name
    records = []
    for line in _read_lines(path):
        parts = line.split()
        rel = parts[0]
        folder = rel.replace("\\", "/").rpartition("/")[0]
        if len(parts) > 1:
            label = int(parts[1]) - 1
        elif folder in classes:
            label = classes.index(folder)
        else:
            raise UCF101Error(
                f"{path}: {rel!r} lies in folder {folder!r}, which classInd.txt lacks"
            )
        records.append(_record(root, rel, label, classes, path))
    return records


def load_split(root: str | Path, split: int = 1, check_files: bool = True) -> Split:
    """Read split 1, 2 or 3 of a UCF-101-layout root; with check_files, list videos absent on disk."""
    if split not in SPLITS:
        raise UCF101Error(f"split={split!r} is not valid; UCF-101 has splits 1, 2 and 3")
    root = find_root(root)
    classes = load_classes(root)
    train = read_split_file(root, f"trainlist0{split}.txt", classes)
    test = read_split_file(root, f"testlist0{split}.txt", classes)
    missing = [r.rel for r in train + test if not r.path.is_file()] if check_files else []
    return check_groups(Split(split, classes, train, test, missing))


def check_groups(split: Split) -> Split:
    """Raise when a group (one actor and scene) has videos on both sides of the split."""
    trained = {(r.class_name, r.group): r for r in split.train}
    for record in split.test:
        seen = trained.get((record.class_name, record.group))
        if seen is not None:
            raise UCF101Error(
                f"split {split.split} puts group {record.group} of {record.class_name} on both "
                f"sides: {seen.rel} in training, {record.rel} in test. Clips of a group share "
                "actor and scene, so a test score would reward remembering them: move the whole "
                "group to one side of the split files, or use the official ones "
                "(`ssv data download ROOT --splits-only`)"
            )
    return split
