"""Where the book is published from: one setting, the repository URL, and the places that use it.

The setting is ``repository.url`` in ``_config.yml``; Jupyter Book's launch buttons (Binder,
Colab) and repository button read it. Two other places must say the same: the README's launch
links (between ``<!-- launch -->`` markers) and the first cell of every notebook (on Colab, where
`ssvlib` is not installed, it installs it from the repository). `set_repository(URL)` (``ssv book repository URL``)
writes the URL into all of them; `out_of_date()` lists those that disagree with the setting,
and a test keeps that list empty.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "_config.yml"
README = REPO / "README.md"
_URL = re.compile(r"https://github\.com/[\w.-]+/[\w.-]+")
_LAUNCH = re.compile(r"<!-- launch -->\n.*?<!-- /launch -->", re.DOTALL)
_SETTING = re.compile(r"(repository:\s*\n\s*url:\s*)(\S+)")
INSTALL_TAG = "install-ssvlib"


def repository_url() -> str:
    """The repository URL set in _config.yml."""
    match = _SETTING.search(CONFIG.read_text())
    if match is None:
        raise ValueError(f"{CONFIG} has no `repository: url:` setting")
    return match[2].rstrip("/")


def install_cell(url: str) -> str:
    """The source of a notebook's first cell: install ssvlib from `url` where it is missing."""
    return (
        "# On Colab (or any kernel without this book's library), install ssvlib first.\n"
        "import importlib.util\n"
        "\n"
        'if importlib.util.find_spec("ssvlib") is None:\n'
        f"    %pip install -q git+{url}"
    )


def launch_links(url: str) -> str:
    """The README's launch block for `url`: the published book, Binder and Colab."""
    owner, name = url.removeprefix("https://github.com/").split("/")
    colab = f"https://colab.research.google.com/github/{owner}/{name}/blob/main/notebooks"
    return (
        "<!-- launch -->\n"
        f"[Read the book](https://{owner}.github.io/{name}/) ·\n"
        f"[Run it on Binder](https://mybinder.org/v2/gh/{owner}/{name}/HEAD) ·\n"
        f"[Open a chapter in Colab]({colab}/04_vcop.ipynb) ·\n"
        f"[Source]({url})\n"
        "<!-- /launch -->"
    )


def notebooks() -> list[Path]:
    """The book's notebooks."""
    return sorted((REPO / "notebooks").glob("*.ipynb"))


def _first_code_cell(notebook: dict) -> dict | None:
    return next((c for c in notebook["cells"] if c["cell_type"] == "code"), None)


def has_install_cell(path: Path, url: str) -> bool:
    """True when the notebook's first code cell is `install_cell(url)`, tagged to stay out of
    the built book's pages."""
    cell = _first_code_cell(json.loads(path.read_text()))
    if cell is None:
        return False
    tags = cell.get("metadata", {}).get("tags", [])
    return "".join(cell["source"]) == install_cell(url) and INSTALL_TAG in tags


def write_install_cell(path: Path, url: str) -> None:
    """Put `install_cell(url)` first among the notebook's code cells (replacing an old one)."""
    notebook = json.loads(path.read_text())
    first = _first_code_cell(notebook)
    lines = install_cell(url).split("\n")
    source = [line + "\n" for line in lines[:-1]] + [lines[-1]]
    if first is not None and INSTALL_TAG in first.get("metadata", {}).get("tags", []):
        first["source"] = source
    else:
        at = notebook["cells"].index(first) if first is not None else len(notebook["cells"])
        cell = {
            "cell_type": "code",
            "execution_count": None,
            "id": f"{INSTALL_TAG}",
            "metadata": {"tags": [INSTALL_TAG, "remove-cell"]},
            "outputs": [],
            "source": source,
        }
        notebook["cells"].insert(at, cell)
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")


def out_of_date() -> list[str]:
    """The places that do not use the setting's URL (empty when all agree)."""
    url, stale = repository_url(), []
    block = _LAUNCH.search(README.read_text())
    if block is None or block[0] != launch_links(url):
        stale.append(f"{README.name} (its <!-- launch --> block)")
    stale += [p.name for p in notebooks() if not has_install_cell(p, url)]
    return stale


def set_repository(url: str) -> list[str]:
    """Make `url` (https://github.com/OWNER/REPO) the setting and write it everywhere; returns
    the files changed."""
    url = url.rstrip("/").removesuffix(".git")
    if not _URL.fullmatch(url):
        raise ValueError(f"{url!r} is not a GitHub repository URL (https://github.com/OWNER/REPO)")
    changed = []
    config = CONFIG.read_text()
    updated = _SETTING.sub(lambda m: m[1] + url, config, count=1)
    if updated != config:
        CONFIG.write_text(updated)
        changed.append(CONFIG.name)
    readme = README.read_text()
    if _LAUNCH.search(readme) is None:
        raise ValueError(f"{README} has no <!-- launch --> ... <!-- /launch --> block to update")
    updated = _LAUNCH.sub(lambda _: launch_links(url), readme, count=1)
    if updated != readme:
        README.write_text(updated)
        changed.append(README.name)
    for path in notebooks():
        if not has_install_cell(path, url):
            write_install_cell(path, url)
            changed.append(path.name)
    return changed
