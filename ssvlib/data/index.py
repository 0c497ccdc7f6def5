"""What a dataset's index holds, whichever dataset it is: its videos (`VideoRecord`) and one
official split (`Split`). `ssvlib.data.ucf101` and `ssvlib.data.hmdb51` read their split files
into these; `ssvlib.data.videos` picks the present ones and holds out validation groups.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class VideoRecord:
    """One video of the index: where it is, its class and its group."""

    rel: str
    path: Path
    label: int
    class_name: str
    group: int
    clip: int


@dataclass
class Split:
    """One official train/test split: the classes and the videos on each side."""

    split: int
    classes: list[str]
    train: list[VideoRecord]
    test: list[VideoRecord]
    missing: list[str] = field(default_factory=list)

    @property
    def root(self) -> Path:
        """The data root the videos live under."""
        return (self.train or self.test)[0].path.parents[2]


def present(records: list[VideoRecord]) -> list[VideoRecord]:
    """Keep only the records whose video file exists (for partial copies of UCF-101)."""
    return [r for r in records if r.path.is_file()]


def hold_out_groups(
    records: list[VideoRecord], groups: int
) -> tuple[list[VideoRecord], list[VideoRecord]]:
    """Split records into (kept, held out): the `groups` highest-numbered groups are held out.

    Holding out whole groups keeps a validation set free of the scenes it is trained on, as the
    official splits do for testing.
    """
    numbers = sorted({r.group for r in records})
    if not 0 < groups < len(numbers):
        raise ValueError(f"cannot hold out {groups} of {len(numbers)} groups: keep at least one")
    held = set(numbers[-groups:])
    return [r for r in records if r.group not in held], [r for r in records if r.group in held]
