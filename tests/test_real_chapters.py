"""Every chapter, as a reader runs it on real UCF-101 clips: loader workers, both presets, the
papers' backbones, and evaluation on HMDB-51. Smoke mode (SSV_SMOKE=1) shrinks the epochs and the
videos; everything else is the path a reader takes on their own machine."""

from __future__ import annotations

import json
import os

import pytest
from conftest import REPO

from ssvlib.papers import PAPERS

# (notebook, its parameters beyond the real data and two workers): every paper of PAPERS with
# its `cpu` preset, and with its `paper` preset on each backbone the paper trained
PAPER_RUNS = [
    (paper.notebook, extra)
    for paper in PAPERS.values()
    for extra in [{}] + [{"preset": "paper", "backbone": b} for b in paper.backbones_of_the_paper()]
]


def execute(notebook: str, out, **parameters) -> None:
    """Run `notebook` with papermill as a reader does, in smoke mode."""
    import papermill

    assert os.environ.get("SSV_SMOKE") == "1", "run the real-clip chapters in smoke mode"
    papermill.execute_notebook(
        str(REPO / "notebooks" / f"{notebook}.ipynb"),
        str(out / f"{notebook}.ipynb"),
        parameters=parameters,
        cwd=str(REPO / "notebooks"),
        kernel_name="python3",
        progress_bar=False,
    )


@pytest.fixture
def smoke(monkeypatch):
    monkeypatch.setenv("SSV_SMOKE", "1")


def one_record(folder) -> dict:
    """The one results file a chapter wrote into `folder`."""
    [path] = sorted(folder.glob("*.json"))
    return json.loads(path.read_text())


@pytest.mark.slow
@pytest.mark.parametrize(
    ("notebook", "extra"),
    PAPER_RUNS,
    ids=[f"{nb}-{extra.get('backbone', 'cpu')}" for nb, extra in PAPER_RUNS],
)
def test_a_paper_chapter_runs_on_real_clips_with_loader_workers(
    real_root, tmp_path, smoke, notebook, extra
):
    results = tmp_path / "results"
    execute(
        notebook, tmp_path, dataset="ucf101", data_root=str(real_root), num_workers=2,
        results_dir=str(results), **extra,
    )  # fmt: skip
    record = one_record(results)
    assert (record["dataset"], record["downstream"]) == ("ucf101", "ucf101")
    assert record["parameters"]["preset"] == extra.get("preset", "cpu")
    assert record["parameters"]["num_workers"] == 2 and record["parameters"]["smoke"]
    assert record["backbone"] == extra.get("backbone", record["backbone"])
    videos = record["videos"]
    assert videos["evaluation_test_scored"] > 0 and videos["pretext_train"] > 0
    assert 0 <= record["pretext"]["test_acc"] <= 1  # the pretext, scored on the test clips
    assert 1 <= record["pretext"]["test_samples"] <= videos["evaluation_test_scored"]
    assert set(record["metrics"]) == {"pretrained", "random_init"}


@pytest.mark.slow
def test_the_data_chapter_reads_the_real_clips_with_loader_workers(real_root, tmp_path, smoke):
    execute(
        "00_data_and_sampling", tmp_path, dataset="ucf101", data_root=str(real_root),
        num_workers=2,
    )  # fmt: skip


@pytest.mark.slow
def test_pretext_on_ucf101_evaluation_on_hmdb51(real_root, real_hmdb51, tmp_path, smoke):
    results = tmp_path / "results"
    execute(
        "04_vcop", tmp_path, dataset="ucf101", data_root=str(real_root), num_workers=2,
        downstream="hmdb51", downstream_root=str(real_hmdb51), results_dir=str(results),
    )  # fmt: skip
    record = one_record(results)
    assert (record["dataset"], record["downstream"]) == ("ucf101", "hmdb51")
    assert record["videos"]["evaluation_test_scored"] >= 1
