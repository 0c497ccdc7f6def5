"""Ablations: what each of a paper's choices is worth, measured the same way for every variant.

A chapter names its variants as recipes (``shuffle_learn.ablations(recipe)`` gives
``{"name": Recipe}``); `run_ablation` pretrains the encoder of each on each seed with the shared
`pretrain`, then scores it with the shared `frozen_eval`: the pretext's validation accuracy (on
the variant's own validation samples) and the linear probe and retrieval top-1 of its frozen
features. One more row, "random init", probes the untrained encoder of each seed: the line a
variant must clear. Every run is cached like any pretext run, so a table is rebuilt in seconds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from torch import nn

from .config import seed_everything
from .data.videos import Videos
from .evaluate import frozen_eval
from .pretrain import pretrain
from .recipe import Recipe
from .train import Run

RANDOM_INIT = "random init"


def parse_seeds(value) -> tuple[int, ...]:
    """Seeds from a notebook parameter: a list or tuple of ints, one int, or "0,1,2" / "[0, 1, 2]".

    papermill's ``-p`` passes lists as strings; anything else is refused with an example.
    """
    if isinstance(value, str):
        text = value.strip().strip("[]()").replace(",", " ").split()
        value = [int(t) if t.lstrip("-").isdigit() else t for t in text]
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0 for v in value
    ):
        raise ValueError(
            f"seeds={value!r}: give non-negative integer seeds, e.g. (0, 1, 2) or, with "
            'papermill, -p ablation_seeds "0,1,2"'
        )
    return tuple(int(v) for v in value)


@dataclass(frozen=True)
class AblationRow:
    """One variant on one seed."""

    variant: str
    seed: int
    pretext_val_acc: float | None  # None for the random-init row
    chance: float | None
    linear_probe_acc: float
    retrieval_top1: float


def run_ablation(
    build_model: Callable[[nn.Module, Recipe], nn.Module], variants: dict[str, Recipe],
    videos: Videos, backbone: str, seeds: Iterable[int], run: Run,
    baselines: dict[str, Recipe] | None = None,
) -> list[AblationRow]:  # fmt: skip
    """Pretrain and probe every variant on every seed, plus the random-init encoder per seed
    (`run` gives the device, loader processes and progress; its seed is replaced by each).

    `baselines` names the recipes whose random-init encoder is probed (default: the first
    variant's, as "random init"); variants whose encoders take different inputs (O3N's element
    encodings) each need their own.
    """
    rows: list[AblationRow] = []
    baselines = baselines or {RANDOM_INIT: next(iter(variants.values()))}
    for seed in seeds:
        run = dataclasses.replace(run, seed=seed)
        for name, recipe in baselines.items():
            seed_everything(seed)  # every variant of a seed starts from these weights
            net = recipe.new_encoder(backbone)
            rows.append(_probe(name, net, recipe, videos, None, run))
        for name, recipe in variants.items():
            seed_everything(seed)
            net = recipe.new_encoder(backbone)
            history = pretrain(build_model(net, recipe), recipe, videos, run)
            rows.append(_probe(name, net, recipe, videos, history.best["val_acc"], run))
    return rows


def _probe(name, net, recipe, videos, pretext_acc, run) -> AblationRow:
    """Linear probe and retrieval top-1 of `net`'s frozen features."""
    scores = frozen_eval(
        recipe.eval_encoder(net), videos, recipe.evaluation_view, recipe.downstream, run
    )
    chance = None if pretext_acc is None else 1 / recipe.task.num_classes
    return AblationRow(
        name, run.seed, pretext_acc, chance, scores["linear_probe_acc"],
        scores["retrieval_topk"][1],
    )  # fmt: skip


def summarize(rows: list[AblationRow]) -> list[dict]:
    """Mean and standard deviation over seeds per variant, in the order the variants came."""
    out = []
    for name in dict.fromkeys(r.variant for r in rows):
        mine = [r for r in rows if r.variant == name]
        entry = {"variant": name, "seeds": [r.seed for r in mine]}
        for key in ("pretext_val_acc", "linear_probe_acc", "retrieval_top1"):
            values = [getattr(r, key) for r in mine if getattr(r, key) is not None]
            entry[key] = (float(np.mean(values)), float(np.std(values))) if values else None
        entry["chance"] = mine[0].chance
        out.append(entry)
    return out


def format_ablation(rows: list[AblationRow]) -> str:
    """A text table: per variant, pretext validation accuracy and the frozen-feature scores (%)."""

    def cell(value) -> str:
        return "" if value is None else f"{100 * value[0]:.1f} ± {100 * value[1]:.1f}"

    summary = summarize(rows)
    width = max(len(s["variant"]) for s in summary)
    head = f"{'variant':<{width}}  {'pretext val':>13}  {'linear probe':>13}  {'top-1':>13}"
    lines = [head, "-" * len(head)]
    for s in summary:
        lines.append(
            f"{s['variant']:<{width}}  {cell(s['pretext_val_acc']):>13}  "
            f"{cell(s['linear_probe_acc']):>13}  {cell(s['retrieval_top1']):>13}"
        )
    seeds = sorted({r.seed for r in rows})
    lines.append(f"mean ± standard deviation over seeds {seeds}, accuracies in %")
    return "\n".join(lines)
