"""Tests for ssvlib.evaluate: retrieval, kNN, linear probe, features in one pass, multi-clip
accuracy, fine-tuning with epoch selection and a cached run."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import write_video
from torch import nn
from torch.utils.data import Dataset

from ssvlib import evaluate as E
from ssvlib.data.index import VideoRecord
from ssvlib.models.tuple_model import ElementEncoder
from ssvlib.settings import Element, Optim, View
from ssvlib.train import Run


class TinyEncoder(nn.Module):
    """A 1x1x1 3D convolution with the encoder interface: feature_dim, forward, feature_map.

    Its fixed start sees brightness (channel 0), darkness (1), red (2) and green (3).
    """

    feature_dim = 4

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv3d(3, self.feature_dim, kernel_size=1)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[0, :, 0, 0, 0] = 1 / 3
            self.conv.weight[1, :, 0, 0, 0] = -1 / 3
            self.conv.weight[2, 0] = 1.0
            self.conv.weight[3, 1] = 1.0
            self.conv.bias.fill_(0.1)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.feature_map(x).mean(dim=(2, 3, 4))


class TinyEncoder2D(nn.Module):
    """TinyEncoder's frame (2D) twin."""

    feature_dim = 4

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, self.feature_dim, kernel_size=1)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.feature_map(x).mean(dim=(2, 3))


def tiny_encoder() -> ElementEncoder:
    return ElementEncoder(TinyEncoder(), Element(2))


class EvalClips(Dataset):
    """Eval-mode stand-in for VideoDataset: (uint8 clips (K, T, C, H, W), label)."""

    train = False

    def __init__(self, clips: torch.Tensor, labels: list[int]) -> None:
        self.clips, self.labels = clips, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        return self.clips[i], self.labels[i]


# ---------------------------------------------------------------- retrieval and kNN


def test_identical_vectors_retrieve_themselves():
    feats = torch.randn(12, 8)
    labels = torch.arange(12)  # every video its own class: only itself is a hit
    result = E.retrieval_topk(feats, labels, feats.clone(), labels, ks=(1, 5))
    assert result == {1: 1.0, 5: 1.0}


def test_true_neighbour_third_counts_only_from_top3():
    query = torch.tensor([[1.0, 0.0, 0.0]])
    gallery = torch.tensor([[1.0, 0.1, 0.0], [1.0, 0.3, 0.0], [1.0, 0.6, 0.0], [0.0, 0.0, 1.0]])
    gallery_labels = torch.tensor([1, 2, 0, 3])
    result = E.retrieval_topk(query, [0], gallery, gallery_labels, ks=(1, 2, 3, 5))
    assert result == {1: 0.0, 2: 0.0, 3: 1.0, 5: 1.0}


def test_retrieval_uses_cosine_not_euclidean():
    query = torch.tensor([[1.0, 0.0]])
    # Euclidean: the short vector (class 1) is nearest; cosine: the long one along the query (0).
    gallery = torch.tensor([[10.0, 1.0], [0.1, 0.1]])
    assert E.retrieval_topk(query, [0], gallery, [0, 1], ks=(1,)) == {1: 1.0}
    feats, labels = torch.randn(20, 6), torch.randint(0, 3, (20,))
    scales = torch.rand(20, 1) * 100 + 0.01
    base = E.retrieval_topk(feats[:5], labels[:5], feats[5:], labels[5:], ks=(1, 3))
    scaled = E.retrieval_topk(
        feats[:5] * scales[:5], labels[:5], feats[5:] * scales[5:], labels[5:], ks=(1, 3)
    )
    assert base == scaled


def test_retrieval_clips_k_to_gallery_size_and_checks_shapes():
    result = E.retrieval_topk(torch.randn(3, 4), [0, 1, 0], torch.randn(2, 4), [0, 1], ks=(1, 50))
    assert result[50] == 1.0  # every class is in a 2-item gallery holding both classes
    with pytest.raises(ValueError, match="-d"):
        E.retrieval_topk(torch.randn(3, 4), [0, 1, 0], torch.randn(2, 5), [0, 1])
    with pytest.raises(ValueError, match="labels"):
        E.retrieval_topk(torch.randn(3, 4), [0, 1], torch.randn(2, 4), [0, 1])


def test_knn_majority_vote():
    train = torch.tensor([[1.0, 0.0], [1.0, 0.1], [1.0, -0.1], [0.0, 1.0], [0.1, 1.0]])
    train_labels = [0, 1, 1, 2, 2]
    test = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # nearest of the first query is class 0, but 2 of its 3 nearest are class 1
    assert E.knn_accuracy(train, train_labels, test, [1, 2], k=3) == 1.0
    assert E.knn_accuracy(train, train_labels, test, [0, 2], k=1) == 1.0


# ---------------------------------------------------------------- linear probe


def blobs(n: int, classes: int, dim: int, seed: int, spread: float = 0.5):
    """Gaussian blobs around fixed class centres: linearly separable for a small spread."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=torch.Generator().manual_seed(123)) * 3
    labels = torch.randint(0, classes, (n,), generator=g)
    return centres[labels] + spread * torch.randn(n, dim, generator=g) + 50.0, labels


def test_linear_probe_separates_separable_data():
    xtr, ytr = blobs(200, 4, 16, seed=0)
    xte, yte = blobs(200, 4, 16, seed=1)
    result = E.linear_probe(xtr, ytr, xte, yte, epochs=100, lr=0.05, weight_decay=0.0, seed=0)
    assert result["train_acc"] > 0.97 and result["test_acc"] > 0.95


def test_linear_probe_is_at_chance_on_random_labels():
    g = torch.Generator().manual_seed(0)
    xtr, xte = torch.randn(500, 20, generator=g), torch.randn(1000, 20, generator=g)
    ytr, yte = torch.randint(0, 10, (500,), generator=g), torch.randint(0, 10, (1000,), generator=g)
    result = E.linear_probe(xtr, ytr, xte, yte, epochs=100, lr=0.05, weight_decay=0.0, seed=0)
    assert result["test_acc"] < 0.17  # chance is 0.10
    assert result["train_acc"] > result["test_acc"]


def test_linear_probe_is_deterministic_on_tensors_and_arrays():
    xtr, ytr = blobs(120, 3, 8, seed=2, spread=3.0)
    xte, yte = blobs(60, 3, 8, seed=3, spread=3.0)
    kw = dict(epochs=5, lr=0.05, weight_decay=1e-3, seed=4)
    a = E.linear_probe(xtr, ytr, xte, yte, **kw)
    b = E.linear_probe(xtr.numpy(), ytr.numpy(), xte.numpy(), yte.numpy(), **kw)
    assert a == b and 0.0 <= a["test_acc"] <= 1.0


# ---------------------------------------------------------------- clip- and video-level accuracy


def test_video_level_averages_logits_over_clips():
    logits = torch.tensor(
        [
            [[5.0, 0.0], [0.0, 1.0]],  # label 0: clip 1 right, clip 2 wrong, mean right
            [[0.0, 4.0], [1.0, 0.0]],  # label 1: clip 1 right, clip 2 wrong, mean right
        ]
    )
    assert E.clip_and_video_accuracy(logits, torch.tensor([0, 1])) == {
        "clip_acc": 0.5,
        "video_acc": 1.0,
    }
    with pytest.raises(ValueError, match="N_videos, K"):
        E.clip_and_video_accuracy(logits[0], torch.tensor([0, 1]))


class MeanLogits(nn.Module):
    """Logits [m - 100, 100 - m] of a clip of mean level m: class 0 when the clip is bright."""

    def clip_logits(self, x: torch.Tensor) -> torch.Tensor:
        m = x.float().mean(dim=(2, 3, 4, 5))
        return torch.stack([m - 100, 100 - m], dim=-1)


def test_predict_videos_keeps_videos_and_clips_apart():
    levels = torch.tensor([[101, 102, 9], [99, 98, 200], [103, 103, 103]])  # (videos, K)
    clips = levels.view(3, 3, 1, 1, 1, 1).expand(3, 3, 2, 3, 2, 2).to(torch.uint8).contiguous()
    logits, labels = E.predict_videos(
        MeanLogits(), EvalClips(clips, [1, 0, 0]), device="cpu", batch_size=2, progress=False
    )
    assert torch.equal(logits[..., 0], levels.float() - 100) and labels.tolist() == [1, 0, 0]
    acc = E.clip_and_video_accuracy(logits, labels)
    assert acc == {"clip_acc": pytest.approx(5 / 9), "video_acc": pytest.approx(1.0)}
    train_mode = EvalClips(clips, [1, 0, 0])
    train_mode.train = True  # one random clip per video: not a test set
    with pytest.raises(ValueError, match="train=False"):
        E.predict_videos(MeanLogits(), train_mode, device="cpu", progress=False)


def test_classifier_scores_clips_or_whole_videos():
    torch.manual_seed(0)
    model = E.Classifier(tiny_encoder(), num_classes=3).eval()
    videos = torch.randint(0, 256, (2, 4, 2, 3, 8, 8), dtype=torch.uint8)  # (B, K, T, C, H, W)
    with torch.no_grad():
        clip_level = torch.stack([model(videos[:, k]) for k in range(4)], dim=1)
        assert clip_level.shape == (2, 4, 3)
        assert torch.allclose(model.clip_logits(videos), clip_level, atol=1e-6)
        assert torch.allclose(model(videos), clip_level.mean(1), atol=1e-6)


def test_classifier_hidden_layer_lets_frames_interact():
    encoder = tiny_encoder()
    linear = E.Classifier(encoder, num_classes=3)
    mlp = E.Classifier(encoder, num_classes=3, dropout=0.2, hidden=16)
    assert isinstance(linear.fc, nn.Linear)
    sizes = [(m.in_features, m.out_features) for m in mlp.fc if isinstance(m, nn.Linear)]
    assert sizes == [(encoder.feature_dim, 16), (16, 3)]
    x = torch.randint(0, 256, (2, 2, 3, 8, 8), dtype=torch.uint8)
    assert mlp.eval()(x).shape == (2, 3)


# ---------------------------------------------------------------- features


def test_pool_feature_map_globally_or_over_windows():
    fmap = torch.randn(2, 3, 2, 5, 4)  # (B, C, T, H, W)
    assert torch.equal(E.pool_feature_map(fmap), fmap.amax(dim=(2, 3, 4)))
    windows = E.pool_feature_map(fmap, (1, 2, 2))
    assert windows.shape == (2, 3 * 2 * 2 * 2)  # odd sizes round down: H 5 -> 2 windows
    grid = windows.view(2, 3, 2, 2, 2)
    assert torch.equal(grid[:, :, 1, 0, 1], fmap[:, :, 1, 0:2, 2:4].amax(dim=(2, 3)))
    assert torch.equal(grid[:, :, 0, 1, 0], fmap[:, :, 0, 2:4, 0:2].amax(dim=(2, 3)))
    # VCOP's retrieval feature: 9,216 numbers from a (512, 2, 7, 7) conv5 map
    assert E.pool_feature_map(torch.zeros(1, 512, 2, 7, 7), (1, 2, 2)).shape == (1, 9216)
    maps2d = torch.randn(2, 3, 4, 4)  # (B, C, H, W): a 2D encoder's map
    assert torch.equal(E.pool_feature_map(maps2d), maps2d.amax(dim=(2, 3)))
    assert E.pool_feature_map(maps2d, (2, 2)).shape == (2, 3 * 2 * 2)
    with pytest.raises(ValueError, match="does not fit"):
        E.pool_feature_map(fmap, (2, 2))
    with pytest.raises(ValueError, match="feature map"):
        E.pool_feature_map(torch.randn(2, 3, 4))


def test_encode_videos_gives_both_features_in_dataset_order():
    torch.manual_seed(0)
    encoder = tiny_encoder().train()
    clips = torch.randint(0, 256, (5, 3, 2, 3, 4, 4), dtype=torch.uint8)  # 5 videos, 3 clips
    feats = E.encode_videos(
        encoder, EvalClips(clips, [0, 1, 2, 1, 0]), device="cpu", batch_size=2, progress=False
    )
    assert feats.pooled.shape == (5, 4) and feats.pooled.dtype == torch.float32
    assert feats.labels.tolist() == [0, 1, 2, 1, 0]
    with torch.no_grad():
        pooled = torch.stack([encoder(c).mean(0) for c in clips])  # the encoder's output
        maxed = torch.stack([encoder.feature_map(c).amax(dim=(2, 3, 4)).mean(0) for c in clips])
    assert torch.allclose(feats.pooled, pooled, atol=1e-6)
    assert torch.allclose(feats.retrieval, maxed, atol=1e-6)
    assert encoder.training  # mode restored
    # the features feed the probes directly (no inference-mode tensors)
    probe = E.linear_probe(feats.pooled, feats.labels, feats.pooled, feats.labels, epochs=2)
    assert 0.0 <= probe["test_acc"] <= 1.0


def test_encode_videos_of_a_frame_encoder_keeps_one_vector_per_frame():
    net = TinyEncoder2D()
    encoder = ElementEncoder(net, Element(3, layout="frames"))
    clips = torch.randint(0, 256, (2, 1, 3, 3, 4, 4), dtype=torch.uint8)  # 2 videos, 1 clip
    feats = E.encode_videos(encoder, EvalClips(clips, [0, 1]), device="cpu", progress=False)
    assert feats.pooled.shape == feats.retrieval.shape == (2, 3 * 4)
    with torch.no_grad():
        frames = clips[1, 0].float().div(255).sub(0.5).mul(2)  # (T, C, H, W)
        fmap = net.feature_map(frames)  # (T, 4, H, W)
    assert torch.allclose(feats.pooled[1], fmap.mean(dim=(2, 3)).flatten(), atol=1e-6)
    assert torch.allclose(feats.retrieval[1].view(4, 3), fmap.amax(dim=(2, 3)).T, atol=1e-6)


def test_encode_videos_retrieval_pool_windows_and_eval_mode_only():
    encoder = tiny_encoder()
    ds = EvalClips(torch.randint(0, 256, (2, 2, 2, 3, 4, 4), dtype=torch.uint8), [0, 1])
    feats = E.encode_videos(encoder, ds, retrieval_pool=(1, 2, 2), device="cpu", progress=False)
    assert feats.retrieval.shape == (2, 4 * 2 * 2 * 2)  # C x T x H/2 x W/2, flattened
    with torch.no_grad():
        first = E.pool_feature_map(encoder.feature_map(ds.clips[0]), (1, 2, 2)).mean(0)
    assert torch.allclose(feats.retrieval[0], first, atol=1e-6)
    ds.train = True
    with pytest.raises(ValueError, match="train=False"):
        E.encode_videos(encoder, ds, device="cpu", progress=False)


# ---------------------------------------------------------------- on video files


def level_video(path, level: int, seed: int):
    """An 8-frame 16x16 video of about `level` grey, with a little texture."""
    rng = np.random.default_rng(seed)
    frames = np.clip(level + rng.integers(-12, 13, (8, 16, 16, 3)), 0, 255).astype(np.uint8)
    return write_video(path, frames)


@pytest.fixture(scope="module")
def dark_bright(tmp_path_factory):
    """Dark (label 0) and bright (label 1) videos: 8 to train, 4 to validate, 4 to test."""
    root = tmp_path_factory.mktemp("videos")
    parts = {"train": [], "val": [], "test": []}
    for label, (name, level) in enumerate((("Dark", 50), ("Bright", 190))):
        for k, part in enumerate(["train"] * 4 + ["val"] * 2 + ["test"] * 2):
            rel = f"{name}/v_{name}_g{k + 1:02d}_c01.avi"
            path = level_video(root / rel, level + 6 * k - 20, seed=10 * label + k)
            parts[part].append(VideoRecord(rel, path, label, name, k + 1, 1))
    return SimpleNamespace(**parts, fit=parts["train"], num_classes=2)


QUIET = Run(device="cpu", progress=False)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """Runs go to a temporary cache, never to ~/.cache."""
    monkeypatch.setenv("SSV_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


VIEW = View(size=None, crop=12)
SETUP = E.Downstream(
    epochs=3, batch_size=4, clips_per_video=2, optim=Optim("adamw", lr=0.05, weight_decay=0.0)
)


def test_frozen_eval_probes_and_retrieves_on_video_files(dark_bright):
    result = E.frozen_eval(tiny_encoder(), dark_bright, VIEW, SETUP, QUIET, ks=(1, 3))
    assert result["linear_probe_acc"] == 1.0 and result["retrieval_topk"] == {1: 1.0, 3: 1.0}
    assert result["train"].pooled.shape == (8, 4) and result["test"].retrieval.shape == (4, 4)
    assert result["test"].labels.tolist() == [0, 0, 1, 1]


def finetune(encoder, videos, **kwargs):
    return E.finetune(encoder, videos, VIEW, SETUP, QUIET, **kwargs)


def test_finetune_learns_picks_the_best_val_epoch_and_caches_its_run(
    dark_bright, cache, monkeypatch
):
    encoder = tiny_encoder()
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    result = finetune(encoder, dark_bright)
    history = result["history"]
    assert len(history.epochs) == 3 and history.monitor == "val_acc"
    assert result["video_acc"] >= 0.75 and 0.0 <= result["clip_acc"] <= 1.0  # chance: 0.5
    val_acc = history.series("val_acc")
    assert result["best_epoch"] == history.best_epoch == 1 + int(np.argmax(val_acc))
    [run] = list((cache / "runs").glob("*finetune-*"))
    best = torch.load(run / "best.pt", weights_only=True)
    assert best["epoch"] == history.best_epoch
    tuned = result["model"].state_dict()
    assert all(torch.equal(v, tuned[k]) for k, v in best["model"].items())
    # the input encoder is untouched: the classifier trained a copy
    assert result["model"].encoder is not encoder
    assert all(torch.equal(before[k], v) for k, v in encoder.state_dict().items())

    def no_training(*args, **kwargs):
        raise AssertionError("a cached fine-tuning run must not train again")

    with monkeypatch.context() as patch:
        patch.setattr(torch.optim.Optimizer, "zero_grad", no_training)
        again = finetune(encoder, dark_bright)
    assert again["history"].to_dict() == history.to_dict()
    assert (again["clip_acc"], again["video_acc"]) == (result["clip_acc"], result["video_acc"])

    other = tiny_encoder()
    with torch.no_grad():
        other.net.conv.bias.fill_(0.2)  # another start is another run, in its own folder
    finetune(other, dark_bright)
    assert len(list((cache / "runs").glob("*finetune-*"))) == 2


def steps_taken(run) -> int:
    """Optimisation steps of a finished run, from its checkpoint's scheduler."""
    return torch.load(run / "last.pt", weights_only=True)["scheduler"]["last_epoch"]


def test_finetune_fractions_runs_each_fraction_apart_at_the_same_cost(dark_bright, cache):
    setup = E.Downstream(epochs=2, batch_size=2, clips_per_video=1, optim=Optim("adamw"))
    out = E.finetune_fractions(tiny_encoder(), dark_bright, VIEW, setup, (1.0, 0.5), QUIET)
    assert list(out) == [1.0, 0.5]
    assert all({"history", "video_acc", "clip_acc", "model"} <= set(r) for r in out.values())
    runs = sorted((cache / "runs").glob("*finetune-*"))
    assert len(runs) == 2
    # half the labels, repeated: every epoch still takes 8 videos / batch 2 = 4 steps
    assert [steps_taken(run) for run in runs] == [2 * 4, 2 * 4]


def test_finetune_without_validation_videos_keeps_the_last_epoch(dark_bright, cache):
    setup = E.Downstream(epochs=2, batch_size=4, clips_per_video=1, optim=Optim("adamw"))
    no_val = SimpleNamespace(fit=dark_bright.fit, val=[], test=dark_bright.test, num_classes=2)
    result = E.finetune(tiny_encoder(), no_val, VIEW, setup, QUIET)
    history = result["history"]
    assert len(history.epochs) == 2 and result["best_epoch"] is None
    assert history.series("val_acc") == [None, None] and history.best["epoch"] == 2


def test_finetune_needs_videos(dark_bright, cache):
    with pytest.raises(ValueError, match="no videos"):
        empty = SimpleNamespace(fit=[], val=dark_bright.val, test=dark_bright.test, num_classes=2)
        E.finetune(tiny_encoder(), empty, VIEW, SETUP, QUIET)


def test_label_fractions():
    assert E.label_fractions(0.1) == (1.0, 0.1)
    assert E.label_fractions(1.0) == (1.0,)
    for bad in (0, 1.5, -0.1, True, "0.1"):
        with pytest.raises(ValueError, match="label_fraction"):
            E.label_fractions(bad)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"epochs": 0}, ">= 1"),
        ({"batch_size": 0}, ">= 1"),
        ({"clips_per_video": 0}, ">= 1"),
        ({"encoder_lr_scale": -1.0}, "encoder_lr_scale"),
    ],
)
def test_downstream_rejects_settings_that_cannot_run(kwargs, match):
    with pytest.raises(ValueError, match=match):
        E.Downstream(**{"epochs": 1, "batch_size": 1, "optim": Optim(), **kwargs})
