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
    assert _requirement_names(pip) == _requirement_names(wanted)


def test_ssv_command_points_at_a_working_entry_point(capsys):
    target = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]["ssv"]
    module, _, function = target.partition(":")
    main = getattr(importlib.import_module(module), function)
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "data" in capsys.readouterr().out
