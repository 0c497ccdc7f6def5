"""The comparison chapter's summary: gains paired seed by seed, means and spreads, the tables."""

from __future__ import annotations

import pytest

from ssvlib import comparison


def record(paper: str, seed: int, pre: float, rnd: float, created: str = "2026-01-01") -> dict:
    """A results record whose every measure is `pre` pretrained and `rnd` at random init."""

    def metrics(value: float) -> dict:
        return {
            "linear_probe_acc": value,
            "retrieval_topk": {"1": value, "5": value},
            "finetune_video_acc": {"1.0": value, "0.1": value},
            "finetune_clip_acc": {"1.0": value, "0.1": value},
        }

    return {
        "paper": paper, "backbone": "small2d", "dataset": "builtin", "downstream": "builtin",
        "split": 1, "seed": seed, "created": created,
        "pretext": {"train_acc": 0.5, "val_acc": 0.3, "chance": 0.1},
        "metrics": {"pretrained": metrics(pre), "random_init": metrics(rnd)},
    }  # fmt: skip


def test_gains_are_paired_by_seed_and_repeated_runs_count_once():
    records = [
        record("opn", 0, 0.50, 0.40),
        record("opn", 1, 0.30, 0.35),
        record("opn", 2, 0.60, 0.40, created="2026-01-01"),
        record("opn", 2, 0.45, 0.40, created="2026-02-01"),  # a newer run of seed 2 replaces it
        record("vcop", 0, 0.7, 0.6),
    ]
    summary = comparison.summarize(records)
    assert [e["paper"] for e in summary] == ["opn", "vcop"]  # in the book's order
    opn = summary[0]
    assert opn["seeds"] == [0, 1, 2]
    gain = opn["linear probe"]["gain"]
    assert gain.values == pytest.approx((0.10, -0.05, 0.05))
    assert gain.mean == pytest.approx(0.1 / 3) and gain.sd == pytest.approx(0.076376, abs=1e-6)
    assert opn["pretext_x_chance"].mean == pytest.approx(3.0)
    assert summary[1]["linear probe"]["gain"].sd is None  # one seed: no spread
    table = comparison.format_summary(summary)
    assert "| | linear probe | 41.7 ± 10.4 | 38.3 ± 2.9 | +3.3 ± 7.6 | 2 of 3 |" in table
    assert "| OPN | pretext (held out; chance 10.0) | 30.0 ± 0.0 (3.0 ± 0.0x chance)" in table


def test_the_papers_own_numbers_are_a_table_of_their_own():
    table = comparison.format_reported()
    assert "| VCOP | R3D | 64.9 | 29.5 | 54.5 / 23.4 |" in table
    assert table.count("\n") == 5  # a header, a rule, four papers
