"""The comparison chapter's summary: gains paired seed by seed, means and spreads, the tables."""

from __future__ import annotations

import pytest

from ssvlib import comparison
from ssvlib.papers import PAPERS


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
    # the gain's paired 95% t-interval: mean ± t(0.975, 2) sd / sqrt(3) = +3.3 ± 19.0
    row = (
        "| | linear probe | 41.7 ± 10.4 | 38.3 ± 2.9 | +3.3 [-15.6, +22.3] | cannot tell | 2 of 3 |"
    )
    assert row in table
    assert "| OPN | pretext (held out; chance 10.0) | 30.0 ± 0.0 (3.0 ± 0.0x chance)" in table


def test_the_papers_own_numbers_are_a_table_of_their_own():
    table = comparison.format_reported()
    assert "| VCOP | R3D | 64.9 | 29.5 | 54.5 / 23.4 |" in table
    assert table.count("\n") == 1 + len(PAPERS)  # a header, a rule, a row per paper
    assert "| Arrow of Time | | not recorded here |" in table  # no number we could check


def sweep_folder(root, records: list[dict]):
    """A sweep folder: one run folder per record, each holding its results file."""
    from ssvlib.results import write_results

    for rec in records:
        write_results(root / f"{rec['paper']}__seed-{rec['seed']}", {"parameters": {}, **rec})
    return root


def test_the_real_footage_table_sets_each_seed_beside_chance_and_the_built_in_data(tmp_path):
    def on(dataset: str, paper: str, seed: int, acc: float) -> dict:
        run = record(paper, seed, 0.1, 0.1)
        run["dataset"] = run["downstream"] = dataset
        run.update(notebook="04_vcop", device="cpu", wall_time_s=1.0)
        run["pretext"] = {"train_acc": 0.9, "val_acc": 0.4, "chance": 1 / 6}
        if dataset == "ucf101":
            run["pretext"].update(test_acc=acc, test_samples=440)
        return run

    real = sweep_folder(tmp_path / "real", [on("ucf101", "vcop", s, 0.2 + s / 10) for s in (0, 1)])
    built = sweep_folder(tmp_path / "built", [on("builtin", "vcop", s, 0.5) for s in (0, 1, 2)])
    table = comparison.real_footage_table(folder=real, builtin=built)
    assert (
        "| paper | chance | seed 0 | seed 1 | mean (x chance) | validation clips, mean |" in table
    )
    assert "| VCOP | 16.7 | 20.0 | 30.0 | 25.0 (1.50x) | 40.0 | 40.0 (2.40x) |" in table
    assert "OPN" not in table  # no real run, no row


def test_the_real_retrieval_picture_is_found_by_paper_and_seed(tmp_path):
    run = record("shuffle_learn", 1, 0.1, 0.1)
    run.update(notebook="01_shuffle_and_learn", device="cpu", wall_time_s=1.0, dataset="ucf101")
    folder = sweep_folder(tmp_path, [run])
    [result] = folder.glob("*/*.json")
    picture = result.with_name(f"{result.stem}-retrieval.jpg")
    picture.write_bytes(b"jpeg")
    assert comparison.real_retrieval_picture("shuffle_learn", 1, folder) == picture
    with pytest.raises(FileNotFoundError, match="no retrieval picture of 'opn', seed 0"):
        comparison.real_retrieval_picture("opn", 0, folder)


def test_the_seed_table_of_a_paper_without_runs_says_so_in_one_line(tmp_path):
    run = {**record("vcop", 0, 0.7, 0.6), "notebook": "04_vcop", "device": "cpu"}
    folder = sweep_folder(tmp_path / "sweep", [{**run, "wall_time_s": 1.0}])
    for where in (folder, tmp_path / "missing"):
        text = comparison.seed_table("opn", folder=where)
        assert text.startswith("No run of 'opn'") and "\n" not in text
    table = comparison.seed_table("vcop", folder=folder)
    assert table.startswith("| measure |") and "| linear probe | 70.0 | 60.0 |" in table


@pytest.mark.parametrize(
    ("gains", "verdict"),
    [
        ((0.05, 0.06, 0.07), "helps"),
        ((-0.05, -0.06, -0.07), "hurts"),
        ((0.09, -0.01, 0.04), "cannot tell"),
        ((0.09,), "cannot tell"),
    ],
)
def test_a_gain_is_called_by_its_95_percent_interval_not_by_the_sign_of_its_mean(gains, verdict):
    assert comparison.Spread(gains).verdict() == verdict


def test_the_interval_is_the_t_interval_of_the_paired_gains():
    low, high = comparison.Spread((0.05, 0.06, 0.07)).interval()  # sd 0.01, t(0.975, 2) = 4.303
    assert (low, high) == pytest.approx(
        (0.06 - 4.303 * 0.01 / 3**0.5, 0.06 + 4.303 * 0.01 / 3**0.5)
    )
    assert comparison.t_975(4) == 2.776 and comparison.t_975(11) == 2.228  # 11: df 10's (wider)


def test_a_chapter_run_is_set_beside_the_committed_runs_only_with_their_settings(tmp_path):
    def run(seed, pre, **parameters):
        settings = {"preset": "cpu", "epochs": 40, "seed": seed, "num_workers": None, **parameters}
        return {**record("vcop", seed, pre, 0.6), "notebook": "04_vcop", "device": "cpu",
                "parameters": settings, "wall_time_s": 1.0}  # fmt: skip

    folder = sweep_folder(tmp_path / "sweep", [run(0, 0.7), run(1, 0.8), run(2, 0.75)])
    same = comparison.seed_table("vcop", run(0, 0.62, num_workers=2), folder=folder)
    assert "this page's run (seed 0) |" in same.splitlines()[0]
    assert "| linear probe | 75.0 ± 5.0 | 60.0 ± 0.0 |" in same and same.splitlines()[3].endswith(
        " +2.0 |"
    )
    assert (
        "within the range of the committed seeds' gains on 0 of 5 measures; outside it on linear probe (+2.0),"
        in same
    )
    other = comparison.seed_table("vcop", run(0, 0.62, epochs=5), folder=folder)
    assert "this page's run" not in other.splitlines()[0] and "not set beside them" in other
