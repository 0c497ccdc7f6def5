"""The frame every paper chapter shares, around what is the paper's own.

A chapter's parameters cell names the run. `Chapter.open` checks those values, picks the preset
and opens the videos: the pretext trains on `dataset`, and evaluation runs on `downstream` (the
same dataset unless named: the papers pretrain on UCF-101 and evaluate on HMDB-51 too); `Chapter.compare` scores the pretrained encoder against the same encoder at
its random initialisation with the shared protocol (linear probe, retrieval, fine-tuning with all
labels and with a fraction) and shows the comparison; `Chapter.save` writes the results file.
What lies between (the sampler, the head, the pictures) is the chapter's own::

    chapter = Chapter.open("vcop", RunParameters.from_cell(globals()))
    ...  # the paper's sampler, model and pretext training
    frozen, tuned, metrics = chapter.compare(model.encoder.net, initial, "VCOP")
    chapter.save(history, metrics, results_dir)
"""

from __future__ import annotations

import inspect
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from . import ablation, config, plots, results
from .data.datasets import TupleDataset
from .data.decode import read_all_frames, video_info
from .data.videos import Videos
from .evaluate import compare_starts
from .models.encoders import count_parameters
from .papers import Paper
from .prepare import names, new_model, open_run
from .pretrain import pretext_accuracy, pretext_predictions, pretrain, validation_data
from .recipe import Recipe, recipe_rows
from .settings import RunParameters
from .train import History, Run


def show_source(*objects) -> None:
    """Show each object's source as highlighted Python, as the book shows its code cells (a
    Markdown code block, which the built page highlights and keeps within its width)."""
    from IPython.display import Markdown, display

    for obj in objects:
        source = textwrap.dedent(inspect.getsource(obj)).rstrip()
        display(Markdown(f"```python\n{source}\n```"))


@dataclass
class Chapter:
    """One run of a paper chapter: its recipe, videos, device and parameters, and when it began."""

    paper: Paper
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
    figures: dict = field(default_factory=dict)  # saved beside the results file
    pretext_on_test: dict = field(default_factory=dict)  # `pretext_test`, for the results file
    history: History | None = None  # of the last `pretrain`
    metrics: dict | None = None  # of the last `compare`

    @classmethod
    def open(cls, paper: str, params: RunParameters) -> Chapter:
        """Check the run's parameters (a notebook's: ``RunParameters.from_cell(globals())``),
        pick the paper's preset and open the videos.

        Bad values fail here, before any training, with the valid choices in the message. In
        smoke mode (SSV_SMOKE=1) every 8th video is kept, so that every cell runs in seconds.
        `strict` makes an unreadable video stop the run instead of being skipped (SSV_STRICT=1).
        Prints the device, the preset and the videos opened.
        """
        started = time.perf_counter()
        run = open_run(paper, params)
        chapter = cls(
            run.paper, run.recipe, run.videos, run.eval_videos, run.params.backbone,
            run.device, params.seed, params.num_workers, run.fractions, run.recorded, started,
        )  # fmt: skip
        recipe, videos, eval_videos, device = run.recipe, run.videos, run.eval_videos, run.device
        smoke = " (smoke)" if config.is_smoke() else ""
        print(f"device {device}; preset {params.preset}{smoke}")
        print(videos.describe())
        if eval_videos is not videos:
            print(f"evaluated on {eval_videos.describe()}")
        short = chapter.too_short
        if short:
            print(
                f"{len(short)} training videos are shorter than the {recipe.task.min_frames} "
                f"frames a {recipe.task.name} sample needs; pretext training leaves them out "
                f"(the results file names them): {names(short)}"
            )
        return chapter

    @property
    def too_short(self) -> list[str]:
        """The pretext's training and validation videos too short for one of its samples."""
        need = self.recipe.task.min_frames
        records = self.videos.fit + self.videos.val
        return [r.rel for r in records if video_info(r.path).num_frames < need]

    @property
    def run(self) -> Run:
        """Where and how every training call of the chapter runs: seed, device, processes."""
        return Run(self.seed, self.device, self.num_workers)

    def recipe_table(self) -> str:
        """The settings that matter, as a Markdown table: the paper's `cpu` and `paper` presets
        side by side, and this run's where the parameters cell or smoke mode changed them."""
        this = recipe_rows(self.recipe, self.backbone)
        columns = {}
        for name, recipe in self.paper.presets.items():
            rows = recipe_rows(recipe, self.paper.default_backbone(name))
            mine = name == self.parameters.get("preset") and rows == this
            columns[f"`{name}` preset" + (" (this run)" if mine else "")] = rows
        if not any(header.endswith("(this run)") for header in columns):
            columns["this run"] = this
        keys = list(dict.fromkeys(key for rows in columns.values() for key in rows))
        lines = ["| setting | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
        for key in keys:
            cells = [rows.get(key, "") for rows in columns.values()]
            lines.append(f"| {key} | " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def use(self, recipe: Recipe, **parameters) -> Recipe:
        """Make `recipe` (the preset changed by the chapter's own parameters) this run's, and
        record those parameters' values in the results file."""
        self.recipe = recipe
        self.parameters.update(parameters)
        return recipe

    def example_video(self, class_name: str = "BounceToRest"):
        """A training video of `class_name` (the first training video where the data has no
        such class) and all of its frames, for the chapter's pictures: (record, frames)."""
        fit = self.videos.fit
        video = next((r for r in fit if r.class_name == class_name), fit[0])
        return video, read_all_frames(video.path)

    def sample_grid(self, caption, row_label: str, n: int = 4) -> list:
        """Draw `n` evenly spaced pretext training samples as the loader gives them (cropped,
        mirrored), one column each, titled by the video's class and `caption(label)`; returns
        (input, label) of each."""
        recipe = self.recipe
        data = TupleDataset(
            self.videos.fit, recipe.task, recipe.view, seed=self.seed, motion=recipe.motion
        )
        picks = range(0, len(data), max(1, len(data) // n))[:n]
        samples = [data[i] for i in picks]
        titles = [
            f"{data.records[i].class_name}\n{caption(y)}"
            for i, (_, y) in zip(picks, samples, strict=True)
        ]
        plots.tuple_grid([x for x, _ in samples], titles, row_label=row_label)
        return samples

    def pretext_answers(self, model: nn.Module, part: str = "val"):
        """The pretext network's answers on the fixed samples `pretrain` validates with, drawn
        from the `part` ("val" or "test") videos: (the samples' video records, truth, guess)."""
        recipe = self.recipe
        data = validation_data(
            recipe.task, getattr(self.videos, part), recipe.view, recipe.pretext,
            seed=self.seed, motion=recipe.motion,
        )  # fmt: skip
        truth, guess = pretext_predictions(
            model, data, device=self.device, num_workers=self.run.num_workers
        )
        return data.records, truth, guess

    def pretext_confusion(self, model: nn.Module, names: list, title: str):
        """The confusion matrix of `pretext_answers` on the held-out videos; `names[k]` labels
        class k (an order such as (0, 2, 1) is written 021)."""
        _, truth, guess = self.pretext_answers(model)
        names = [n if isinstance(n, str) else "".join(map(str, n)) for n in names]
        return plots.confusion(truth, guess, names, title=title)

    def model(self):
        """The paper's pretext network (`Paper.build_model`) on a fresh encoder seeded by the
        chapter's seed, and a copy of the encoder's initial weights (`prepare.new_model`).

        Prints the sizes and the head. Returns (model, initial encoder).
        """
        model, initial = new_model(self.paper, self.recipe, self.backbone, self.seed)
        net = model.encoder.net
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
            self.paper.build_model, variants, self.videos, self.backbone, seeds, self.run,
            baselines,
        )  # fmt: skip
        print(ablation.format_ablation(rows))
        plots.ablation(rows, title=title)
        return rows

    def compare(
        self, pretrained: nn.Module, initial: nn.Module, name: str | None = None
    ) -> tuple[dict, dict, dict]:
        """The pretrained net against `initial` (its weights before pretext training), evaluated
        with the shared protocol; prints the table, draws the bars and each fine-tuning run's
        validation curve. Returns (frozen, tuned,
        metrics): `evaluate.compare_starts`'s results and the results file's metrics."""
        starts = {"pretrained": pretrained, "random_init": initial}
        encoders = {key: self.recipe.eval_encoder(net) for key, net in starts.items()}
        frozen, tuned = compare_starts(
            encoders, self.eval_videos, self.recipe.evaluation_view, self.recipe.downstream,
            self.fractions, self.run,
        )  # fmt: skip
        metrics = self.metrics = results.collect_metrics(frozen, tuned)
        rows = results.comparison_rows(metrics)
        supervised = results.supervised_reference(metrics)
        chance = 1 / self.eval_videos.num_classes
        print(f"evaluated on {self.eval_videos.dataset} split {self.eval_videos.split}")
        print(results.format_comparison(rows, chance, supervised, paper=name))
        paper_line = self.paper.reported_line(self.eval_videos.dataset)
        if paper_line:
            print(paper_line)
        plots.compare_inits(rows, chance, supervised, names=(f"{name}-pretrained", "random init"))
        plots.finetune_curves(tuned, chance=chance)
        return frozen, tuned, metrics

    def video_counts(self) -> dict:
        """What the run trained and was scored on, and every present video it left out, named."""
        videos, scored = self.videos, self.eval_videos
        return {
            "pretext_train": len(videos.fit) - len(self.too_short),
            "pretext_val": len(videos.val),
            "too_short": self.too_short,
            "unreadable": videos.unreadable,
            "evaluation_train": len(scored.train),
            "evaluation_test_scored": len(scored.test),
            "evaluation_unreadable": scored.unreadable,
        }

    def pretrain(self, model: nn.Module, title: str) -> History:
        """`pretrain.pretrain` on the chapter's recipe, videos and run; then the kept epoch's
        held-out accuracy against chance, the test videos' (`pretext_test`) and the curves."""
        history = self.history = pretrain(model, self.recipe, self.videos, self.run)
        chance, best = 1 / self.recipe.task.num_classes, history.best
        print(
            f"validation accuracy {best['val_acc']:.1%} at epoch {best['epoch']}: "
            f"{best['val_acc'] / chance:.1f}x chance ({chance:.1%})"
        )
        self.pretext_test(model)
        plots.training_curves(history, chance=chance, title=title)
        return history

    def pretext_test(self, model: nn.Module, samples: int = 400) -> float:
        """The pretext network's accuracy on the test videos, which no pretext epoch trained on
        or was chosen by: at least `samples` fixed samples, one per video or more (smoke mode:
        one per video). Printed, and kept for the results file."""
        recipe, samples = self.recipe, 1 if config.is_smoke() else samples
        accuracy, count = pretext_accuracy(model, recipe, self.videos.test, self.run, samples)
        chance = 1 / recipe.task.num_classes
        self.pretext_on_test = {"test_acc": accuracy, "test_samples": count}
        print(
            f"on the {len(self.videos.test)} test videos (never trained on, never used to choose "
            f"the epoch): {accuracy:.1%} of {count} samples, {accuracy / chance:.1f}x chance"
        )
        return accuracy

    def retrieval_curves(self, metrics: dict, reported: dict, label: str):
        """Retrieval top-k of both starts (`compare`'s metrics) against k, in a table and a
        plot, beside the paper's `reported` {k: accuracy}, named `label`."""
        name = self.paper.title
        print(results.format_retrieval(metrics, reported, paper_name=name))
        curves = {
            f"{name}-pretrained": metrics["pretrained"]["retrieval_topk"],
            "random init": metrics["random_init"]["retrieval_topk"],
        }
        classes = self.eval_videos.num_classes
        return plots.retrieval_topk(curves, {label: reported}, num_classes=classes)

    def retrieval_examples(self, frozen: dict, k: int = 4, n: int = 3):
        """A few test videos and their `k` nearest training videos, by the retrieval features
        of each start in `frozen` (`compare`'s first result): the pretrained encoder's row above
        the random init's. `save` keeps the picture beside the results file."""
        features = {
            name.replace("_", " "): (found["test"].retrieval, found["train"].retrieval)
            for name, found in frozen.items()
        }
        videos = self.eval_videos
        figure = plots.retrieval_examples(features, videos.test, videos.train, k, n, self.seed)
        self.figures["retrieval"] = figure
        return figure

    def record(self, history: History | None = None, metrics: dict | None = None) -> dict:
        """This run's results record (`results.make_record`): what `save` writes, and what
        `comparison.seed_table` sets beside the committed runs. By default, of the chapter's
        last `pretrain` and `compare`."""
        history = history if history is not None else self.history
        metrics = metrics if metrics is not None else self.metrics
        task, pretext = self.recipe.task, self.recipe.pretext
        parameters = {
            **self.parameters,
            "epochs": pretext.epochs,
            "batch_size": pretext.batch_size,
            "smoke": config.is_smoke(),
        }
        return results.make_record(
            notebook=self.paper.notebook,
            paper=self.paper.key,
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
            video_counts=self.video_counts(),
            pretext_on_test=self.pretext_on_test,
        )

    def save(self, history, metrics: dict, results_dir: str | Path | None = None) -> Path:
        """Write this run's results file (`record`, `results.write_results`) and say where it
        went; the pictures the chapter kept (`figures`) go beside it as JPEG, named after it."""
        record = self.record(history, metrics)
        path = results.write_results(results_dir or config.default_results_dir(), record)
        for name, figure in self.figures.items():  # JPEG: photographs of real video are large
            figure.savefig(path.with_name(f"{path.stem}-{name}.jpg"), dpi=72,
                           pil_kwargs={"quality": 80})  # fmt: skip
        print(
            f"results written to {config.shown_path(path)}; notebook wall time {record['wall_time_s']:.0f} s"
        )
        return path
