"""Downstream evaluation shared by every paper: frozen features, retrieval, fine-tuning.

The protocol, the same for every chapter (the encoder is an `ElementEncoder`, so it is evaluated
on the element type it was pretrained on):

- `frozen_eval`: one decoding pass per split gives, for every video, the pooled feature (the
  encoder's conv trunk, "conv5", global-average-pooled) and the retrieval feature (conv5
  max-pooled, globally or over `retrieval_pool` windows and flattened), each averaged over the
  video's clips; then a linear probe on the first and nearest-neighbour retrieval on the second.
- `finetune`: the encoder plus a new linear layer, trained on labelled videos; the epoch is chosen
  on held-out *training* groups (never the test videos), and the test videos are scored once.
- `finetune_fractions`: `finetune` at each fraction of the labels, one cached run folder each.

Every accuracy is a fraction in [0, 1], and every function says which kind it is:
*clip-level* (each test clip on its own) or *video-level* (a video's K clips pooled first: logits
or features averaged). Papers report video-level accuracy (VCOP: 10 clips per video, logits
averaged); mixing the two up is the most common way reproductions disagree.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import videos_digest, weights_fingerprint
from .config import resolve_device, run_dir, seed_everything
from .data.datasets import VideoDataset, subset_by_fraction
from .data.loader import make_loader
from .data.videos import Videos
from .models.tuple_model import ElementEncoder
from .settings import Downstream, View
from .train import Run, fit, make_trainer


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


def _autocast(device: torch.device, amp: bool | None):
    """bf16 autocast on CUDA when amp is None or True; a no-op context elsewhere."""
    enabled = device.type == "cuda" and amp is not False
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def _progress(loader, enabled: bool, desc: str):
    """The batches of `loader`, with a tqdm bar when enabled.

    The bar only counts: given the loader itself, the notebook's bar starts an iterator of its
    own (and with it the loader's worker processes) that is never read, then left for the
    garbage collector to stop, 5 s per worker.
    """
    if not enabled:
        yield from loader
        return
    from tqdm.auto import tqdm

    with tqdm(total=len(loader), desc=desc, leave=False) as bar:
        for batch in loader:
            yield batch
            bar.update()


# --------------------------------------------------------------------------- frozen features


def pool_feature_map(fmap: torch.Tensor, pool: tuple[int, ...] | None = None) -> torch.Tensor:
    """Max-pool a (B, C, *spatial) map: globally to (B, C), or over `pool` windows, flattened.

    VCOP's retrieval code max-pools conv5 over (1, 2, 2) windows (rounding down, as nn.MaxPool3d)
    and flattens: 9,216 numbers for a (512, 2, 7, 7) map at 16x112x112; a global max gives C.
    """
    if fmap.ndim not in (4, 5):
        raise ValueError(
            f"a feature map is (B, C, H, W) or (B, C, T, H, W), got {tuple(fmap.shape)}"
        )
    if pool is None:
        return fmap.flatten(2).amax(dim=2)
    pooling = F.max_pool3d if fmap.ndim == 5 else F.max_pool2d
    if len(pool) != fmap.ndim - 2:
        raise ValueError(f"pool {pool} does not fit a feature map of shape {tuple(fmap.shape)}")
    return pooling(fmap, kernel_size=pool, stride=pool).flatten(1)  # floor, as nn.MaxPool3d


def retrieval_feature(
    encoder: ElementEncoder, fmap: torch.Tensor, pool: tuple[int, ...] | None
) -> torch.Tensor:
    """The retrieval feature of an encoder's feature map: max-pooled over `pool` windows and
    flattened, or globally (ordered frames: over space, one vector per frame, in order)."""
    if pool is None and encoder.element.layout == "frames":
        pool = (1, *fmap.shape[3:])
    return pool_feature_map(fmap, pool)


@dataclass
class Features:
    """Video-level features of one split: pooled (N, D), retrieval (N, D'), labels (N,)."""

    pooled: torch.Tensor
    retrieval: torch.Tensor
    labels: torch.Tensor


@torch.no_grad()
def encode_videos(
    encoder: ElementEncoder,
    dataset: VideoDataset,
    *,
    retrieval_pool: tuple[int, ...] | None = None,
    device: str | torch.device = "auto",
    batch_size: int = 4,
    num_workers: int | None = None,
    amp: bool | None = None,
    progress: bool = True,
) -> Features:
    """One pass over eval-mode videos: conv5 average-pooled and max-pooled, averaged over clips.

    The pooled feature is what the encoder outputs (`ElementEncoder.pool` of its feature map);
    the retrieval feature max-pools the map globally, or over `retrieval_pool` windows (frame
    encoders: over space, per frame, in order). The encoder is left in the mode it came in.
    """
    if dataset.train:
        raise ValueError("encode_videos needs an eval-mode VideoDataset (train=False)")
    device = resolve_device(device)
    was_training = encoder.training
    encoder.eval().to(device)
    pooled, retrieval, labels = [], [], []
    loader = make_loader(dataset, batch_size, train=False, device=device, num_workers=num_workers)
    try:
        for clips, label in _progress(loader, progress, "features"):
            b, k = clips.shape[:2]
            with _autocast(device, amp):
                fmap = encoder.feature_map(clips.flatten(0, 1).to(device, non_blocking=True))
            fmap = fmap.float()
            pooled.append(encoder.pool(fmap).reshape(b, k, -1).mean(1).cpu())
            features = retrieval_feature(encoder, fmap, retrieval_pool)
            retrieval.append(features.reshape(b, k, -1).mean(1).cpu())
            labels.append(torch.as_tensor(label))
    finally:
        encoder.train(was_training)
    return Features(torch.cat(pooled), torch.cat(retrieval), torch.cat(labels).long())


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
    train_feats, train_labels, test_feats, test_labels, *, epochs: int = 200, lr: float = 0.01,
    weight_decay: float = 1e-4, seed: int = 0,
) -> dict[str, float]:  # fmt: skip
    """Logistic regression on frozen video-level features: {train_acc, test_acc}.

    Features are standardised with the train set's statistics. The classifier starts at zero and
    is trained full-batch on the CPU with Adam (L2 penalty `weight_decay`) for `epochs` steps.
    Deterministic (`seed` only names the run).
    """
    xtr, xte = _as_tensor(train_feats, torch.float32), _as_tensor(test_feats, torch.float32)
    ytr, yte = _as_tensor(train_labels, torch.long), _as_tensor(test_labels, torch.long)
    _check_pairs(xtr, ytr, "linear_probe train")
    _check_pairs(xte, yte, "linear_probe test")
    if xtr.shape[1] != xte.shape[1]:
        raise ValueError(f"train features are {xtr.shape[1]}-d but test features {xte.shape[1]}-d")
    xtr, xte = standardize(xtr, xte)
    num_classes = int(max(ytr.max(), yte.max())) + 1
    head = nn.Linear(xtr.shape[1], num_classes)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    opt = torch.optim.Adam(head.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(epochs):
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(head(xtr), ytr).backward()
        opt.step()
    with torch.no_grad():
        return {
            "train_acc": (head(xtr).argmax(1) == ytr).float().mean().item(),
            "test_acc": (head(xte).argmax(1) == yte).float().mean().item(),
        }


def frozen_eval(
    encoder: ElementEncoder, videos, view: View, setup: Downstream, run: Run,
    ks: tuple[int, ...] = (1, 5, 10, 20, 50),
) -> dict:  # fmt: skip
    """Linear probe (pooled conv5) and retrieval top-k (max-pooled conv5) of a frozen encoder.

    The test videos (`videos.test`) query the training videos (`videos.train`), as in VCOP.
    Returns {"linear_probe_acc", "retrieval_topk", "train", "test"} with the two splits'
    `Features` for pictures.
    """
    feats = {}
    for part in ("train", "test"):
        data = VideoDataset(
            getattr(videos, part), encoder.element, view, train=False,
            clips_per_video=setup.clips_per_video, seed=run.seed,
        )  # fmt: skip
        feats[part] = encode_videos(
            encoder, data, retrieval_pool=setup.retrieval_pool, device=run.device,
            num_workers=run.num_workers, progress=run.progress,
        )  # fmt: skip
    train, test = feats["train"], feats["test"]
    probe = linear_probe(train.pooled, train.labels, test.pooled, test.labels, seed=run.seed)
    topk = retrieval_topk(test.retrieval, test.labels, train.retrieval, train.labels, ks)
    return {"linear_probe_acc": probe["test_acc"], "retrieval_topk": topk, **feats}


# --------------------------------------------------------------------------- fine-tuning


class Classifier(nn.Module):
    """An encoder, dropout and a new linear layer (with `hidden`: a new two-layer MLP).

    The hidden layer lets a frame encoder, whose ordered frame features are concatenated, combine
    frames non-linearly (a temporal read-out); a linear layer only adds up one term per frame.
    Input: one element per video (B, T, C, H, W) -> logits (B, classes); or K elements per video
    (B, K, T, C, H, W) -> the video-level logits, averaged over the K clips.
    """

    def __init__(
        self,
        encoder: ElementEncoder,
        num_classes: int,
        dropout: float = 0.0,
        hidden: int | None = None,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        if hidden is None:
            self.fc = nn.Linear(encoder.feature_dim, num_classes)
        else:
            self.fc = nn.Sequential(
                nn.Linear(encoder.feature_dim, hidden),
                nn.ReLU(inplace=True),
                nn.Dropout(dropout),
                nn.Linear(hidden, num_classes),
            )

    def clip_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of every clip: (B, K, T, C, H, W) -> (B, K, classes)."""
        b, k = x.shape[:2]
        return self.fc(self.dropout(self.encoder(x.flatten(0, 1)))).reshape(b, k, -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, classes): clip-level for 5D input, video-level (clips averaged) for 6D."""
        if x.ndim == 6:
            return self.clip_logits(x).mean(1)
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
    model: Classifier,
    dataset: VideoDataset,
    *,
    device: str | torch.device = "auto",
    batch_size: int = 4,
    num_workers: int | None = None,
    amp: bool | None = None,
    progress: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits of every clip of every test video: (N_videos, K, classes) and labels (N_videos,)."""
    if dataset.train:
        raise ValueError("predict_videos needs an eval-mode VideoDataset (train=False)")
    device = resolve_device(device)
    was_training = model.training
    model.eval().to(device)
    logits, labels = [], []
    loader = make_loader(dataset, batch_size, train=False, device=device, num_workers=num_workers)
    try:
        for clips, label in _progress(loader, progress, "test"):
            with _autocast(device, amp):
                logits.append(model.clip_logits(clips.to(device, non_blocking=True)).float().cpu())
            labels.append(torch.as_tensor(label))
    finally:
        model.train(was_training)
    return torch.cat(logits), torch.cat(labels).long()


def finetune(
    encoder: ElementEncoder, videos, view: View, setup: Downstream, run: Run,
    fraction: float = 1.0, desc: str = "finetune",
) -> dict:  # fmt: skip
    """Fine-tune a copy of `encoder` with a new linear layer on `fraction` of the labels of
    `videos.fit` (per class, by the run's seed); choose the epoch on `videos.val`; score
    `videos.test`.

    Trains for at most `setup.epochs` on one random element per training video per epoch,
    validates after every epoch on `videos.val` (video-level accuracy over
    `setup.clips_per_video` clips; held-out training groups, never the test videos), keeps the
    best epoch's weights and scores the test videos with them (with no validation videos, it
    trains all `setup.epochs` and keeps the last). A fraction of the labels is repeated (each
    copy of a video draws its own clip) until an epoch holds as many samples as `videos.fit`,
    so that an epoch costs the same whatever the number of labels. The run lives in a folder
    named by its settings and a fingerprint of the encoder's weights: running it again loads
    it. Returns {"history", "best_epoch", "clip_acc", "video_acc", "model"}; `encoder` is
    untouched.
    """
    labelled = subset_by_fraction(videos.fit, fraction, run.seed)
    repeats = max(1, -(-len(videos.fit) // max(1, len(labelled))))
    eval_batch = max(1, setup.batch_size // 2)

    def dataset(records: Sequence, train: bool) -> VideoDataset:
        k = 1 if train else setup.clips_per_video
        return VideoDataset(
            records, encoder.element, view, train=train, clips_per_video=k, seed=run.seed
        )

    train, test = dataset(labelled * repeats, True), dataset(videos.test, False)
    val_loader = None
    if len(videos.val):  # validated after every epoch
        val_loader = make_loader(
            dataset(videos.val, False), eval_batch, train=False, device=run.device,
            num_workers=run.num_workers, persistent=True,
        )  # fmt: skip
    seed_everything(run.seed)
    model = Classifier(copy.deepcopy(encoder), videos.num_classes, setup.dropout, setup.hidden)
    loader = make_loader(
        train, setup.batch_size, train=True, device=run.device, num_workers=run.num_workers,
        seed=run.seed,
    )  # fmt: skip
    groups = [  # the new layer first: History's "lr" is the first group's
        {"params": list(model.fc.parameters()), "lr": setup.optim.lr},
        {"params": list(model.encoder.parameters()), "lr": setup.optim.lr * setup.encoder_lr_scale},
    ]
    settings = _finetune_settings(encoder, view, setup, labelled, repeats, videos, run.seed)
    trainer = make_trainer(
        groups, setup.optim, setup.epochs, loader, run, folder=run_dir("finetune", settings),
        run_config=settings, monitor=setup.monitor, desc=desc,
    )  # fmt: skip
    history = fit(model, loader, val_loader, setup.epochs, trainer)
    logits, labels = predict_videos(
        model, test, device=run.device, batch_size=eval_batch, num_workers=run.num_workers,
        progress=run.progress,
    )  # fmt: skip
    accuracy = clip_and_video_accuracy(logits, labels)
    return {"history": history, "best_epoch": history.best_epoch, **accuracy, "model": model}


def _finetune_settings(encoder, view, setup, labelled, repeats, videos, seed) -> dict:
    """What names a fine-tuning run's folder: a change to any of it is another run."""
    return {
        "encoder": type(encoder.net).__name__,
        "encoder_fingerprint": weights_fingerprint(encoder),
        "element": dataclasses.asdict(encoder.element),
        "grid": encoder.grid,
        "view": dataclasses.asdict(view),
        "setup": dataclasses.asdict(setup),
        "train_videos": videos_digest(labelled),
        "repeats": repeats,
        "val_videos": videos_digest(videos.val),
        "num_classes": videos.num_classes,
        "seed": seed,
        "max_steps_per_epoch": None,  # no longer a parameter; kept so run folders keep their names
    }


def finetune_fractions(
    encoder: ElementEncoder, videos: Videos, view: View, setup: Downstream,
    fractions: Sequence[float], run: Run, name: str = "",
) -> dict[float, dict]:  # fmt: skip
    """`finetune` on each fraction of the labels of `videos.fit`: {fraction: its result}.

    Validation uses `videos.val` (held-out training groups), the same for every fraction; the test
    videos are `videos.test`. Every fraction trains the same number of steps per epoch (a subset
    is repeated to the size of the whole labelled set: see `finetune`), so the epochs of the runs
    cost the same and their curves share one axis.
    """
    return {
        fraction: finetune(
            encoder,
            videos,
            view,
            setup,
            run,
            fraction,
            desc=" ".join(filter(None, ["finetune", name, f"{fraction:.0%}"])),
        )  # fmt: skip
        for fraction in fractions
    }


def compare_starts(
    encoders: dict[str, ElementEncoder], videos: Videos, view: View, setup: Downstream,
    fractions: Sequence[float], run: Run,
) -> tuple[dict[str, dict], dict[str, dict]]:  # fmt: skip
    """The chapters' comparison: `frozen_eval` and `finetune_fractions` for each starting point.

    `encoders` maps a name ("pretrained", "random_init") to an encoder; every one is evaluated
    on the same videos with the same budget. Returns ({name: frozen_eval result},
    {name: {fraction: finetune result}}).
    """
    frozen, tuned = {}, {}
    for name, encoder in encoders.items():
        frozen[name] = frozen_eval(encoder, videos, view, setup, run)
        tuned[name] = finetune_fractions(encoder, videos, view, setup, fractions, run, name=name)
    return frozen, tuned


def label_fractions(label_fraction: float) -> tuple[float, ...]:
    """All labels and `label_fraction` of them, largest first (checked to lie in (0, 1])."""
    if (
        isinstance(label_fraction, bool)
        or not isinstance(label_fraction, (int, float))
        or not (0 < label_fraction <= 1)
    ):
        raise ValueError(
            f"label_fraction={label_fraction!r} must be in (0, 1], e.g. 0.1 for 10% of the labels"
        )
    return tuple(sorted({1.0, float(label_fraction)}, reverse=True))
