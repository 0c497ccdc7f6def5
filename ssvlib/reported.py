"""The papers' own action-recognition numbers (fine-tuning, video level, %), kept apart from ours.

Each entry says which network the number is for; values we could not read from the paper
itself (they come from later papers' tables or secondary sources) are marked unverified. None of them is
comparable with a number this book measures on the built-in data: they are real video, large
networks and days of GPU time. Chapters print them beside a downstream result as context only.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reported:
    """One paper's fine-tuning accuracy on UCF-101 and HMDB-51, with random init where given."""

    paper: str
    network: str
    ucf101: float
    hmdb51: float
    ucf101_random: float | None = None
    hmdb51_random: float | None = None
    note: str = ""


REPORTED = {
    "shuffle_learn": Reported(
        "Shuffle and Learn", "CaffeNet", 50.2, 18.1, 38.6, 13.3,
        "mean of 3 splits (split 1: 50.9 / 19.8); the random-init numbers are unverified",
    ),
    "opn": Reported(
        "OPN", "CaffeNet", 56.3, 22.1, None, None, "VGG-M-2048: 59.8 / 23.8",
    ),
    "o3n": Reported("O3N", "AlexNet", 60.3, 32.5),
    "vcop": Reported(
        "VCOP", "R3D", 64.9, 29.5, 54.5, 23.4,
        "C3D 65.6 / 28.4, R(2+1)D 72.4 / 30.9; split 1 or 3-split mean unverified",
    ),
}  # fmt: skip


def reported_line(paper: str, dataset: str) -> str | None:
    """One line: what `paper` reports after fine-tuning on `dataset` (None where nothing is)."""
    entry = REPORTED.get(paper)
    if entry is None or dataset not in ("ucf101", "hmdb51"):
        return None
    name = "UCF-101" if dataset == "ucf101" else "HMDB-51"
    ours = getattr(entry, dataset)
    random = getattr(entry, f"{dataset}_random")
    baseline = f" (random init {random}%)" if random is not None else ""
    note = f"; {entry.note}" if entry.note else ""
    return (
        f"{entry.paper} reports {ours}% on {name} after fine-tuning its {entry.network}"
        f"{baseline}{note}: real video and a large network, context only"
    )
