"""The frame every paper chapter shares, around what is the paper's own.

A chapter's parameters cell names the run. `Chapter.open` checks those values, picks the preset
and opens the videos: the pretext trains on `dataset`, and evaluation runs on `downstream` (the
same dataset unless named: the papers pretrain on UCF-101 and evaluate on HMDB-51 too); `Chapter.compare` scores the pretrained encoder against the same encoder at
its random initialisation with the shared protocol (linear probe, retrieval, fine-tuning with all
labels and with a fraction) and shows the comparison; `Chapter.save` writes the results file.
What lies between (the sampler, the head, the pictures) is the chapter's own::

    chapter = Chapter.open("04_vcop", "vcop", vcop.PRESETS, ENCODERS, dataset=dataset, ...)
    ...  # the paper's sampler, model and pretext training
    frozen, tuned, metrics = chapter.compare(model.encoder.net, initial, "VCOP")
    chapter.save(history, metrics, results_dir)
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from . import ablation, config, plots, reported, results
from .data.videos import Videos, open_videos
from .evaluate import compare_starts, label_fractions
from .models.encoders import count_parameters
from .recipe import Recipe, select


@dataclass
class Chapter:
    """One run of a paper chapter: its recipe, videos, device and parameters, and when it began."""

    notebook: str
    paper: str
    recipe: Recipe
    videos: Videos  # pretext training
    eval_videos: Videos  # evaluation: `videos`, or the downstream dataset's
    backbone: str
    device: object  # torch.device
    seed: int
    num_workers: int | None
    fractions: tuple[float, ...]
    parameters: dict = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    @classmethod
    def open(
        cls,
        notebook: str,
        paper: str,
        presets: dict[str, Recipe],
        backbones: tuple[str, ...],
        *,
        dataset: str,
        data_root: str | None,
        split: int,
        backbone: str,
        preset: str,
        device: str,
        seed: int,
        epochs: int | None,
        batch_size: int | None,
        num_workers: int | None,
        label_fraction: float,
        downstream: str | None = None,
        downstream_root: str | None = None,
        strict: bool = False,
    ) -> Chapter:
        """Check the parameters cell's values, pick the preset and open the videos.

        Bad values fail here, before any training, with the valid choices in the message. In
        smoke mode (SSV_SMOKE=1) every 8th video is kept, so that every cell runs in seconds.
        `strict` makes an unreadable video stop the run instead of being skipped (SSV_STRICT=1).
        """
        started = time.perf_counter()
        config.check_choice("backbone", backbone, backbones)
        evaluated_on = downstream or dataset
        recipe = select(presets, preset, dataset=evaluated_on, epochs=epochs, batch_size=batch_size)
        fractions = label_fractions(label_fraction)
        dev = config.resolve_device(device)
        if strict:
            os.environ["SSV_STRICT"] = "1"  # loader processes read it too
        videos = open_videos(dataset, data_root, split)
        eval_videos = videos
        if evaluated_on != dataset or downstream_root not in (None, data_root):
            eval_videos = open_videos(evaluated_on, downstream_root, split)
        if config.is_smoke():  # a few videos, so that every cell runs in seconds
            same = eval_videos is videos
            videos = videos.every(8)
            eval_videos = videos if same else eval_videos.every(8)
        parameters = dict(
            dataset=dataset, data_root=data_root, split=split, backbone=backbone, preset=preset,
            device=device, seed=seed, num_workers=num_workers, label_fraction=label_fraction,
            downstream=evaluated_on, downstream_root=downstream_root, strict=strict,
        )  # fmt: skip
        chapter = cls(
            notebook, paper, recipe, videos, eval_videos, backbone, dev, seed, num_workers,
            fractions, parameters, started,
        )  # fmt: skip
        print(f"device {dev}; preset {preset}{' (smoke)' if config.is_smoke() else ''}")
        if eval_videos is not videos:
            print(f"evaluated on {eval_videos.describe()}")
        return chapter

    @property
    def run(self) -> dict:
        """The keyword arguments every training call takes: seed, device, loader processes."""
        return dict(seed=self.seed, device=self.device, num_workers=self.num_workers)

    def use(self, recipe: Recipe, **parameters) -> Recipe:
        """Make `recipe` (the preset changed by the chapter's own parameters) this run's, and
        record those parameters' values in the results file."""
        self.recipe = recipe
        self.parameters.update(parameters)
        return recipe

    def model(self, build_model: Callable[[nn.Module, Recipe], nn.Module]):
        """The paper's pretext network on a fresh encoder seeded by the chapter's seed, and a
        copy of the encoder's initial weights (the random-init baseline starts from them).

        Prints the sizes and the head. Returns (model, initial encoder).
        """
        config.seed_everything(self.seed)
        net = self.recipe.new_encoder(self.backbone)
        initial = copy.deepcopy(net)
        model = build_model(net, self.recipe)
        channels = self.recipe.task.element.channels
        inputs = "" if channels == 3 else f" on {channels} input channels"
        print(
            f"{self.backbone}{inputs}: {count_parameters(net):,} parameters; "
            f"with the head: {count_parameters(model):,}"
        )
        print(model.head)
        return model, initial

    def ablate(
        self,
        build_model: Callable[[nn.Module, Recipe], nn.Module],
        variants: dict[str, Recipe],
        seeds: tuple[int, ...],
        title: str,
        baselines: dict[str, Recipe] | None = None,
    ) -> list | None:
        """`ablation.run_ablation` on `seeds`, then its table and plot; nothing without seeds.

        In smoke mode, with no seeds given, the chapter's own seed runs every variant for one
        epoch, so that the cell is checked.
        """
        if config.is_smoke():
            seeds = seeds or (self.seed,)
            variants = {name: recipe.smoke() for name, recipe in variants.items()}
        if not seeds:
            return None
        rows = ablation.run_ablation(
            build_model, variants, self.videos, self.backbone, seeds,
            device=self.device, num_workers=self.num_workers, baselines=baselines,
        )  # fmt: skip
        print(ablation.format_ablation(rows))
        plots.ablation(rows, title=title)
        return rows

    def compare(
        self, pretrained: nn.Module, initial: nn.Module, name: str
    ) -> tuple[dict, dict, dict]:
        """The pretrained net against `initial` (its weights before pretext training), evaluated
        with the shared protocol; prints the table and draws the bars. Returns (frozen, tuned,
        metrics): `evaluate.compare_starts`'s results and the results file's metrics."""
        starts = {"pretrained": pretrained, "random_init": initial}
        encoders = {key: self.recipe.eval_encoder(net) for key, net in starts.items()}
        frozen, tuned = compare_starts(
            encoders, self.eval_videos, self.recipe.evaluation_view, self.recipe.downstream,
            self.fractions, **self.run,
        )  # fmt: skip
        metrics = results.collect_metrics(frozen, tuned)
        rows = results.comparison_rows(metrics)
        supervised = results.supervised_reference(metrics)
        chance = 1 / self.eval_videos.num_classes
        print(f"evaluated on {self.eval_videos.dataset} split {self.eval_videos.split}")
        print(results.format_comparison(rows, chance, supervised, paper=name))
        paper_line = reported.reported_line(self.paper, self.eval_videos.dataset)
        if paper_line:
            print(paper_line)
        plots.compare_inits(rows, chance, supervised, names=(f"{name}-pretrained", "random init"))
        return frozen, tuned, metrics

    def save(self, history, metrics: dict, results_dir: str | Path | None = None) -> Path:
        """Write this run's results file (`results.write_results`) and say where it went."""
        task, pretext = self.recipe.task, self.recipe.pretext
        parameters = {
            **self.parameters,
            "epochs": pretext.epochs,
            "batch_size": pretext.batch_size,
            "smoke": config.is_smoke(),
        }
        record = results.make_record(
            notebook=self.notebook,
            paper=self.paper,
            videos=self.videos,
            eval_videos=self.eval_videos,
            backbone=self.backbone,
            parameters=parameters,
            seed=self.seed,
            device=self.device,
            pretext_history=history,
            wall_time_s=time.perf_counter() - self.started,
            chance=1 / task.num_classes,
            metrics=metrics,
        )
        path = results.write_results(results_dir or config.default_results_dir(), record)
        print(f"results written to {path}; notebook wall time {record['wall_time_s']:.0f} s")
        return path
