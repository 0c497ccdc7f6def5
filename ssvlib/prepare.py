"""Opening a paper run: its parameters checked, its preset picked, its videos opened, its model
built. `Chapter.open` and `ssv bench train` both start here, so that a benchmark measures the
run a chapter makes.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from dataclasses import dataclass

from torch import nn

from . import config
from .data.decode import VideoError
from .data.videos import ROOT_HELP, Videos, open_videos
from .evaluate import label_fractions
from .models.encoders import ENCODERS_2D, ENCODERS_3D
from .papers import Paper, get_paper
from .recipe import Recipe, select
from .settings import RunParameters, check_choice


@dataclass(frozen=True)
class OpenedRun:
    """A paper run ready to train: what `open_run` found and checked."""

    paper: Paper
    recipe: Recipe
    params: RunParameters  # with the backbone filled in
    videos: Videos  # pretext training
    eval_videos: Videos  # evaluation: `videos`, or the downstream dataset's
    device: object  # torch.device
    fractions: tuple[float, ...]
    recorded: dict  # the parameters as the results file records them


def open_run(paper: str, params: RunParameters) -> OpenedRun:
    """Check `params`, pick the paper's preset and open the videos; bad values fail before any
    video is opened, with the valid choices in the message."""
    entry = get_paper(paper)
    evaluated_on = params.downstream or params.dataset
    recipe = select(
        entry.presets, params.preset, dataset=evaluated_on, epochs=params.epochs,
        batch_size=params.batch_size,
    )  # fmt: skip
    if params.backbone is None:
        params = dataclasses.replace(params, backbone=entry.default_backbone(params.preset))
    check_run(recipe, entry.backbones, params)
    fractions = label_fractions(params.label_fraction)
    device = config.resolve_device(params.device)
    if params.strict:
        os.environ["SSV_STRICT"] = "1"  # loader processes read it too
    videos, eval_videos = open_run_videos(params)
    recorded = {**dataclasses.asdict(params), "downstream": evaluated_on}
    return OpenedRun(entry, recipe, params, videos, eval_videos, device, fractions, recorded)


def new_model(
    paper: Paper, recipe: Recipe, backbone: str, seed: int
) -> tuple[nn.Module, nn.Module]:
    """The paper's pretext network on a fresh `backbone` seeded by `seed`, and a copy of the
    encoder's initial weights (where the random-init baseline starts)."""
    config.seed_everything(seed)
    net = recipe.new_encoder(backbone)
    initial = copy.deepcopy(net)
    return paper.build_model(net, recipe), initial


def check_run(recipe: Recipe, backbones: tuple[str, ...], params: RunParameters) -> None:
    """Refuse a run's parameters that cannot work, before anything is opened or trained; the
    backbone is checked against the recipe's element."""
    clips = recipe.task.element.layout == "clip"  # a 3D CNN's input; every other layout: 2D
    fits = [name for name in backbones if name in (ENCODERS_3D if clips else ENCODERS_2D)]
    check_choice("backbone", params.backbone, fits)
    for name in ("seed", "num_workers"):
        value = getattr(params, name)
        if value is None and name == "num_workers":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name}={value!r} must be a whole number >= 0")
    downstream = params.downstream or params.dataset
    for name, root, data in (
        ("data_root", params.data_root, params.dataset),
        ("downstream_root", params.downstream_root, downstream),
    ):
        if root is not None and data == "builtin":
            which = "dataset" if name == "data_root" else "downstream"
            raise ValueError(
                f"{name}={root!r} is given but {which} is 'builtin', which ignores it: pass "
                f"-p {which} ucf101 (or hmdb51) to use that folder, or leave {name} out"
            )
    if downstream not in (params.dataset, "builtin") and params.downstream_root is None:
        raise ValueError(
            f"downstream={downstream!r} needs downstream_root: {ROOT_HELP[downstream]}"
        )


def open_run_videos(params: RunParameters) -> tuple[Videos, Videos]:
    """The videos a run pretrains on and those it is evaluated on (the same object unless
    `downstream` names others), readable ones only; in smoke mode every 8th."""
    videos = open_videos(params.dataset, params.data_root, params.split)
    eval_videos = videos
    downstream = params.downstream or params.dataset
    if downstream != params.dataset or params.downstream_root not in (None, params.data_root):
        eval_videos = open_videos(downstream, params.downstream_root, params.split)
    same = eval_videos is videos
    if config.is_smoke():  # a few videos, so that every cell runs in seconds
        videos, eval_videos = videos.every(8), eval_videos.every(8)
    videos = readable(videos, params.strict)
    return videos, videos if same else readable(eval_videos, params.strict)


def readable(videos: Videos, strict: bool) -> Videos:
    """`videos.readable()`, saying which it left out; with `strict`, the first stops the run."""
    kept = videos.readable()
    if not kept.unreadable:
        return kept
    if strict or config.is_strict():
        rel, why = next(iter(kept.unreadable.items()))
        raise VideoError(f"{rel} cannot be read (strict): {why}")
    print(
        f"{len(kept.unreadable)} of the present videos cannot be read and are left out "
        f"(the results file names them; `ssv data check ROOT` lists them with why): "
        f"{names(list(kept.unreadable))}"
    )
    return kept


def names(rels: list[str], shown: int = 5) -> str:
    """The first `shown` of `rels`, and how many more: a list of videos in one line."""
    more = f" and {len(rels) - shown} more" if len(rels) > shown else ""
    return ", ".join(rels[:shown]) + more
