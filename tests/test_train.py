"""Tests for ssvlib.train: the loop learns, checkpoints, resumes bit-identically, keeps the best;
the optimiser and schedule as one `Optim` value; the loader every chapter uses."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from ssvlib.config import seed_everything
from ssvlib.data.loader import EpochSampler, default_num_workers, make_loader
from ssvlib.settings import Optim
from ssvlib.train import (
    History,
    Trainer,
    evaluate_loss,
    fit,
    lr_factor,
    make_optimizer,
    make_scheduler,
)

DIM = 4


def fit_with(model, loader, *, epochs, val_loader=None, **options):
    """`fit` with the `Trainer`'s fields as keywords (checkpoint_dir: its folder)."""
    options["folder"] = options.pop("checkpoint_dir", None)
    if "max_steps_per_epoch" in options:
        options["max_steps"] = options.pop("max_steps_per_epoch")
    return fit(model, loader, val_loader, epochs, Trainer(**options))


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


TIMING_KEYS = ("samples_per_s", "seconds")  # history entries that differ between identical runs


def tiny_model():
    """Linear classifier with dropout, so resuming must also restore torch's RNG."""
    return nn.Sequential(nn.Dropout(0.2), nn.Linear(DIM, 2))


def make_run(seed=0, lr=0.1, epochs=3, num_workers=0, train=None):
    """A fresh model, loaders, optimiser and cosine scheduler, built after seeding."""
    seed_everything(seed)
    model = tiny_model()
    train = train if train is not None else Blobs(64, seed=1)
    loader = make_loader(train, 8, train=True, device="cpu", num_workers=num_workers, seed=seed)
    val = make_loader(Blobs(32, seed=2), 16, train=False, device="cpu")
    optim = Optim("sgd", lr=lr, schedule="cosine")
    optimizer = make_optimizer(model.parameters(), optim)
    scheduler = make_scheduler(optimizer, optim, epochs, steps_per_epoch=len(loader))
    return model, loader, val, optimizer, scheduler


def run(tmp, epochs, total_epochs=3, **kwargs):
    """fit_with() on a fresh make_run(); returns (model, history)."""
    extra = {k: kwargs.pop(k) for k in ("run_config", "resume", "select_best") if k in kwargs}
    model, loader, val, opt, sched = make_run(epochs=total_epochs, **kwargs)
    history = fit_with(
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


def plain_optimizer(model, lr=0.1):
    return make_optimizer(model.parameters(), Optim("sgd", lr=lr))


# --------------------------------------------------------------------------- the loop


def test_tiny_model_learns_and_history_has_every_field():
    model, loader, val, opt, sched = make_run(lr=0.05, epochs=4)
    history = fit_with(
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
            "skipped",
        }
        assert 0.0 <= e["train_acc"] <= 1.0 and 0.0 <= e["val_acc"] <= 1.0
        assert e["samples_per_s"] > 0 and e["seconds"] > 0
    assert history.series("train_loss")[-1] < history.series("train_loss")[0]
    assert history.epochs[-1]["val_acc"] >= 0.9
    lrs = history.series("lr")
    assert bool(np.all(np.diff(lrs) < 0)) and lrs[0] < 0.05  # cosine, per step
    assert history.best_epoch is not None and history.monitor == "val_loss"
    assert history.best_val_loss == min(history.series("val_loss"))
    assert history.best == history.epochs[history.best_epoch - 1]
    restored = History.from_dict(json.loads(json.dumps(history.to_dict())))  # survives JSON
    assert restored == history


def test_history_table_has_a_line_per_epoch_and_marks_the_best():
    _, history = run(None, 3)
    lines = history.table().splitlines()
    assert len(lines) == 4 and lines[0].split()[:3] == ["epoch", "train", "loss"]
    marked = [line for line in lines[1:] if line.endswith(" *")]
    assert len(marked) == 1 and marked[0].split()[0] == str(history.best_epoch)
    no_val = History(epochs=[dict(e, val_loss=None, val_acc=None) for e in history.epochs])
    assert no_val.best == no_val.epochs[-1]  # nothing validated: the last epoch
    assert " - " in no_val.table().splitlines()[1]


def test_fit_prints_one_summary_line_per_run(tmp_path, capsys):
    outputs = []
    for _ in range(2):  # the second call finds the finished run
        model, loader, val, opt, sched = make_run(epochs=3)
        history = fit_with(model, loader, epochs=3, optimizer=opt, scheduler=sched, val_loader=val,
                      device="cpu", checkpoint_dir=tmp_path, desc="blobs")  # fmt: skip
        outputs.append(capsys.readouterr().out.strip().splitlines())
    first, second = outputs
    assert len(first) == 1  # no per-epoch lines
    assert first[0].startswith("blobs: trained 3 epochs")
    assert f"at epoch {history.best_epoch} (best by val_loss)" in first[0]
    assert len(second) == 1 and f"loaded the finished run from {tmp_path}" in second[0]


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


def test_resume_after_interrupt_is_bit_identical(tmp_path):
    straight_model, straight = run(tmp_path / "straight", 3)
    run(tmp_path / "interrupted", 1)  # "crashes" after one epoch
    torch.manual_seed(12345)  # a new process starts from other random states
    np.random.seed(54321)
    resumed_model, resumed = run(tmp_path / "interrupted", 3)
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
    again = fit_with(
        fresh,
        Exploding(),
        epochs=2,
        optimizer=plain_optimizer(fresh),
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
    loader = make_loader(Blobs(32, nan_at=19), 8, train=False, device="cpu")  # step 3 holds 19
    with pytest.raises(FloatingPointError, match=r"epoch 1, step 3.*[Ll]ower the learning rate"):
        fit_with(model, loader, epochs=1, optimizer=opt, device="cpu", progress=False)


@pytest.mark.parametrize("use_dir", [True, False])
def test_select_best_restores_weights_of_lowest_val_loss(tmp_path, use_dir):
    """Labels flip after epoch 1, so validation loss is lowest after epoch 1 and then rises."""
    ckpt = tmp_path if use_dir else None

    def train(epochs, select_best=True):
        seed_everything(0)
        model = tiny_model()
        history = fit_with(
            model,
            make_loader(Blobs(64, seed=1, flip_after=1), 8, train=True, device="cpu"),
            epochs=epochs,
            optimizer=plain_optimizer(model, lr=0.2),
            val_loader=make_loader(Blobs(32, seed=2), 16, train=False, device="cpu"),
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


class Scripted(nn.Module):
    """Trains as a linear layer; on validation returns scripted logits, one set per epoch, and
    records the weights it had then."""

    SCRIPT = [  # four validation samples of class 0, per epoch: (accuracy, loss)
        [[0.1, 0.0]] * 4,  # 1.00, 0.64: best accuracy
        [[5.0, 0.0]] * 3 + [[0.0, 0.5]],  # 0.75, 0.25: best loss
        [[0.05, 0.0]] * 4,  # 1.00 (no better than epoch 1), 0.67
    ]

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(DIM, 2)
        self.weights_at_val = []

    def forward(self, x):
        if self.training:
            return self.linear(x)
        self.weights_at_val.append({k: v.clone() for k, v in self.state_dict().items()})
        return torch.tensor(self.SCRIPT[len(self.weights_at_val) - 1])


@pytest.mark.parametrize("use_dir", [True, False])
@pytest.mark.parametrize("monitor, best", [("val_loss", 2), ("val_acc", 1)])
def test_monitor_chooses_the_best_epoch_and_its_weights(tmp_path, monitor, best, use_dir):
    seed_everything(0)
    model = Scripted()
    val = [(torch.zeros(4, DIM), torch.zeros(4, dtype=torch.long))]
    history = fit_with(
        model,
        make_loader(Blobs(16), 8, train=True, device="cpu"),
        epochs=3,
        optimizer=plain_optimizer(model),
        val_loader=val,
        device="cpu",
        monitor=monitor,
        progress=False,
        checkpoint_dir=tmp_path if use_dir else None,
    )
    assert history.series("val_acc") == [1.0, 0.75, 1.0]
    assert history.best_epoch == best and history.monitor == monitor
    assert history.best["epoch"] == best
    chosen = model.weights_at_val[best - 1]
    assert all(torch.equal(v, chosen[k]) for k, v in model.state_dict().items())


def test_unknown_monitor_lists_the_valid_ones():
    model = tiny_model()
    with pytest.raises(ValueError, match="'val_loss', 'val_acc'"):
        fit_with(
            model,
            [],
            epochs=1,
            optimizer=plain_optimizer(model),
            monitor="accuracy",
            device="cpu",
            progress=False,
        )


def test_max_steps_per_epoch_and_extra_batch_entries():
    model, loader, _, opt, sched = make_run(epochs=2)
    history = fit_with(
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


def test_reproducible_with_a_worker_process():
    a, ha = run(None, 2, num_workers=1)
    b, hb = run(None, 2, num_workers=1)
    c, hc = run(None, 2, num_workers=0)
    assert same_weights(a, b) and without_timing(ha) == without_timing(hb)
    assert same_weights(a, c) and without_timing(ha) == without_timing(hc)  # workers change nothing


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
    loader = make_loader(EpochStamp(), 4, train=True, device="cpu", num_workers=num_workers)
    fit_with(
        model, loader, epochs=3, optimizer=plain_optimizer(model), device="cpu", progress=False
    )
    assert model.seen == [0.0] * 8 + [1.0] * 8 + [2.0] * 8  # 0-based epoch, in every worker
    assert loader.sampler.epoch == 2


def test_amp_true_runs_bf16_autocast_and_still_learns():
    """amp=None is off on the CPU; amp=True forces bf16 autocast (the CUDA default) here too."""
    model, loader, val, opt, sched = make_run(lr=0.05, epochs=3)
    dtypes = set()
    model[1].register_forward_hook(lambda module, args, out: dtypes.add(out.dtype))
    history = fit_with(
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


# --------------------------------------------------------------------------- loader


def test_make_loader_shuffles_by_seed_and_epoch_to_train_and_keeps_order_otherwise():
    data = EpochStamp(10)
    train = make_loader(data, 4, train=True, device="cpu", seed=3)
    assert train.num_workers == default_num_workers(torch.device("cpu")) == 0
    assert len(train) == 2  # the last incomplete batch is dropped
    keys = list(train.sampler)  # (epoch, index): the sample's epoch travels with its index
    order = [index for _, index in keys]
    assert {epoch for epoch, _ in keys} == {0}
    assert sorted(order) != order and sorted(order) == list(range(10))
    again = make_loader(data, 4, train=True, device="cpu", seed=3)
    assert list(again.sampler) == keys
    train.sampler.set_epoch(1)
    assert [index for _, index in train.sampler] != order
    evaluation = make_loader(data, 4, train=False, device="cpu")
    assert [index for _, index in evaluation.sampler] == list(range(10))
    assert len(evaluation) == 3  # every sample
    small = make_loader(EpochStamp(3), 4, train=True, device="cpu")
    assert len(small) == 1  # smaller than a batch: kept, not dropped
    with pytest.raises(ValueError, match="num_workers"):
        make_loader(data, 4, train=True, device="cpu", num_workers=-1)


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


# --------------------------------------------------------------------------- Optim


def test_optim_builds_the_optimiser_it_names():
    params = [nn.Parameter(torch.zeros(2))]
    sgd = make_optimizer(params, Optim("sgd", lr=0.1, momentum=0.8, weight_decay=1e-3))
    assert isinstance(sgd, torch.optim.SGD)
    group = sgd.param_groups[0]
    assert (group["lr"], group["momentum"], group["weight_decay"]) == (0.1, 0.8, 1e-3)
    adamw = make_optimizer(params, Optim("adamw", lr=0.01, weight_decay=0.05))
    assert isinstance(adamw, torch.optim.AdamW) and adamw.param_groups[0]["weight_decay"] == 0.05
    groups = make_optimizer([{"params": params, "lr": 0.5}], Optim("sgd", lr=0.1))
    assert groups.param_groups[0]["lr"] == 0.5  # parameter groups keep their own rate


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"name": "adam"}, "optimizer='adam'.*'sgd', 'adamw'"),
        ({"schedule": "linear"}, "schedule='linear'.*'cosine', 'step', 'none'"),
        ({"lr": 0}, "lr=0"),
        ({"lr": -1e-3}, "lr="),
        ({"warmup_epochs": -1}, "warmup_epochs"),
    ],
)
def test_optim_rejects_bad_names_and_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Optim(**kwargs)


def lr_trace(optim, epochs, steps_per_epoch=1):
    opt = make_optimizer([nn.Parameter(torch.zeros(1))], optim)
    sched = make_scheduler(opt, optim, epochs, steps_per_epoch)
    trace = []
    for _ in range(epochs * steps_per_epoch):
        trace.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return trace


def test_schedule_shapes():
    cosine = lr_trace(Optim(lr=1.0, schedule="cosine"), 10)
    assert cosine[0] == 1.0 and bool(np.all(np.diff(cosine) < 0)) and cosine[-1] < 0.05
    warm = lr_trace(Optim(lr=1.0, schedule="cosine", warmup_epochs=2), 5, steps_per_epoch=2)
    assert warm[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])  # warm-up counted in steps
    assert bool(np.all(np.diff(warm[3:]) <= 0)) and warm[-1] < 0.25  # then the cosine decay
    step = lr_trace(Optim(lr=1.0, schedule="step", milestones=(1, 2), gamma=0.1), 3, 2)
    assert step == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])  # milestones in epochs
    assert lr_trace(Optim(lr=1.0, schedule="none"), 3) == [1.0, 1.0, 1.0]
    assert not math.isnan(lr_trace(Optim(lr=1.0, schedule="cosine"), 1)[0])
    assert lr_factor(Optim(schedule="cosine"), 5, epochs=1, steps_per_epoch=10) == pytest.approx(
        0.5
    )  # half way: half the rate


def test_scheduler_needs_epochs_and_steps():
    optim = Optim(lr=1.0)
    opt = make_optimizer([nn.Parameter(torch.zeros(1))], optim)
    with pytest.raises(ValueError, match="epochs >= 1 and steps_per_epoch >= 1"):
        make_scheduler(opt, optim, 0, 10)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        make_scheduler(opt, optim, 3, 0)
