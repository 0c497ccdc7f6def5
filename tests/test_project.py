"""Project hygiene a user relies on: clean notebooks, one dependency list, the ssv command."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest
import tomllib
import yaml

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def _requirement_names(requirements: list[str]) -> dict[str, str]:
    """Map a normalised package name to its full requirement string."""
    names = {}
    for requirement in requirements:
        name = re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0]
        names[name.lower().replace("_", "-")] = requirement.replace(" ", "")
    return names


def test_notebooks_exist_and_are_in_the_table_of_contents():
    assert NOTEBOOKS, "no notebook found"
    toc = (REPO / "_toc.yml").read_text()
    for path in NOTEBOOKS:
        assert f"notebooks/{path.stem}" in toc, f"{path.name} is not in _toc.yml"


def test_notebooks_are_stored_without_outputs_and_with_one_parameters_cell():
    for path in NOTEBOOKS:
        cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in cells), (
            f"{path.name} is stored with outputs: run nbstripout or `pre-commit run`"
        )
        tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"


def _code_lines(path: Path) -> list[str]:
    """A chapter's own code lines: non-blank, not comments, not imports, outside the parameters
    cell (the install cell counts)."""
    import ast

    from IPython.core.inputtransformer2 import TransformerManager

    lines = []
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] != "code" or "parameters" in cell["metadata"].get("tags", []):
            continue
        source = "".join(cell["source"])
        tree = ast.parse(TransformerManager().transform_cell(source))
        imports = {
            n
            for node in tree.body
            if isinstance(node, (ast.Import, ast.ImportFrom))
            for n in range(node.lineno, node.end_lineno + 1)
        }
        for number, line in enumerate(source.splitlines(), 1):
            if number not in imports and line.strip() and not line.strip().startswith("#"):
                lines.append(line.strip())
    return lines


def test_no_paper_chapter_repeats_more_than_a_quarter_of_another_s_code():
    """What chapters share belongs in ssvlib: a chapter shows what is its paper's own."""
    from ssvlib.papers import PAPERS

    chapters = {
        p.notebook: _code_lines(REPO / "notebooks" / f"{p.notebook}.ipynb") for p in PAPERS.values()
    }
    for name, own in chapters.items():
        for other, theirs in chapters.items():
            if other != name:
                same = sum(line in set(theirs) for line in own)
                assert same <= 0.25 * len(own), (
                    f"{same} of {name}'s {len(own)} code lines are in {other}"
                )


def test_toc_lists_only_files_that_exist():
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    files = [toc["root"]] + [ch["file"] for part in toc["parts"] for ch in part["chapters"]]
    for name in files:
        assert any((REPO / f"{name}{ext}").exists() for ext in (".md", ".ipynb")), name


def test_environment_yml_lists_the_same_packages_as_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + [
        r for extra in project["optional-dependencies"].values() for r in extra
    ]
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip  # Binder installs ssvlib itself from environment.yml
    pip = [r for r in pip if r != "-e ."]
    assert _requirement_names(pip) == _requirement_names(wanted)


def test_ssv_command_points_at_a_working_entry_point(capsys):
    target = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]["ssv"]
    module, _, function = target.partition(":")
    main = getattr(importlib.import_module(module), function)
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "data" in capsys.readouterr().out


def test_the_workflow_tests_every_push_and_publishes_main_and_passes_zizmor():
    import shutil
    import subprocess

    path = REPO / ".github" / "workflows" / "book.yml"
    workflow = yaml.safe_load(path.read_text())
    triggers = workflow[True]  # YAML reads the key `on` as True
    assert {"push", "pull_request"} <= set(triggers)
    jobs = workflow["jobs"]
    assert any("make test" in step.get("run", "") for step in jobs["test"]["steps"])
    assert "refs/heads/main" in jobs["book"]["if"] and jobs["book"]["needs"] == "test"
    assert any("make book" in step.get("run", "") for step in jobs["book"]["steps"])
    uses = [s.get("uses", "") for job in jobs.values() for s in job["steps"]]
    assert any(u.startswith("actions/deploy-pages@") for u in uses)
    assert all(re.fullmatch(r"[\w-]+/[\w-]+@[0-9a-f]{40}", u) for u in uses if u), uses
    zizmor = shutil.which("zizmor") or str(Path(__import__("sys").executable).with_name("zizmor"))
    result = subprocess.run([zizmor, "--offline", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_repository_url_is_one_setting_that_every_place_uses():
    from ssvlib.publish import out_of_date

    assert out_of_date() == [], "run `ssv book repository URL` to write the setting everywhere"


def test_setting_the_repository_url_writes_it_everywhere(tmp_path, monkeypatch):
    import shutil

    from ssvlib import publish

    for name in ("_config.yml", "README.md"):
        shutil.copy(REPO / name, tmp_path / name)
    shutil.copytree(REPO / "notebooks", tmp_path / "notebooks")
    monkeypatch.setattr(publish, "REPO", tmp_path)
    monkeypatch.setattr(publish, "CONFIG", tmp_path / "_config.yml")
    monkeypatch.setattr(publish, "README", tmp_path / "README.md")
    publish.set_repository("https://github.com/someone/video-book.git")
    assert publish.repository_url() == "https://github.com/someone/video-book"
    assert publish.out_of_date() == []
    readme = (tmp_path / "README.md").read_text()
    assert "mybinder.org/v2/gh/someone/video-book" in readme and "ssvlib/ssv-book" not in readme
    first = json.loads((tmp_path / "notebooks" / "04_vcop.ipynb").read_text())["cells"]
    assert "git+https://github.com/someone/video-book" in "".join(first[1]["source"])
    with pytest.raises(ValueError, match="not a GitHub repository URL"):
        publish.set_repository("https://gitlab.com/a/b")
