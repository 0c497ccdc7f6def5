"""Tests for ssvlib.train: the loop learns, checkpoints, resumes bit-identically, keeps the best."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ssvlib.config import seed_everything
from ssvlib.train import (
    TIMING_KEYS,
    EpochSampler,
    History,
    evaluate_loss,
    fit,
    loader_kwargs,
    make_optimizer,
    make_scheduler,
)

DIM = 4


class Blobs(Dataset):
    """Two separable Gaussian blobs; each sample gets noise drawn from (seed, epoch, index).

    flip_after: from that epoch on the labels are swapped (to make validation loss rise).
    nan_at: index of a sample whose input is NaN.
    """

    def __init__(self, n=64, seed=0, flip_after=None, nan_at=None):
        rng = np.random.default_rng(seed)
        self.labels = np.arange(n) % 2
        centres = np.where(self.labels[:, None] == 1, 1.5, -1.5)
        self.points = (centres + rng.normal(size=(n, DIM))).astype(np.float32)
        self.seed, self.epoch, self.flip_after, self.nan_at = seed, 0, flip_after, nan_at

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        noise = np.random.default_rng((self.seed, self.epoch, index)).normal(0, 0.1, DIM)
        x = torch.from_numpy(self.points[index] + noise.astype(np.float32))
        if index == self.nan_at:
            x[0] = float("nan")
        label = int(self.labels[index])
        if self.flip_after is not None and self.epoch >= self.flip_after:
            label = 1 - label
        return x, label, index  # the index is an extra entry fit must ignore


def tiny_model():
    """Linear classifier with dropout, so resuming must also restore torch's RNG."""
    return nn.Sequential(nn.Dropout(0.2), nn.Linear(DIM, 2))


def make_run(seed=0, lr=0.1, epochs=3, num_workers=0, shuffle="sampler", train=None):
    """A fresh model, loaders, optimiser and cosine scheduler, built after seeding."""
    seed_everything(seed)
    model = tiny_model()
    train = train if train is not None else Blobs(64, seed=1)
    kwargs = loader_kwargs("cpu", num_workers, seed=seed)
    if shuffle == "sampler":
        loader = DataLoader(train, batch_size=8, sampler=EpochSampler(len(train), seed), **kwargs)
    else:  # plain shuffle=True, reproducible through the generator loader_kwargs adds
        loader = DataLoader(train, batch_size=8, shuffle=True, **kwargs)
    val = DataLoader(Blobs(32, seed=2), batch_size=16)
    optimizer = make_optimizer(model.parameters(), "sgd", lr=lr)
    scheduler = make_scheduler(optimizer, "cosine", total_steps=epochs * len(loader))
    return model, loader, val, optimizer, scheduler


def run(tmp, epochs, total_epochs=3, **kwargs):
    """fit() on a fresh make_run(); returns (model, history)."""
    extra = {k: kwargs.pop(k) for k in ("run_config", "resume", "select_best") if k in kwargs}
    model, loader, val, opt, sched = make_run(epochs=total_epochs, **kwargs)
    history = fit(
        model,
        loader,
        epochs=epochs,
        optimizer=opt,
        scheduler=sched,
        val_loader=val,
        device="cpu",
        checkpoint_dir=tmp,
        progress=False,
        **extra,
    )
    return model, history


def without_timing(history):
    return [{k: v for k, v in e.items() if k not in TIMING_KEYS} for e in history.epochs]


def same_weights(a, b):
    return all(
        torch.equal(x, y)
        for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )


def test_tiny_model_learns_and_history_has_every_field():
    model, loader, val, opt, sched = make_run(lr=0.05, epochs=4)
    history = fit(
        model,
        loader,
        epochs=4,
        optimizer=opt,
        scheduler=sched,
        val_loader=val,
        device="cpu",
        progress=False,
    )
    assert [e["epoch"] for e in history.epochs] == [1, 2, 3, 4]
    for e in history.epochs:
        assert set(e) == {
            "epoch",
            "train_loss",
            "train_acc",
            "val_loss",
            "val_acc",
            "lr",
            "samples_per_s",
            "seconds",
        }
        assert 0.0 <= e["train_acc"] <= 1.0 and 0.0 <= e["val_acc"] <= 1.0
        assert e["samples_per_s"] > 0 and e["seconds"] > 0
    assert history.series("train_loss")[-1] < history.series("train_loss")[0]
    assert history.epochs[-1]["val_acc"] >= 0.9
    lrs = history.series("lr")
    assert bool(np.all(np.diff(lrs) < 0)) and lrs[0] < 0.05  # cosine, per step
    assert history.best_epoch is not None
    assert history.best_val_loss == min(history.series("val_loss"))
    # History survives JSON
    restored = History.from_dict(json.loads(json.dumps(history.to_dict())))
    assert restored == history


def test_evaluate_loss_matches_cross_entropy_and_restores_mode():
    x = torch.randn(10, DIM)
    y = torch.tensor([0, 1] * 5)
    model = nn.Linear(DIM, 2)
    model.train()
    loss, acc = evaluate_loss(model, [(x[:6], y[:6]), (x[6:], y[6:])], "cpu")
    with torch.no_grad():
        logits = model(x)
    assert loss == pytest.approx(nn.functional.cross_entropy(logits, y).item(), rel=1e-5)
    assert acc == pytest.approx((logits.argmax(1) == y).float().mean().item())
    assert model.training


@pytest.mark.parametrize("shuffle", ["sampler", "generator"])
def test_resume_after_interrupt_is_bit_identical(tmp_path, shuffle):
    straight_model, straight = run(tmp_path / "straight", 3, shuffle=shuffle)
    run(tmp_path / "interrupted", 1, shuffle=shuffle)  # "crashes" after one epoch
    torch.manual_seed(12345)  # a new process starts from other random states
    np.random.seed(54321)
    resumed_model, resumed = run(tmp_path / "interrupted", 3, shuffle=shuffle)
    assert without_timing(resumed) == without_timing(straight)
    assert same_weights(resumed_model, straight_model)
    assert resumed.best_epoch == straight.best_epoch


def test_finished_run_loads_without_training(tmp_path):
    model, history = run(tmp_path, 2, total_epochs=2)

    class Exploding:
        def __iter__(self):
            raise AssertionError("a finished run must not iterate the loader")

    seed_everything(7)
    fresh = tiny_model()
    again = fit(
        fresh,
        Exploding(),
        epochs=2,
        optimizer=make_optimizer(fresh.parameters()),
        device="cpu",
        checkpoint_dir=tmp_path,
        progress=False,
    )
    assert again == history
    assert same_weights(fresh, model)


def test_checkpoint_of_another_config_is_refused_unless_resume_false(tmp_path):
    run(tmp_path, 1, run_config={"lr": 0.1, "task": "vcop"})
    with pytest.raises(ValueError, match=r"lr: saved 0.1, now 0.2") as err:
        run(tmp_path, 1, run_config={"lr": 0.2, "task": "vcop"})
    assert str(tmp_path) in str(err.value) and "resume=False" in str(err.value)
    _, history = run(tmp_path, 1, run_config={"lr": 0.2, "task": "vcop"}, resume=False)
    assert len(history.epochs) == 1
    _, again = run(tmp_path, 1, run_config={"lr": 0.2, "task": "vcop"})  # now it is that run
    assert without_timing(again) == without_timing(history)


def test_checkpoint_with_more_epochs_than_asked_is_refused(tmp_path):
    run(tmp_path, 2)
    with pytest.raises(ValueError, match="2 epochs"):
        run(tmp_path, 1)


def test_nan_loss_names_epoch_and_step():
    model, _, _, opt, _ = make_run()
    loader = DataLoader(Blobs(32, nan_at=19), batch_size=8)  # sample 19 sits in step 3
    with pytest.raises(FloatingPointError, match=r"epoch 1, step 3.*[Ll]ower the learning rate"):
        fit(model, loader, epochs=1, optimizer=opt, device="cpu", progress=False)


@pytest.mark.parametrize("use_dir", [True, False])
def test_select_best_restores_weights_of_lowest_val_loss(tmp_path, use_dir):
    """Labels flip after epoch 1, so validation loss is lowest after epoch 1 and then rises."""
    ckpt = tmp_path if use_dir else None

    def train(epochs, select_best=True):
        seed_everything(0)
        model = tiny_model()
        loader = DataLoader(
            Blobs(64, seed=1, flip_after=1), batch_size=8, sampler=EpochSampler(64, 0)
        )
        history = fit(
            model,
            loader,
            epochs=epochs,
            optimizer=make_optimizer(model.parameters(), lr=0.2),
            val_loader=DataLoader(Blobs(32, seed=2), batch_size=16),
            device="cpu",
            progress=False,
            select_best=select_best,
            checkpoint_dir=ckpt,
            resume=False,
        )
        return model, history

    after_one, _ = train(1)
    best_model, history = train(3)
    val_losses = history.series("val_loss")
    assert val_losses[2] > val_losses[0]  # the constructed case really got worse
    assert history.best_epoch == 1 and history.best_val_loss == val_losses[0]
    assert same_weights(best_model, after_one)
    last_model, history = train(3, select_best=False)
    assert history.best_epoch == 1 and not same_weights(last_model, after_one)


def test_max_steps_per_epoch_and_extra_batch_entries():
    model, loader, _, opt, sched = make_run(epochs=2)
    history = fit(
        model,
        loader,
        epochs=2,
        optimizer=opt,
        scheduler=sched,
        device="cpu",
        progress=False,
        max_steps_per_epoch=3,
    )
    assert sched.last_epoch == 6  # one scheduler step per optimisation step
    assert history.epochs[0]["val_loss"] is None and history.best_epoch is None


def test_reproducible_with_a_worker_process(tmp_path):
    a, ha = run(None, 2, num_workers=1)
    b, hb = run(None, 2, num_workers=1)
    c, hc = run(None, 2, num_workers=0)
    assert same_weights(a, b) and without_timing(ha) == without_timing(hb)
    assert same_weights(a, c) and without_timing(ha) == without_timing(hc)  # workers change nothing


def test_persistent_workers_with_epoch_dependent_dataset_warn():
    model, _, _, opt, _ = make_run()
    data = Blobs(16)
    loader = DataLoader(data, batch_size=8, **loader_kwargs("cpu", 1, persistent_workers=True))
    with pytest.warns(UserWarning, match="persistent_workers"):
        fit(model, loader, epochs=1, optimizer=opt, device="cpu", progress=False)


def test_loader_kwargs_for_cpu():
    kwargs = loader_kwargs("cpu", 0, seed=3)
    assert kwargs["num_workers"] == 0 and kwargs["pin_memory"] is False
    assert "persistent_workers" not in kwargs  # DataLoader rejects it without workers
    assert isinstance(kwargs["generator"], torch.Generator) and callable(kwargs["worker_init_fn"])
    assert loader_kwargs("cpu", 2)["persistent_workers"] is False
    assert loader_kwargs("cpu")["num_workers"] >= 0
    with pytest.raises(ValueError, match="num_workers"):
        loader_kwargs("cpu", -1)


def test_epoch_sampler_order_depends_only_on_seed_and_epoch():
    sampler = EpochSampler(20, seed=5)
    first = list(sampler)
    assert sorted(first) == list(range(20)) and len(sampler) == 20
    sampler.set_epoch(1)
    second = list(sampler)
    assert second != first
    other = EpochSampler(20, seed=5)
    other.set_epoch(1)
    assert list(other) == second
    assert list(EpochSampler(5, seed=0, shuffle=False)) == [0, 1, 2, 3, 4]


def test_optimizer_names():
    params = [nn.Parameter(torch.zeros(2))]
    assert isinstance(make_optimizer(params, "sgd", lr=0.1), torch.optim.SGD)
    assert isinstance(make_optimizer(params, "adamw", lr=0.1), torch.optim.AdamW)
    with pytest.raises(ValueError, match="'sgd', 'adamw'"):
        make_optimizer(params, "adam", lr=0.1)
    with pytest.raises(ValueError, match="lr"):
        make_optimizer(params, "sgd", lr=0)


def lr_trace(name, steps, **kwargs):
    opt = make_optimizer([nn.Parameter(torch.zeros(1))], "sgd", lr=1.0)
    sched = make_scheduler(opt, name, total_steps=steps, **kwargs)
    trace = []
    for _ in range(steps):
        trace.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return trace


def test_scheduler_shapes():
    cosine = lr_trace("cosine", 10)
    assert cosine[0] == 1.0 and bool(np.all(np.diff(cosine) < 0)) and cosine[-1] < 0.05
    warm = lr_trace("cosine", 10, warmup_steps=4)
    assert warm[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    step = lr_trace("step", 6, milestones=(2, 4), gamma=0.1)
    assert step == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])
    assert lr_trace("none", 3) == [1.0, 1.0, 1.0]
    assert not math.isnan(lr_trace("cosine", 1)[0])


def test_scheduler_errors():
    opt = make_optimizer([nn.Parameter(torch.zeros(1))], "sgd", lr=1.0)
    with pytest.raises(ValueError, match="'cosine', 'step', 'none'"):
        make_scheduler(opt, "linear", total_steps=10)
    with pytest.raises(ValueError, match="total_steps"):
        make_scheduler(opt, "cosine")


class EpochStamp(Dataset):
    """Inputs carry the epoch the dataset (in whichever process) believed it was in."""

    def __init__(self, n=8):
        self.n, self.epoch = n, 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        return torch.tensor([float(self.epoch), 1.0]), index % 2


class Recorder(nn.Linear):
    def __init__(self):
        super().__init__(2, 2)
        self.seen = []

    def forward(self, x):
        self.seen.extend(x[:, 0].tolist())
        return super().forward(x)


@pytest.mark.parametrize("num_workers", [0, 1])
def test_fit_calls_set_epoch_and_workers_see_it(num_workers):
    model = Recorder()
    data = EpochStamp()
    sampler = EpochSampler(len(data), seed=0)
    loader = DataLoader(data, batch_size=4, sampler=sampler, **loader_kwargs("cpu", num_workers))
    fit(
        model,
        loader,
        epochs=3,
        optimizer=make_optimizer(model.parameters()),
        device="cpu",
        progress=False,
    )
    assert model.seen == [0.0] * 8 + [1.0] * 8 + [2.0] * 8  # 0-based epoch, in every worker
    assert sampler.epoch == 2


def test_amp_true_runs_bf16_autocast_and_still_learns():
    """amp=None is off on the CPU; amp=True forces bf16 autocast (the CUDA default) here too."""
    model, loader, val, opt, sched = make_run(lr=0.05, epochs=3)
    dtypes = set()
    model[1].register_forward_hook(lambda module, args, out: dtypes.add(out.dtype))
    history = fit(
        model,
        loader,
        epochs=3,
        optimizer=opt,
        scheduler=sched,
        val_loader=val,
        device="cpu",
        amp=True,
        progress=False,
    )
    assert history.epochs[-1]["val_acc"] >= 0.9
    assert dtypes == {torch.bfloat16}
    assert next(model.parameters()).dtype == torch.float32  # weights stay in full precision
