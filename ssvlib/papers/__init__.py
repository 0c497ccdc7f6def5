"""The papers of this book, one module each (presets, network, ablations), and `PAPERS`.

`PAPERS` is the one list of papers: the chapters, `ssv` commands, the benchmarks, the results
files, sweeps and the comparison all read it. Adding a paper adds one module here and one line
below (and a sampler in `ssvlib.tasks`, a chapter, the table of contents, the bibliography and
tests: README.md, "Adding a paper", lists them).
"""

from __future__ import annotations

from ..settings import check_choice
from . import arrow_of_time, o3n, opn, shuffle_learn, vcop
from .paper import Paper, Reported

PAPERS: dict[str, Paper] = {
    paper.key: paper
    for paper in (shuffle_learn.PAPER, opn.PAPER, o3n.PAPER, vcop.PAPER, arrow_of_time.PAPER)
}


def get_paper(key: str) -> Paper:
    """The paper named `key`, or an error that lists the papers."""
    check_choice("paper", key, tuple(PAPERS))
    return PAPERS[key]


__all__ = ["PAPERS", "Paper", "Reported", "get_paper"]
