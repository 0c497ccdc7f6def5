"""Writing files so that a reader never sees half of one: write a temporary file, then rename it.

A run killed mid-write (Ctrl-C, out of memory, a full disk) must not leave a truncated checkpoint,
cache entry or results file that looks finished. `atomic_write` writes next to the target under a
name unique to this process and call, then `os.replace`s it over the target in one step.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path


def _temporary_name(path: Path) -> Path:
    """A fresh hidden name beside `path`, unique per process and call, ending in '.tmp'."""
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp)` on a temporary file beside `path`, then rename it to `path`; return path.

    The folder must exist. An existing `path` is replaced; if `write` raises, the temporary file
    is removed and `path` is left as it was. The temporary name ends in '.tmp', not in the
    target's suffix, so a writer that appends an extension to a name (np.save) should write to an
    open file instead.
    """
    path = Path(path)
    tmp = _temporary_name(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Write `text` to `path` atomically (see `atomic_write`); return path."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding=encoding))
