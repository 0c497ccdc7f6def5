"""Which videos a chapter uses: one call opens a data root for every chapter.

`open_videos("builtin")` generates (once) and opens the built-in dataset; `open_videos("ucf101",
ROOT)` opens a UCF-101 root and `open_videos("hmdb51", ROOT)` an HMDB-51 root, complete or not. Either way the chapter gets the videos of one
official split that are present on disk, counted, with whole groups of the training side held out
for validation (pretext validation and the choice of the fine-tuning epoch):

    train         every present training video (labels used only for evaluation)
    fit           train minus the held-out groups: pretext training and fine-tuning
    val           the held-out groups
    test          every present test video (only ever test data)

Where too few videos are present for that, one error says how many there are on each side, how
many are needed, and to run `ssv data check`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from ..config import shown_path
from ..settings import check_choice
from . import hmdb51, ucf101
from .builtin import builtin_root
from .decode import probe_all
from .index import Split, VideoRecord, hold_out_groups, present

DATASETS = ("builtin", "ucf101", "hmdb51")
ROOT_HELP = {
    "ucf101": "the folder with UCF-101/ and ucfTrainTestlist/",
    "hmdb51": "the folder with videos/ and testTrainMulti_7030_splits/",
}


@dataclass(frozen=True)
class Videos:
    """The present videos of one split, with held-out training groups for validation."""

    dataset: str
    root: Path
    split: int
    classes: list[str]
    train: list[VideoRecord]
    test: list[VideoRecord]
    val_groups: int = 2
    listed: tuple[int, int] = (0, 0)  # train and test videos the split files name
    unreadable: dict[str, str] = field(default_factory=dict)  # present, left out: {rel: why}
    fit: list[VideoRecord] = field(init=False)
    val: list[VideoRecord] = field(init=False)

    def __post_init__(self) -> None:
        """Hold out the highest-numbered training groups as the validation set (if any)."""
        fit, val = self.train, []
        if self.val_groups:
            fit, val = hold_out_groups(self.train, self.val_groups)
        object.__setattr__(self, "fit", fit)
        object.__setattr__(self, "val", val)

    @property
    def num_classes(self) -> int:
        """Classes of the dataset (not only those present)."""
        return len(self.classes)

    def every(self, k: int) -> Videos:
        """Every k-th video of each side (smoke runs); the held-out groups stay held out."""
        train, test = self.train[::k], self.test[::k]
        if not test or len({r.group for r in train}) <= self.val_groups:
            return self  # too few videos left to hold groups out: keep them all
        return replace(self, train=train, test=test, listed=(len(train), len(test)))

    def readable(self, progress: bool = True) -> Videos:
        """These videos without the ones that cannot be read, named with why in `unreadable`.

        Every video is opened and decoded once (`decode.probe_all`, cached on disk), so a broken
        file is found here, named, before hours of training, and never changes a test set
        silently later.
        """
        records = self.train + self.test
        found = probe_all([r.path for r in records], progress)
        bad = {r.rel: found[str(r.path)] for r in records if isinstance(found[str(r.path)], str)}
        if not bad:
            return self
        train = [r for r in self.train if r.rel not in bad]
        test = [r for r in self.test if r.rel not in bad]
        return replace(self, train=train, test=test, unreadable={**self.unreadable, **bad})

    def describe(self) -> str:
        """One paragraph of counts."""
        missing = ""
        if self.listed != (len(self.train), len(self.test)):
            missing = (
                f" (present of those listed: {len(self.train)}/{self.listed[0]} train, "
                f"{len(self.test)}/{self.listed[1]} test)"
            )
        held = ""
        if self.val_groups:
            held = (
                f": {len(self.fit)} to train on and {len(self.val)} in {self.val_groups} "
                "held-out groups to validate"
            )
        unreadable = f"; {len(self.unreadable)} unreadable left out" if self.unreadable else ""
        return (
            f"{self.dataset} split {self.split} at {shown_path(self.root)}: {self.num_classes} classes; "
            f"{len(self.train)} training videos{missing}{held}; {len(self.test)} test videos"
            f"{unreadable}"
        )  # fmt: skip


def open_videos(
    dataset: str = "builtin",
    data_root: str | Path | None = None,
    split: int = 1,
    *,
    val_groups: int = 2,
) -> Videos:
    """Open the present videos of `split`; raise one clear error when too few are present.

    `val_groups` training groups are held out for validation (0: none, for a chapter that only
    looks at the data or trains for a fixed number of epochs).
    """
    check_choice("dataset", dataset, DATASETS)
    check_choice("split", split, ucf101.SPLITS)
    if dataset != "builtin" and data_root is None:
        raise ValueError(f"dataset={dataset!r} needs data_root: {ROOT_HELP[dataset]}")
    if dataset == "hmdb51":
        root = hmdb51.find_root(data_root)
    else:
        root = builtin_root() if dataset == "builtin" else ucf101.find_root(data_root)
    index = load_index(dataset, root, split)
    train, test = present(index.train), present(index.test)
    groups = len({r.group for r in train})
    if groups < val_groups + 1 or not test or not train:
        raise (hmdb51.HMDB51Error if dataset == "hmdb51" else ucf101.UCF101Error)(
            f"{root} holds too few videos of split {split} for this chapter: {len(train)} of "
            f"{len(index.train)} training videos are present, in {groups} groups, and {len(test)} "
            f"of {len(index.test)} test videos. It needs training videos in at least "
            f"{val_groups + 1} groups ({val_groups} are held out for validation) and at least one "
            f"test video. Run `ssv data check {root} --dataset {dataset} --split {split}` to "
            "list what is missing."
        )
    return Videos(
        dataset,
        root,
        split,
        index.classes,
        train,
        test,
        val_groups,
        (len(index.train), len(index.test)),
    )


def load_index(dataset: str, root: str | Path, split: int = 1) -> Split:
    """The official split `split` of a UCF-101 or HMDB-51 root (or the built-in data's)."""
    check_choice("dataset", dataset, DATASETS)
    if dataset == "hmdb51":
        return hmdb51.load_split(root, split)
    return ucf101.load_split(builtin_root() if dataset == "builtin" else root, split)


def check_root(
    root: str | Path,
    dataset: str = "ucf101",
    split: int = 1,
    backend: str = "auto",
    min_frames: dict[str, int] | None = None,
) -> dict:
    """Validate a root: every listed video present, each present one decodes its first and last
    frames (the last that decodes, not the one the header announces), and, given `min_frames`
    ({recipe name: frames one sample needs}), the videos too short for some recipes."""
    from tqdm.auto import tqdm

    from .decode import VideoError, read_frames, video_info

    index = load_index(dataset, root, split)
    unreadable, errors, short = [], {}, []
    records = present(index.train + index.test)
    for record in tqdm(records, desc="checking videos", unit="video", leave=False):
        try:
            count = video_info(record.path).num_frames
            read_frames(record.path, [0, count - 1], backend)
        except VideoError as err:
            unreadable.append(record.rel)
            errors[record.rel] = str(err)
            continue
        needs = sorted(name for name, frames in (min_frames or {}).items() if count < frames)
        if needs:
            short.append({"video": record.rel, "frames": count, "too_short_for": needs})
    return {
        "dataset": dataset,
        "root": str(Path(root).expanduser().resolve()),
        "split": split,
        "classes": len(index.classes),
        "train": len(index.train),
        "test": len(index.test),
        "present": len(records),
        "missing": index.missing,
        "unreadable": unreadable,
        "errors": errors,
        "min_frames": dict(min_frames or {}),
        "short": short,
    }
