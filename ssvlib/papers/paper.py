"""What the book knows of one paper: its recipe presets, its network, the encoders it accepts,
its chapter, and the numbers it reported.

`ssvlib.papers.PAPERS` maps each paper's key to its `Paper`: the one list of papers that the
chapters, the command line, the benchmarks, the results files and the comparison read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from ..recipe import Recipe

REAL_DATASETS = {"ucf101": "UCF-101", "hmdb51": "HMDB-51"}


@dataclass(frozen=True)
class Reported:
    """A paper's own fine-tuning accuracy (video level, %) on UCF-101 and HMDB-51, with random
    init where given. Values we could not read in the paper itself say so in `note`; none of
    them is comparable with a number measured on the built-in data."""

    network: str
    ucf101: float
    hmdb51: float
    ucf101_random: float | None = None
    hmdb51_random: float | None = None
    note: str = ""


@dataclass(frozen=True)
class Paper:
    """One paper of the book, as every part of the library sees it."""

    key: str  # "vcop": results files, sweeps and the command line name the paper by it
    title: str  # "VCOP", as the book writes it
    notebook: str  # its chapter, "04_vcop"
    cite: str  # its key in book/references.bib
    presets: dict[str, Recipe]  # "cpu" and "paper"
    build_model: Callable[[nn.Module, Recipe], nn.Module]  # (encoder, recipe) -> pretext network
    backbones: tuple[str, ...]  # the encoders its elements fit (`models.encoders`)
    default_backbones: dict[str, str]  # preset -> the backbone its chapter uses by default
    reported: Reported | None = None
    paper_backbones: tuple[str, ...] = ()  # those the paper reports with (default: its preset's)

    def default_backbone(self, preset: str) -> str:
        """The chapter's backbone for `preset`."""
        return self.default_backbones[preset]

    def backbones_of_the_paper(self) -> tuple[str, ...]:
        """The backbones the paper itself trained, each of which its `paper` preset can run."""
        return self.paper_backbones or (self.default_backbone("paper"),)

    def reported_line(self, dataset: str) -> str | None:
        """One line: what the paper reports after fine-tuning on `dataset` (None if nothing)."""
        entry = self.reported
        if entry is None or dataset not in REAL_DATASETS:
            return None
        random = getattr(entry, f"{dataset}_random")
        baseline = f" (random init {random}%)" if random is not None else ""
        note = f"; {entry.note}" if entry.note else ""
        return (
            f"{self.title} reports {getattr(entry, dataset)}% on {REAL_DATASETS[dataset]} after "
            f"fine-tuning its {entry.network}{baseline}{note}: real video and a large network, "
            "context only"
        )
