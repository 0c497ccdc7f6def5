"""`ssv sweep`: a grid of notebook runs, resumable, recorded with the commit and the machine."""

from __future__ import annotations

import json

import pytest

from ssvlib import sweep
from ssvlib.cli import main
from ssvlib.sweep import SweepError, load_sweep, run_sweep


def sweep_file(tmp_path, text: str):
    path = tmp_path / "s.yml"
    path.write_text(text)
    return path


GRID = """
notebooks: [02_opn, 04_vcop]
grid: {seed: [0, 1], label_fraction: [0.1]}
parameters: {epochs: 3, dataset: builtin}
workers: 2
out: runs
"""


def test_the_grid_expands_into_one_run_per_notebook_and_point(tmp_path):
    loaded = load_sweep(sweep_file(tmp_path, GRID))
    assert [run.name for run in loaded.runs] == [
        "02_opn__seed-0__label_fraction-0.1",
        "02_opn__seed-1__label_fraction-0.1",
        "04_vcop__seed-0__label_fraction-0.1",
        "04_vcop__seed-1__label_fraction-0.1",
    ]
    assert loaded.runs[1].parameters == {
        "epochs": 3, "dataset": "builtin", "seed": 1, "label_fraction": 0.1,
    }  # fmt: skip
    assert loaded.out == tmp_path / "runs" and loaded.workers == 2


@pytest.mark.parametrize(
    "text, message",
    [
        ("notebooks: [02_opn]\nseeds: [0]\n", "unknown keys \\['seeds'\\]"),
        ("notebooks: [02_opm]\n", "no notebook \\['02_opm'\\].*02_opn"),
        ("notebooks: []\n", "lists none"),
        ("notebooks: [02_opn]\ngrid: {seed: 0}\n", "grid `seed` must be a non-empty list"),
        ("notebooks: [02_opn]\nparameters: {results_dir: x}\n", "results_dir"),
        ("notebooks: [02_opn]\ngrid: {seed: [0]}\nparameters: {seed: 1}\n", "either fixed"),
    ],
)
def test_bad_sweep_files_say_what_is_wrong(tmp_path, text, message):
    with pytest.raises(SweepError, match=message):
        load_sweep(sweep_file(tmp_path, text))


@pytest.fixture
def fake_papermill(monkeypatch):
    """Runs write a results file at once; the run named in `fail` fails instead."""
    calls, fail = [], set()

    def execute(run, threads):
        calls.append((run.name, threads))
        run.folder.mkdir(parents=True, exist_ok=True)
        if run.name in fail:
            return False, 0.1, "Traceback: boom"
        (run.folder / "result.json").write_text("{}")
        return True, 0.1, ""

    monkeypatch.setattr(sweep, "_papermill", execute)
    return calls, fail


def test_a_sweep_records_its_runs_and_resumes(tmp_path, fake_papermill, monkeypatch):
    calls, fail = fake_papermill
    file = sweep_file(tmp_path, GRID)
    fail.add("04_vcop__seed-1__label_fraction-0.1")
    with pytest.raises(SweepError, match="1 of 4 runs failed.*04_vcop__seed-1.*papermill.log"):
        run_sweep(file, progress=False)
    assert len(calls) == 4  # a failure does not stop the others
    manifest = json.loads((tmp_path / "runs" / "sweep.json").read_text())
    failed = manifest["runs"]["04_vcop__seed-1__label_fraction-0.1"]
    assert failed["status"] == "failed" and "boom" in failed["log_tail"]
    assert manifest["machine"]["cores"] >= 1 and manifest["threads_per_run"] >= 1
    assert "commit" in manifest and manifest["sweep_file"]["grid"]["seed"] == [0, 1]

    fail.clear()
    calls.clear()
    manifest = run_sweep(file, progress=False)
    assert [name for name, _ in calls] == ["04_vcop__seed-1__label_fraction-0.1"]  # only that
    assert {run["status"] for run in manifest["runs"].values()} == {"done", "done before"}


def test_the_command_line_runs_a_sweep_and_says_where_its_manifest_is(
    tmp_path, fake_papermill, capsys
):
    file = sweep_file(tmp_path, GRID)
    assert main(["sweep", str(file), "--workers", "1"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    manifest = json.loads(open(out["manifest"]).read())
    assert manifest["command"] == f"ssv sweep {file} --workers 1" and manifest["workers"] == 1
    assert all(threads >= 1 for _, threads in fake_papermill[0])
