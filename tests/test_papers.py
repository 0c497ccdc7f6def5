"""The one list of papers: each entry is whole, and a paper added to it is found everywhere."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import yaml
from test_comparison import record, sweep_folder

from ssvlib import cli, comparison
from ssvlib.papers import PAPERS, get_paper

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("key", list(PAPERS))
def test_every_paper_has_its_chapter_citation_presets_and_backbones(key):
    paper = PAPERS[key]
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    chapters = [ch["file"] for part in toc["parts"] for ch in part["chapters"]]
    assert f"notebooks/{paper.notebook}" in chapters
    assert (REPO / "notebooks" / f"{paper.notebook}.ipynb").is_file()
    bib = (REPO / "book" / "references.bib").read_text()
    assert re.search(rf"@\w+\{{{paper.cite},", bib), f"{paper.cite} is not in references.bib"
    assert set(paper.presets) == {"cpu", "paper"} == set(paper.default_backbones)
    assert set(paper.default_backbones.values()) <= set(paper.backbones)
    assert paper.key == key


def test_an_unknown_paper_names_the_papers():
    with pytest.raises(ValueError, match="paper='simclr' is not valid; choose one of: 'shuffle"):
        get_paper("simclr")


@pytest.fixture
def dummy(monkeypatch):
    """A fifth paper, added to the list alone: VCOP's recipe under another key and title."""
    entry = dataclasses.replace(PAPERS["vcop"], key="dummy", title="Dummy", notebook="99_dummy")
    monkeypatch.setitem(PAPERS, "dummy", entry)
    return entry


def test_a_paper_added_to_the_list_is_found_by_the_command_line(dummy):
    args = cli.parser().parse_args(["pretrain", "--paper", "dummy", "--epochs", "1"])
    assert args.paper == "dummy" and args.epochs == 1
    assert cli.parser().parse_args(["bench", "train", "--paper", "dummy"]).paper == "dummy"
    assert cli.min_frames()["dummy (paper)"] == PAPERS["vcop"].presets["paper"].task.min_frames


def test_a_paper_added_to_the_list_is_found_by_the_comparison_and_its_sweeps(dummy, tmp_path):
    runs = [record("dummy", seed, 0.6, 0.5) for seed in (0, 1)] + [record("vcop", 0, 0.7, 0.6)]
    for run in runs:
        run.update(notebook=PAPERS[run["paper"]].notebook, device="cpu", wall_time_s=1.0)
    folder = sweep_folder(tmp_path / "sweep", runs)
    from ssvlib.sweep import sweep_records

    summary = comparison.summarize(sweep_records(folder))
    assert [entry["paper"] for entry in summary] == ["vcop", "dummy"]  # the list's order
    assert "| Dummy |" in comparison.format_summary(summary)
    assert "| Dummy | R3D | 64.9 |" in comparison.format_reported()


def test_a_sweep_of_papers_runs_every_paper_chapter(tmp_path):
    from ssvlib.sweep import load_sweep

    file = tmp_path / "sweep.yml"
    file.write_text("notebooks: papers\ngrid:\n  seed: [0]\nout: out\n")
    runs = load_sweep(file).runs
    assert [run.notebook for run in runs] == [paper.notebook for paper in PAPERS.values()]


@pytest.mark.parametrize("key", list(PAPERS))
def test_every_paper_chapter_declares_the_run_parameters_with_their_defaults(key):
    """A chapter whose parameters cell lacks a run parameter would silently run with the
    library's default, and papermill's `-p` for it would be lost."""
    import ast
    import json

    from ssvlib.settings import RunParameters

    notebook = json.loads((REPO / "notebooks" / f"{PAPERS[key].notebook}.ipynb").read_text())
    [cell] = [c for c in notebook["cells"] if "parameters" in c["metadata"].get("tags", [])]
    declared = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in ast.parse("".join(cell["source"])).body
        if isinstance(node, ast.Assign)
    }
    for field in dataclasses.fields(RunParameters):
        assert field.name in declared, f"{PAPERS[key].notebook} does not declare {field.name}"
        assert declared[field.name] == field.default, field.name
