"""The book builds in smoke mode with Sphinx warnings as errors, and never where `make book` writes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def toc_pages() -> list[str]:
    """The HTML page of every file `_toc.yml` lists, the root first."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    files = [toc["root"]] + [ch["file"] for part in toc["parts"] for ch in part["chapters"]]
    return [f"{name}.html" for name in files]


@pytest.mark.slow
def test_smoke_book_builds_without_warnings(tmp_path):
    out = Path(os.environ.get("SSV_SMOKE_BOOK_OUT") or tmp_path).resolve()
    assert out != REPO, "the smoke build must not write where `make book` does"
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    env = {**os.environ, "SSV_SMOKE": "1"}
    result = subprocess.run(
        [
            str(jupyter_book),
            "build",
            str(REPO),
            "--path-output",
            str(out),
            "-W",
            "-n",
            "--keep-going",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-4000:]
    html = out / "_build" / "html"
    for page in toc_pages():
        assert (html / page).is_file(), f"{page} was not built"
    bibliography = (html / "book/bibliography.html").read_text()
    assert "Misra" in bibliography and "Soomro" in bibliography
    for page in sorted((html / "notebooks").glob("*.html")):
        text = page.read_text()
        assert text.count("<img") >= 1, f"{page.name} has no figure"
        assert "install ssvlib first" not in text, f"{page.name} shows the Colab install cell"
        assert "highlight-ipythontb" not in text, f"{page.name} shows an error output"
        assert "Traceback (most recent call last)" not in text, f"{page.name} shows a traceback"
        assert "output stderr" not in text, f"{page.name} shows stderr (progress bars, warnings)"
        # Training prints one line per run, and a cell's prints share one box: a chapter shows
        # a handful of output boxes, not one per epoch.
        boxes = text.count("output stream highlight-myst-ansi")
        cells = text.count('class="cell docutils container"')
        assert boxes <= cells, f"{page.name}: {boxes} text outputs for {cells} cells"
