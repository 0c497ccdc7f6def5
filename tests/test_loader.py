"""The loader: worker processes that cannot hang on real video, and one that says so if they do."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import torch
from conftest import REPO
from torch.utils.data import Dataset

from ssvlib.data.loader import LoaderStuck, make_loader

# The reproduction: the parent decodes a real clip (as a chapter's picture cell does),
# then loader workers decode. Run in a child process, so that a hang fails this test in time.
REPRODUCTION = """
import sys, torch
from pathlib import Path
from ssvlib.data.loader import make_loader
from ssvlib.data.decode import read_frames
clips = sorted(Path(sys.argv[1]).rglob("*.avi"))[:4]
backend, how = sys.argv[2], sys.argv[3]

class Clips(torch.utils.data.Dataset):
    def __len__(self):
        return 8
    def __getitem__(self, i):
        frames = read_frames(clips[i % 4], [0, 5, 10], backend)
        return torch.from_numpy(frames.copy())

if __name__ == "__main__":
    read_frames(clips[0], [0, 5, 10], backend)  # the parent decodes first
    if how == "plain":  # torch's own DataLoader: workers forked from this process
        loader = torch.utils.data.DataLoader(Clips(), batch_size=2, num_workers=2)
    else:
        from ssvlib.data.datasets import VideoDataset
        from ssvlib.settings import View
        from ssvlib.data.index import VideoRecord
        from ssvlib.settings import Element
        records = [VideoRecord(str(c), c, 0, "x", 1, 1) for c in clips]
        data = VideoDataset(records, Element(3), View(None, 112), train=True, backend=backend)
        loader = make_loader(data, 2, train=True, device="cpu", num_workers=2)
    for epoch in range(2):
        for batch in loader:
            pass
    print("finished")
"""


def backends() -> list[str]:
    """The readers installed here."""
    from ssvlib.data.decode import has_decord

    return ["pyav", "decord"] if has_decord() else ["pyav"]


@pytest.mark.parametrize("start", ["fork", "forkserver"])
@pytest.mark.parametrize("how", ["make_loader", "plain"])
@pytest.mark.parametrize("backend", backends())
def test_workers_decode_after_the_parent_has_decoded(real_root, tmp_path, backend, how, start):
    if how == "plain" and start != "fork":
        pytest.skip("torch's own DataLoader forks; SSV_WORKER_START is make_loader's")
    script = tmp_path / "reproduction.py"
    script.write_text(REPRODUCTION)
    try:
        done = subprocess.run(
            [sys.executable, str(script), str(real_root / "UCF-101"), backend, how],
            capture_output=True, text=True, timeout=120, cwd=REPO,
            env={**os.environ, "SSV_WORKER_START": start},
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail(f"loader workers hung ({backend}, {how}, {start}): still waiting after 120 s")
    assert done.returncode == 0 and "finished" in done.stdout, done.stderr[-2000:]


class Numbers(Dataset):
    """Sample i is i; sample `stuck_at` takes `stuck_for` seconds (a worker stuck on a video)."""

    def __init__(self, n: int = 8, stuck_at: int | None = None, stuck_for: float = 60.0) -> None:
        self.n, self.stuck_at, self.stuck_for, self.epoch = n, stuck_at, stuck_for, 0

    def __len__(self) -> int:
        return self.n

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def describe_sample(self, index: int) -> str:
        return f"/videos/clip{index}.avi"

    def __getitem__(self, index: int):
        if index == self.stuck_at:
            time.sleep(self.stuck_for)
        return torch.tensor([float(index), float(self.epoch)]), index % 2


def test_a_stuck_worker_is_named_instead_of_waited_for(monkeypatch):
    monkeypatch.setenv("SSV_LOADER_TIMEOUT", "4")
    loader = make_loader(Numbers(stuck_at=5), 8, train=False, device="cpu", num_workers=2)
    started = time.perf_counter()
    with pytest.raises(LoaderStuck) as stuck:
        list(loader)
    assert time.perf_counter() - started < 40
    message = str(stuck.value)
    assert "waited 4 s for a batch" in message
    assert "reading sample 5: /videos/clip5.avi" in message and "(pid " in message
    assert "ssv data check" in message and "SSV_LOADER_TIMEOUT" in message


def test_the_timeout_and_the_start_method_are_checked(monkeypatch):
    monkeypatch.setenv("SSV_LOADER_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="SSV_LOADER_TIMEOUT='soon' must be a number"):
        make_loader(Numbers(), 4, train=False, device="cpu", num_workers=1)
    monkeypatch.delenv("SSV_LOADER_TIMEOUT")
    monkeypatch.setenv("SSV_WORKER_START", "thread")
    with pytest.raises(ValueError, match="SSV_WORKER_START='thread' is not one of"):
        make_loader(Numbers(), 4, train=False, device="cpu", num_workers=1)
    monkeypatch.setenv("SSV_WORKER_START", "forkserver")
    loader = make_loader(Numbers(), 4, train=False, device="cpu", num_workers=1)
    assert loader.multiprocessing_context.get_start_method() == "forkserver"
    assert [x[:, 0].tolist() for x, _ in loader] == [[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0]]


def test_persistent_workers_follow_the_epochs():
    loader = make_loader(Numbers(8), 4, train=True, device="cpu", num_workers=2, seed=1)
    assert loader.persistent_workers
    seen, first = {}, None
    for epoch in range(3):
        loader.sampler.set_epoch(epoch)
        batches = [x for x, _ in loader]
        seen[epoch] = torch.cat(batches)
        assert set(seen[epoch][:, 1].tolist()) == {float(epoch)}  # drawn at this epoch
        assert sorted(seen[epoch][:, 0].tolist()) == [float(i) for i in range(8)]
        pids = [worker.pid for worker in loader._iterator._workers]
        first = first or pids
        assert pids == first  # the same processes every epoch: not started again
    assert not torch.equal(seen[0][:, 0], seen[1][:, 0])  # each epoch its own order


def test_workers_in_the_main_process_need_no_fork_server():
    loader = make_loader(Numbers(4), 2, train=False, device="cpu", num_workers=0)
    assert not loader.persistent_workers and loader.timeout == 0
    assert [x[:, 0].tolist() for x, _ in loader] == [[0.0, 1.0], [2.0, 3.0]]
