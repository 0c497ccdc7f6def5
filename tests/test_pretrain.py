"""Pretext training: `pretrain` trains in a run folder named by its settings, then loads it."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import write_video

from ssvlib.config import seed_everything
from ssvlib.data.index import VideoRecord
from ssvlib.models.encoders import Small3D
from ssvlib.papers import vcop
from ssvlib.pretrain import pretext_predictions, pretrain, validation_data
from ssvlib.settings import Optim, Pretext, View
from ssvlib.tasks.vcop import VCOP
from ssvlib.train import Run

TASK = VCOP(num_clips=3, clip_len=2, gap=1)  # an 8-frame window
VIEW = View(size=None, crop=16)
SETUP = Pretext(epochs=2, batch_size=2, optim=Optim("adamw", lr=1e-3))
RECIPE = dataclasses.replace(
    vcop.PRESETS["cpu"], task=TASK, view=VIEW, pretext=SETUP, head={"hidden": 8}
)
CPU = Run(device="cpu")
QUIET = Run(device="cpu", progress=False)


def moving_bar(num_frames: int, seed: int) -> np.ndarray:
    """A bright bar sliding right over a dark, slightly noisy background."""
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 30, (num_frames, 24, 32, 3)).astype(np.uint8)
    for t in range(num_frames):
        frames[t, :, (2 * t + seed) % 32] = 230
    return frames


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """4 videos to train on, 2 to validate on (groups 3 and 4), and one too short for the task."""
    root = tmp_path_factory.mktemp("videos")
    records = []
    for k, (group, frames) in enumerate(
        [(1, 12), (1, 14), (2, 12), (2, 16), (3, 12), (4, 12), (4, 6)]
    ):
        rel = f"Bar/v_Bar_g{group:02d}_c{k + 1:02d}.avi"
        path = write_video(root / rel, moving_bar(frames, seed=k))
        records.append(VideoRecord(rel, path, 0, "Bar", group, k + 1))
    return SimpleNamespace(fit=records[:4], val=records[4:], train=records[:4])


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """Runs go to a temporary cache, never to ~/.cache."""
    monkeypatch.setenv("SSV_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def model(seed: int = 0):
    seed_everything(seed)
    return vcop.build_model(Small3D(widths=(4, 4, 8, 8)), RECIPE)


def runs(cache):
    return sorted((cache / "runs").glob("*vcop-*"))


def test_pretrain_trains_then_loads_the_finished_run(videos, cache, capsys, monkeypatch):
    first = model()
    history = pretrain(first, RECIPE, videos, CPU)
    out = capsys.readouterr().out
    assert "vcop: 1 videos shorter than 8 frames dropped" in out
    assert "vcop pretext: trained 2 epochs" in out
    assert [e["epoch"] for e in history.epochs] == [1, 2]
    assert all(0.0 <= e["val_acc"] <= 1.0 for e in history.epochs)  # validated every epoch
    assert history.monitor == "val_loss"
    assert history.best_val_loss == min(history.series("val_loss"))
    [run] = runs(cache)
    best = torch.load(run / "best.pt", weights_only=True)
    assert best["epoch"] == history.best_epoch
    assert all(torch.equal(v, first.state_dict()[k]) for k, v in best["model"].items())

    def no_training(*args, **kwargs):
        raise AssertionError("a finished pretext run must not train again")

    second = model()  # the same start: the finished run's weights are loaded
    with monkeypatch.context() as patch:
        patch.setattr(torch.optim.Optimizer, "zero_grad", no_training)
        again = pretrain(second, RECIPE, videos, QUIET)
    assert again == history
    assert all(torch.equal(v, second.state_dict()[k]) for k, v in first.state_dict().items())
    assert runs(cache) == [run]


def test_a_changed_setting_trains_a_new_run(videos, cache):
    pretrain(model(), RECIPE, videos, QUIET)
    other = Pretext(epochs=1, batch_size=2, optim=Optim("adamw", lr=1e-3))
    history = pretrain(model(), dataclasses.replace(RECIPE, pretext=other), videos, QUIET)
    assert len(history.epochs) == 1 and len(runs(cache)) == 2


def test_other_initial_weights_are_another_run(videos, cache):
    for seed in (0, 1):
        pretrain(model(seed=seed), RECIPE, videos, QUIET)
    assert len(runs(cache)) == 2


def test_label_frequencies_and_the_balanced_loss_count_both_classes_alike():
    from ssvlib.pretrain import balanced_loss, label_frequencies
    from ssvlib.tasks.shuffle_learn import ShuffleLearn

    task = ShuffleLearn(positive_fraction=0.25, span=30)
    freq = label_frequencies(task)
    assert freq.shape == (2,) and abs(freq[1] - 0.25) < 0.03
    loss = balanced_loss(task)
    labels = torch.tensor([1, 0, 0, 0])  # one positive, three negatives
    says_negative = torch.tensor([[2.0, -2.0]] * 4)  # wrong on the positive only
    says_positive = torch.tensor([[-2.0, 2.0]] * 4)  # wrong on the three negatives
    plain = torch.nn.functional.cross_entropy
    # plain cross-entropy: three wrong negatives cost far more than one wrong positive
    assert plain(says_positive, labels) > 2.5 * plain(says_negative, labels)
    # balanced: getting one class wrong costs the same whichever class it is
    assert torch.isclose(loss(says_negative, labels), loss(says_positive, labels), rtol=0.05)
    never = VCOPNever()
    with pytest.raises(ValueError, match="never comes up"):
        balanced_loss(never)


class VCOPNever:
    """A task whose second class never comes up."""

    name, num_classes, min_frames = "never", 2, 1

    def sample(self, num_frames, rng, motion=None):
        from ssvlib.settings import Sample

        return Sample([[0]], 0)


def test_pretext_predictions_are_the_models_answers_on_the_validation_samples(videos):
    net = model()
    data = validation_data(
        TASK, videos.val, VIEW, dataclasses.replace(SETUP, val_samples_per_video=3)
    )
    assert len(data) == 2 * 3  # 3 samples of each held-out video but the 6-frame one
    net.train()
    labels, predicted = pretext_predictions(net, data, device="cpu", batch_size=2)
    assert net.training  # the caller's mode is kept
    net.eval()
    with torch.no_grad():
        expected = [int(net(data[i][0][None]).argmax(1)) for i in range(len(data))]
    assert labels.tolist() == [data[i][1] for i in range(len(data))]
    assert predicted.tolist() == expected
