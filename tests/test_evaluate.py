"""Tests for ssvlib.evaluate: retrieval, kNN, linear probe, multi-clip accuracy, fine-tuning."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from ssvlib import evaluate as E


class TinyEncoder(nn.Module):
    """A one-layer 3D CNN with the encoder interface: feature_dim, forward, feature_map."""

    feature_dim = 4

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv3d(3, self.feature_dim, kernel_size=1)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.feature_map(x).mean(dim=(2, 3, 4))


class TrainClips(Dataset):
    """Train-mode stand-in: clip of class c is filled with +-1 (c = 1 bright, c = 0 dark) + noise."""

    train = True

    def __init__(self, n: int, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.labels = torch.arange(n) % 2
        self.clips = (2.0 * self.labels - 1).view(n, 1, 1, 1, 1) + 0.3 * torch.randn(
            n, 3, 2, 4, 4, generator=g
        )

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        return self.clips[i], int(self.labels[i])


class EvalClips(Dataset):
    """Eval-mode stand-in: (clips (K,C,T,H,W), label, index) from a given tensor of clips."""

    train = False

    def __init__(self, clips: torch.Tensor, labels: list[int]) -> None:
        self.clips, self.labels = clips, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        return self.clips[i], self.labels[i], i


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


def test_linear_probe_is_deterministic_full_and_minibatch():
    xtr, ytr = blobs(120, 3, 8, seed=2, spread=3.0)
    xte, yte = blobs(60, 3, 8, seed=3, spread=3.0)
    kw = dict(epochs=5, lr=0.05, weight_decay=1e-3, seed=4)
    for batch_size in (None, 16):
        a = E.linear_probe(xtr, ytr, xte, yte, batch_size=batch_size, **kw)
        b = E.linear_probe(
            xtr.numpy(), ytr.numpy(), xte.numpy(), yte.numpy(), batch_size=batch_size, **kw
        )
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
    """Logits [mean, -mean] of a clip: class 0 when the clip is bright."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x.mean(dim=(1, 2, 3, 4))
        return torch.stack([m, -m], dim=1)


def test_predict_videos_keeps_videos_and_clips_apart():
    values = torch.tensor([[1.0, 2.0, -9.0], [-1.0, -2.0, 4.0], [3.0, 3.0, 3.0]])  # (videos, K)
    clips = values.view(3, 3, 1, 1, 1, 1).expand(3, 3, 3, 2, 2, 2).contiguous()
    logits, labels = E.predict_videos(
        MeanLogits(),
        EvalClips(clips, [1, 0, 0]),
        "cpu",
        batch_size=2,
        progress=False,
        num_workers=0,
    )
    assert torch.equal(logits[..., 0], values) and labels.tolist() == [1, 0, 0]
    acc = E.clip_and_video_accuracy(logits, labels)
    assert acc == {"clip_acc": pytest.approx(5 / 9), "video_acc": pytest.approx(1.0)}


# ---------------------------------------------------------------- features


def test_extract_features_averages_clips_in_dataset_order():
    torch.manual_seed(0)
    encoder = TinyEncoder().train()
    clips = torch.randn(5, 3, 3, 2, 4, 4)  # 5 videos, 3 clips each
    ds = EvalClips(clips, [0, 1, 2, 1, 0])
    feats, labels = E.extract_features(
        encoder, ds, "cpu", batch_size=2, progress=False, num_workers=0
    )
    assert feats.shape == (5, 4) and feats.dtype == torch.float32
    assert labels.tolist() == [0, 1, 2, 1, 0]
    with torch.no_grad():
        expected = torch.stack([encoder(c).mean(0) for c in clips])
    assert torch.allclose(feats, expected, atol=1e-6)
    assert encoder.training  # mode restored
    # the features feed the probes directly (no inference-mode tensors)
    probe = E.linear_probe(feats, labels, feats, labels, epochs=2, lr=0.1, weight_decay=0.0, seed=0)
    assert 0.0 <= probe["test_acc"] <= 1.0


def test_extract_features_from_feature_map_pooling():
    encoder = TinyEncoder()
    ds = EvalClips(torch.randn(2, 2, 3, 2, 4, 4), [0, 1])
    global_max, _ = E.extract_features(
        encoder, ds, "cpu", pool="max", use_feature_map=True, progress=False, num_workers=0
    )
    assert global_max.shape == (2, 4)
    windows, _ = E.extract_features(
        encoder,
        ds,
        "cpu",
        pool="max",
        use_feature_map=True,
        pool_size=(1, 2, 2),
        progress=False,
        num_workers=0,
    )
    assert windows.shape == (2, 4 * 2 * 2 * 2)  # C x T x H/2 x W/2, flattened
    with torch.no_grad():
        fmap = encoder.feature_map(ds.clips[0])
    assert torch.allclose(global_max[0], fmap.amax(dim=(2, 3, 4)).mean(0), atol=1e-6)
    with pytest.raises(ValueError, match="pool"):
        E.extract_features(encoder, ds, "cpu", pool="median", progress=False, num_workers=0)
    with pytest.raises(ValueError, match="use_feature_map"):
        E.extract_features(encoder, ds, "cpu", pool_size=(1, 2, 2), progress=False, num_workers=0)
    with pytest.raises(ValueError, match="train=False"):
        E.extract_features(encoder, TrainClips(4), "cpu", progress=False, num_workers=0)


# ---------------------------------------------------------------- fine-tuning


def test_finetune_learns_and_reports_both_levels(tmp_path):
    torch.manual_seed(0)
    encoder = TinyEncoder()
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    pool = TrainClips(16, seed=1)  # labels alternate 0, 1, 0, 1, ...
    videos = [[i, i + 2] for i in (0, 1, 4, 5, 8, 9, 12, 13)]  # two clips of one class each
    test_clips = torch.stack([pool.clips[v] for v in videos])  # (8, 2, C, T, H, W)
    test_labels = [int(pool.labels[v[0]]) for v in videos]
    kwargs = dict(
        num_classes=2,
        epochs=3,
        lr=0.2,
        batch_size=8,
        device="cpu",
        seed=0,
        checkpoint_dir=tmp_path / "ft",
        progress=False,
        num_workers=0,
    )
    test_set = EvalClips(test_clips, test_labels)
    result = E.finetune(encoder, TrainClips(32), test_set, **kwargs)
    assert {"history", "clip_acc", "video_acc"} <= set(result)
    assert 0.0 <= result["clip_acc"] <= 1.0 and 0.0 <= result["video_acc"] <= 1.0
    assert result["video_acc"] >= 0.75  # chance is 0.5: bright vs dark is easy
    assert len(result["history"].epochs) == 3
    assert all(torch.equal(before[k], v) for k, v in encoder.state_dict().items())

    # run again: the finished checkpoint is loaded, not retrained
    again = E.finetune(encoder, TrainClips(32), test_set, **kwargs)
    assert again["history"].to_dict() == result["history"].to_dict()
    assert (again["clip_acc"], again["video_acc"]) == (result["clip_acc"], result["video_acc"])
    # another initialisation is another run: its checkpoint folder is not reused silently
    with pytest.raises(ValueError, match="encoder_fingerprint"):
        E.finetune(TinyEncoder(), TrainClips(32), test_set, **kwargs)


def test_finetune_rejects_a_train_mode_test_set():
    with pytest.raises(ValueError, match="train=False"):
        E.finetune(
            TinyEncoder(),
            TrainClips(4),
            TrainClips(4),
            2,
            epochs=1,
            device="cpu",
            progress=False,
            num_workers=0,
        )
