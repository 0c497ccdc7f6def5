"""Atomic writes: a target is either absent, the old file or the complete new one, never a part."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from ssvlib.files import atomic_write, atomic_write_text


def test_target_appears_complete_and_nothing_else_is_left(tmp_path):
    seen_during_write = []

    def write(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        seen_during_write.append((tmp_path / "out.bin").exists())
        with tmp.open("ab") as handle:
            handle.write(b" and the rest")

    assert atomic_write(tmp_path / "out.bin", write) == tmp_path / "out.bin"
    assert seen_during_write == [False]  # the target did not exist half-written
    assert (tmp_path / "out.bin").read_bytes() == b"half and the rest"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_a_failing_writer_leaves_no_target_and_no_temporary_file(tmp_path):
    def write(tmp: Path) -> None:
        tmp.write_text("partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(tmp_path / "out.json", write)
    assert list(tmp_path.iterdir()) == []


def test_a_failing_writer_keeps_the_old_target(tmp_path):
    target = atomic_write_text(tmp_path / "out.json", "old")

    def write(tmp: Path) -> None:
        tmp.write_text("new, but cut short")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, write)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_an_existing_target_is_replaced(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old and longer than the new text")
    assert atomic_write_text(str(target), "new") == target
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_concurrent_writers_use_separate_temporary_files(tmp_path):
    target = tmp_path / "out.txt"
    names: list[str] = []
    both_started = threading.Barrier(2)

    def writer(text: str) -> None:
        def write(tmp: Path) -> None:
            names.append(tmp.name)
            tmp.write_text(text)
            both_started.wait(timeout=10)  # both temporary files exist at the same time

        atomic_write(target, write)

    threads = [threading.Thread(target=writer, args=(t,)) for t in ("a" * 1000, "b" * 1000)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(names)) == 2
    assert target.read_text() in ("a" * 1000, "b" * 1000)
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
