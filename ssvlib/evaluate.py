"""Downstream evaluation shared by every paper: features, retrieval, linear probe, fine-tuning.

Every accuracy here is a fraction in [0, 1], and every function says which kind it is:

- *clip-level*: each test clip is scored on its own;
- *video-level*: a video's K clips are pooled first (logits or features averaged), then scored.

Papers report video-level accuracy (VCOP: 10 clips per video, logits averaged). Mixing the two up is
the most common way reproductions disagree, so `finetune` returns both.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ssvlib.config import check_choice, resolve_device, seed_everything
from ssvlib.train import EpochSampler, fit, loader_kwargs, make_optimizer, make_scheduler

POOLS = ("avg", "max")


def _as_tensor(x, dtype: torch.dtype) -> torch.Tensor:
    """A CPU tensor of `dtype` from a tensor, array or list (never an inference-mode tensor)."""
    if not isinstance(x, torch.Tensor):
        return torch.as_tensor(np.asarray(x)).to("cpu", dtype)
    x = x.detach().to("cpu", dtype)
    return x.clone() if x.is_inference() else x


def _check_pairs(feats: torch.Tensor, labels: torch.Tensor, name: str) -> None:
    """Raise unless `feats` is (N, D) and `labels` is (N,)."""
    if feats.ndim != 2 or labels.ndim != 1 or len(feats) != len(labels) or len(feats) == 0:
        raise ValueError(
            f"{name}: expected features (N, D) and labels (N,) with N > 0, got "
            f"{tuple(feats.shape)} and {tuple(labels.shape)}"
        )


def _check_eval_dataset(dataset: Dataset, caller: str) -> None:
    """Raise unless `dataset` gives several clips per video (ClipDataset with train=False)."""
    if getattr(dataset, "train", False):
        raise ValueError(
            f"{caller} needs a test-mode dataset that returns (clips, label, index): build it with "
            f"ClipDataset(records, spec, train=False, clips_per_video=K)"
        )


def _autocast(device: torch.device, amp: bool | None):
    """bf16 autocast on CUDA when amp is None or True; a no-op context elsewhere."""
    enabled = device.type == "cuda" and amp is not False
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def _eval_loader(dataset: Dataset, batch_size: int, device: torch.device, num_workers: int | None):
    """A fixed-order loader over test videos (each item holds K clips)."""
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=False, **loader_kwargs(device, num_workers)
    )


def _progress(iterable, enabled: bool, desc: str):
    """Wrap `iterable` in a tqdm bar when enabled."""
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, leave=False)


def _per_clip(fn, module: nn.Module, dataset: Dataset, device: torch.device, batch_size: int,
              num_workers: int | None, amp: bool | None, progress: bool, desc: str):
    """Apply `fn` to every clip of every video: (N_videos, K, D) outputs and labels, in dataset order.

    `module` is put in eval mode on `device` for the pass and left in the mode it came in.
    """
    was_training = module.training
    module.eval().to(device)
    outputs, labels, order = [], [], []
    try:
        for clips, label, index in _progress(
            _eval_loader(dataset, batch_size, device, num_workers), progress, desc
        ):
            b, k = clips.shape[:2]
            with _autocast(device, amp):
                out = fn(clips.flatten(0, 1).to(device, non_blocking=True))
            outputs.append(out.float().reshape(b, k, -1).cpu())
            labels.append(torch.as_tensor(label))
            order.append(torch.as_tensor(index))
    finally:
        module.train(was_training)
    perm = torch.argsort(torch.cat(order))
    return torch.cat(outputs)[perm], torch.cat(labels).long()[perm]


def pool_feature_map(
    fmap: torch.Tensor, pool: str = "max", pool_size: tuple[int, int, int] | None = None
) -> torch.Tensor:
    """Pool a (B,C,T,H,W) map: globally to (B,C), or over `pool_size` windows, then flattened."""
    check_choice("pool", pool, POOLS)
    if fmap.ndim != 5:
        raise ValueError(f"feature_map must be (B, C, T, H, W), got {tuple(fmap.shape)}")
    if pool_size is None:
        return fmap.amax(dim=(2, 3, 4)) if pool == "max" else fmap.mean(dim=(2, 3, 4))
    pooling = F.max_pool3d if pool == "max" else F.avg_pool3d
    return pooling(fmap, kernel_size=pool_size, stride=pool_size).flatten(1)


@torch.no_grad()
def extract_features(
    encoder: nn.Module,
    dataset: Dataset,
    device: str = "auto",
    pool: str = "avg",
    use_feature_map: bool = False,
    *,
    pool_size: tuple[int, int, int] | None = None,
    batch_size: int = 4,
    num_workers: int | None = None,
    amp: bool | None = None,
    progress: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Video-level features: each video's clip features averaged over its K clips.

    `dataset` must yield (clips (K,C,T,H,W), label, index), e.g. ``ClipDataset(train=False)``.
    By default a clip's feature is ``encoder(clips)`` (global-average-pooled, `pool` unused).
    With ``use_feature_map=True`` it is the conv5 map ``encoder.feature_map(clips)`` pooled by
    `pool` ('avg' or 'max'): globally, or over `pool_size` windows and flattened. VCOP's retrieval
    code max-pools conv5 over (1, 2, 2) windows and flattens (``pool="max", pool_size=(1, 2, 2)``).
    Returns float32 features (N_videos, D) and int64 labels (N_videos,) on the CPU, in dataset
    order. The encoder is left in the mode (train/eval) it came in.
    """
    check_choice("pool", pool, POOLS)
    if pool_size is not None and not use_feature_map:
        raise ValueError("pool_size applies to the conv5 map: pass use_feature_map=True with it")
    _check_eval_dataset(dataset, "extract_features")
    device = resolve_device(device)
    if use_feature_map:
        fn = lambda x: pool_feature_map(encoder.feature_map(x), pool, pool_size)  # noqa: E731
    else:
        fn = encoder
    feats, labels = _per_clip(fn, encoder, dataset, device, batch_size, num_workers, amp, progress,
                              "features")
    return feats.mean(dim=1), labels


def nearest_neighbours(
    query_feats: torch.Tensor, gallery_feats: torch.Tensor, k: int, chunk: int = 1024
) -> torch.Tensor:
    """Indices (N_query, k) of each query's k most cosine-similar gallery items, best first."""
    k = min(k, len(gallery_feats))
    gallery = F.normalize(gallery_feats.float(), dim=1)
    out = []
    for start in range(0, len(query_feats), chunk):
        q = F.normalize(query_feats[start : start + chunk].float(), dim=1)
        out.append((q @ gallery.T).topk(k, dim=1).indices)
    return torch.cat(out)


def retrieval_topk(
    query_feats,
    query_labels,
    gallery_feats,
    gallery_labels,
    ks: tuple[int, ...] = (1, 5, 10, 20, 50),
) -> dict[int, float]:
    """Video-level retrieval: {k: fraction of queries with a same-class item in their top k}.

    Neighbours are ranked by cosine similarity (so the scale of a feature does not matter); a k
    larger than the gallery is clipped to the gallery size. The VCOP protocol: test videos query
    the train videos, features averaged over 10 clips per video (`extract_features`).
    """
    q, g = _as_tensor(query_feats, torch.float32), _as_tensor(gallery_feats, torch.float32)
    ql, gl = _as_tensor(query_labels, torch.long), _as_tensor(gallery_labels, torch.long)
    _check_pairs(q, ql, "retrieval_topk query")
    _check_pairs(g, gl, "retrieval_topk gallery")
    if q.shape[1] != g.shape[1]:
        raise ValueError(f"query features are {q.shape[1]}-d but gallery features {g.shape[1]}-d")
    if not ks or any(int(k) < 1 for k in ks):
        raise ValueError(f"ks={ks!r}: give positive neighbour counts such as (1, 5, 10)")
    hits = gl[nearest_neighbours(q, g, max(ks))] == ql[:, None]
    return {int(k): hits[:, : min(k, len(g))].any(dim=1).float().mean().item() for k in ks}


def knn_accuracy(train_feats, train_labels, test_feats, test_labels, k: int = 5) -> float:
    """Video-level k-nearest-neighbour accuracy: majority vote of the k most cosine-similar.

    A tie in votes goes to the class whose tied neighbours are more similar in total.
    With k=1 this equals ``retrieval_topk(...)[1]``.
    """
    tr, te = _as_tensor(train_feats, torch.float32), _as_tensor(test_feats, torch.float32)
    trl, tel = _as_tensor(train_labels, torch.long), _as_tensor(test_labels, torch.long)
    _check_pairs(tr, trl, "knn_accuracy train")
    _check_pairs(te, tel, "knn_accuracy test")
    if k < 1:
        raise ValueError(f"k={k!r}: must be >= 1")
    k = min(k, len(tr))
    idx = nearest_neighbours(te, tr, k)
    sims = (F.normalize(te, dim=1)[:, None, :] * F.normalize(tr, dim=1)[idx]).sum(-1)
    num_classes = int(max(trl.max(), tel.max())) + 1
    votes = F.one_hot(trl[idx], num_classes).float()
    # a count always outweighs the similarity term, which lies in (-0.5, 0.5)
    scores = votes.sum(1) + (votes * sims[..., None]).sum(1) / (2 * k + 1)
    return (scores.argmax(1) == tel).float().mean().item()


def standardize(train: torch.Tensor, test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Centre and scale both sets with the train set's per-dimension mean and std."""
    mean = train.mean(0, keepdim=True)
    std = train.std(0, correction=0, keepdim=True)
    std = torch.where(std > 1e-6, std, torch.ones_like(std))  # constant dimensions stay as they are
    return (train - mean) / std, (test - mean) / std


def linear_probe(
    train_feats,
    train_labels,
    test_feats,
    test_labels,
    *,
    epochs: int = 200,
    lr: float = 0.01,
    weight_decay: float = 1e-4,
    seed: int = 0,
    batch_size: int | None = None,
    device: str = "cpu",
) -> dict[str, float]:
    """Logistic regression on frozen video-level features: {train_acc, test_acc}.

    Features are standardised with the train set's statistics. The classifier starts at zero and
    is trained with Adam (L2 penalty `weight_decay`) full-batch, or on minibatches of
    `batch_size` shuffled by `seed`; `epochs` passes over the train set. Deterministic.
    """
    xtr, xte = _as_tensor(train_feats, torch.float32), _as_tensor(test_feats, torch.float32)
    ytr, yte = _as_tensor(train_labels, torch.long), _as_tensor(test_labels, torch.long)
    _check_pairs(xtr, ytr, "linear_probe train")
    _check_pairs(xte, yte, "linear_probe test")
    if xtr.shape[1] != xte.shape[1]:
        raise ValueError(f"train features are {xtr.shape[1]}-d but test features {xte.shape[1]}-d")
    dev = resolve_device(device)
    xtr, xte = (t.to(dev) for t in standardize(xtr, xte))
    ytr, yte = ytr.to(dev), yte.to(dev)
    num_classes = int(max(ytr.max(), yte.max())) + 1
    head = nn.Linear(xtr.shape[1], num_classes).to(dev)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    opt = torch.optim.Adam(head.parameters(), lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    step = len(xtr) if batch_size is None else batch_size
    for _ in range(epochs):
        order = torch.randperm(len(xtr), generator=gen).to(dev) if batch_size else None
        for start in range(0, len(xtr), step):
            rows = slice(start, start + step) if order is None else order[start : start + step]
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(head(xtr[rows]), ytr[rows]).backward()
            opt.step()
    with torch.no_grad():
        return {
            "train_acc": (head(xtr).argmax(1) == ytr).float().mean().item(),
            "test_acc": (head(xte).argmax(1) == yte).float().mean().item(),
        }


class Classifier(nn.Module):
    """An encoder followed by dropout and a new linear layer: clips (B,C,T,H,W) -> logits."""

    def __init__(self, encoder: nn.Module, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        if not isinstance(getattr(encoder, "feature_dim", None), int):
            raise ValueError(
                f"{type(encoder).__name__} has no integer `feature_dim`: the encoders of "
                f"ssvlib.models.encoders set it to the size of the vector forward() returns"
            )
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(encoder.feature_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, num_classes)."""
        return self.fc(self.dropout(self.encoder(x)))


def clip_and_video_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """From logits (N_videos, K, classes): clip-level and video-level (logits averaged) accuracy."""
    logits, labels = torch.as_tensor(logits).float(), torch.as_tensor(labels).long()
    if logits.ndim != 3 or labels.shape != logits.shape[:1]:
        raise ValueError(
            f"expected logits (N_videos, K, classes) and labels (N_videos,), got "
            f"{tuple(logits.shape)} and {tuple(labels.shape)}"
        )
    clip_hits = logits.argmax(-1) == labels[:, None]
    video_hits = logits.mean(1).argmax(-1) == labels
    return {
        "clip_acc": clip_hits.float().mean().item(),
        "video_acc": video_hits.float().mean().item(),
    }


@torch.no_grad()
def predict_videos(
    model: nn.Module,
    dataset: Dataset,
    device: str = "auto",
    *,
    batch_size: int = 4,
    num_workers: int | None = None,
    amp: bool | None = None,
    progress: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits of every clip of every test video: (N_videos, K, classes) and labels (N_videos,)."""
    _check_eval_dataset(dataset, "predict_videos")
    device = resolve_device(device)
    return _per_clip(model, model, dataset, device, batch_size, num_workers, amp, progress, "test")


def weights_fingerprint(model: nn.Module) -> str:
    """A short summary of a model's weights: tells a pretrained start from a random one."""
    with torch.no_grad():
        total = sum(
            float(p.double().abs().sum())
            for p in model.state_dict().values()
            if p.is_floating_point()
        )
    return f"{total:.6e}"


def finetune(
    encoder: nn.Module,
    train_dataset: Dataset,
    test_dataset: Dataset,
    num_classes: int,
    *,
    epochs: int,
    lr: float = 1e-3,
    encoder_lr_scale: float = 1.0,
    batch_size: int = 8,
    optimizer: str = "sgd",
    weight_decay: float = 5e-4,
    momentum: float = 0.9,
    scheduler: str = "none",
    dropout: float = 0.0,
    device: str = "auto",
    num_workers: int | None = None,
    seed: int = 0,
    amp: bool | None = None,
    checkpoint_dir=None,
    progress: bool = True,
    max_steps_per_epoch: int | None = None,
) -> dict:
    """Fine-tune a copy of `encoder` with a new linear layer; return clip- and video-level accuracy.

    `train_dataset` yields (clip, label) (``ClipDataset(train=True)``), `test_dataset` yields
    (clips (K,...), label, index) (``ClipDataset(train=False)``). The encoder's learning rate is
    ``lr * encoder_lr_scale`` (below 1 keeps it closer to its pretrained weights; 0 freezes the
    weights, though batch-norm statistics still adapt: use `linear_probe` for frozen features),
    the new layer's is `lr`. Trained with `ssvlib.train.fit` (no validation set, the last epoch is kept).
    Returns {"history", "clip_acc", "video_acc", "model"}: clip_acc scores every test clip on its
    own, video_acc averages the logits of a video's K clips. The `encoder` passed in is untouched.
    With `checkpoint_dir`, a finished run is loaded instead of retrained; the run's settings and a
    fingerprint of the encoder's weights are stored with it, so a checkpoint of another
    initialisation or setting is refused (use one folder per run).
    """
    if not epochs >= 1 or num_classes < 2 or encoder_lr_scale < 0:
        raise ValueError(
            f"finetune needs epochs >= 1, num_classes >= 2 and encoder_lr_scale >= 0; got "
            f"epochs={epochs}, num_classes={num_classes}, encoder_lr_scale={encoder_lr_scale}"
        )
    if not getattr(train_dataset, "train", True):
        raise ValueError("train_dataset must be in train mode: ClipDataset(..., train=True)")
    _check_eval_dataset(test_dataset, "finetune's test_dataset")
    seed_everything(seed)
    dev = resolve_device(device)
    model = Classifier(copy.deepcopy(encoder), num_classes, dropout)
    loader = DataLoader(
        train_dataset,
        batch_size=batch_size,
        sampler=EpochSampler(len(train_dataset), seed),  # fit sets the epoch here and on the data
        drop_last=len(train_dataset) > batch_size,
        **loader_kwargs(dev, num_workers, seed=seed),
    )
    groups = [  # the new layer first: History's "lr" is the first group's
        {"params": list(model.fc.parameters()), "lr": lr},
        {"params": list(model.encoder.parameters()), "lr": lr * encoder_lr_scale},
    ]
    opt = make_optimizer(groups, optimizer, lr, momentum=momentum, weight_decay=weight_decay)
    steps = len(loader) if max_steps_per_epoch is None else min(len(loader), max_steps_per_epoch)
    sched = make_scheduler(opt, scheduler, total_steps=epochs * steps)
    history = fit(
        model,
        loader,
        epochs=epochs,
        optimizer=opt,
        scheduler=sched,
        device=str(dev),
        amp=amp,
        checkpoint_dir=checkpoint_dir,
        select_best=False,
        progress=progress,
        max_steps_per_epoch=max_steps_per_epoch,
        desc="finetune",
        run_config={
            "task": "finetune",
            "encoder": type(encoder).__name__,
            "encoder_fingerprint": weights_fingerprint(encoder),
            "train_videos": len(train_dataset),
            "num_classes": num_classes,
            "epochs": epochs,
            "lr": lr,
            "encoder_lr_scale": encoder_lr_scale,
            "batch_size": batch_size,
            "optimizer": optimizer,
            "weight_decay": weight_decay,
            "momentum": momentum,
            "scheduler": scheduler,
            "dropout": dropout,
            "seed": seed,
            "max_steps_per_epoch": max_steps_per_epoch,
        },
    )
    logits, labels = predict_videos(
        model,
        test_dataset,
        str(dev),
        batch_size=max(1, batch_size // 2),
        num_workers=num_workers,
        amp=amp,
        progress=progress,
    )
    return {"history": history, **clip_and_video_accuracy(logits, labels), "model": model}
