"""The comparison chapter's numbers: every paper on one protocol, mean and spread over seeds.

`summarize(records)` pairs each run's pretrained encoder with its own random initialisation
(same seed, same budget), so a gain is measured seed by seed before it is averaged. Records are
results files (`ssvlib.results`); `ssvlib.sweep.sweep_records` reads a sweep's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from .papers import PAPERS

MEASURES = {  # name in the book: column of `results.results_table`
    "linear probe": "linear_probe_acc",
    "retrieval top-1": "retrieval_top1",
    "retrieval top-5": "retrieval_top5",
    "fine-tune, 100% labels": "finetune_video_acc@1.0",
    "fine-tune, 10% labels": "finetune_video_acc@0.1",
}


@dataclass(frozen=True)
class Spread:
    """Values over seeds, their mean and sample standard deviation (None for one seed)."""

    values: tuple[float, ...]

    @property
    def mean(self) -> float:
        return sum(self.values) / len(self.values)

    @property
    def sd(self) -> float | None:
        if len(self.values) < 2:
            return None
        mean = self.mean
        return math.sqrt(sum((v - mean) ** 2 for v in self.values) / (len(self.values) - 1))

    def text(self, scale: float = 100.0, digits: int = 1) -> str:
        """'49.2 ± 3.2' (percent by default)."""
        sd = "" if self.sd is None else f" ± {scale * self.sd:.{digits}f}"
        return f"{scale * self.mean:.{digits}f}{sd}"


def latest_per_seed(records: list[dict]) -> list[dict]:
    """One record per (paper, seed, dataset, downstream): the newest, where runs were repeated."""
    newest: dict[tuple, dict] = {}
    for record in sorted(records, key=lambda r: r.get("created", "")):
        key = (record["paper"], record["seed"], record["dataset"], record.get("downstream"))
        newest[key] = record
    return list(newest.values())


def summarize(records: list[dict]) -> list[dict]:
    """Per paper: seeds, pretext accuracy as a multiple of chance, and for every measure the
    pretrained and random-init values and the gain, each a `Spread` over seeds."""
    from .results import results_table

    rows = results_table(latest_per_seed(records))
    summary = []
    for paper in [p for p in PAPERS if any(r["paper"] == p for r in rows)]:
        pre = {r["seed"]: r for r in rows if r["paper"] == paper and r["init"] == "pretrained"}
        rnd = {r["seed"]: r for r in rows if r["paper"] == paper and r["init"] == "random_init"}
        seeds = sorted(set(pre) & set(rnd))
        entry = {
            "paper": paper,
            "name": PAPERS[paper].title,
            "seeds": seeds,
            "pretext_acc": Spread(tuple(pre[s]["pretext_val_acc"] for s in seeds)),
            "pretext_x_chance": Spread(
                tuple(pre[s]["pretext_val_acc"] / pre[s]["pretext_chance"] for s in seeds)
            ),
            "chance": pre[seeds[0]]["pretext_chance"],
        }
        for measure, column in MEASURES.items():
            if any(pre[s].get(column) is None or rnd[s].get(column) is None for s in seeds):
                continue
            entry[measure] = {
                "pretrained": Spread(tuple(pre[s][column] for s in seeds)),
                "random_init": Spread(tuple(rnd[s][column] for s in seeds)),
                "gain": Spread(tuple(pre[s][column] - rnd[s][column] for s in seeds)),
            }
        summary.append(entry)
    return summary


def format_summary(summary: list[dict]) -> str:
    """A Markdown table: one row per paper and measure (video-level %, mean ± sd over seeds)."""
    lines = [
        "| paper | measure | pretrained | random init | gain | seeds with a gain |",
        "|---|---|---|---|---|---|",
    ]
    for entry in summary:
        chance = f"{100 * entry['chance']:.1f}"
        lines.append(
            f"| {entry['name']} | pretext (held out; chance {chance}) | "
            f"{entry['pretext_acc'].text()} ({entry['pretext_x_chance'].text(1, 1)}x chance) "
            "| | | |"
        )
        for measure in MEASURES:
            if measure not in entry:
                continue
            values = entry[measure]
            wins = sum(g > 0 for g in values["gain"].values)
            lines.append(
                f"| | {measure} | {values['pretrained'].text()} | "
                f"{values['random_init'].text()} | {_signed(values['gain'])} | "
                f"{wins} of {len(values['gain'].values)} |"
            )
    return "\n".join(lines)


def _signed(spread: Spread) -> str:
    """A gain with its sign: '+7.8 ± 0.9'."""
    text = spread.text()
    return text if text.startswith("-") else f"+{text}"


def format_reported() -> str:
    """A Markdown table of the papers' own fine-tuning numbers (%, as they report them)."""
    lines = [
        "| paper | network | UCF-101 | HMDB-51 | random init (UCF-101 / HMDB-51) | note |",
        "|---|---|---|---|---|---|",
    ]
    for paper in PAPERS.values():
        entry = paper.reported
        if entry is None:
            continue
        random = (
            f"{entry.ucf101_random} / {entry.hmdb51_random}"
            if entry.ucf101_random is not None
            else "not reported"
        )
        lines.append(
            f"| {paper.title} | {entry.network} | {entry.ucf101} | {entry.hmdb51} | {random} | "
            f"{entry.note} |"
        )
    return "\n".join(lines)


COMMITTED = Path(__file__).resolve().parents[1] / "sweeps" / "comparison"


def seed_table(paper: str, folder: str | Path | None = None) -> str:
    """`format_summary` of one paper's runs in a sweep folder (default: the committed runs that
    `make results` re-creates), for a chapter's "what three seeds show"; one line saying so
    where the folder holds no run of `paper` (a paper just added, before `make results`)."""
    from .sweep import sweep_records

    folder = Path(folder) if folder is not None else COMMITTED
    found = summarize(sweep_records(folder)) if folder.is_dir() else []
    entries = [e for e in found if e["paper"] == paper]
    if not entries:
        return f"No run of {paper!r} in {folder} yet: `make results` makes them."
    return format_summary(entries)


REAL = Path(__file__).resolve().parents[1] / "sweeps" / "real"
REAL_STEPS = REAL.with_name("real_steps")  # the same clips, as many steps as the built-in runs


def real_footage_table(
    papers: tuple[str, ...] = tuple(PAPERS),
    folder: str | Path | None = None,
    builtin: str | Path | None = None,
) -> str:
    """A Markdown table of the pretext on real UCF-101 clips: per paper, each seed's accuracy on
    the test clips (`Chapter.pretext_test`), their mean as a multiple of chance, the held-out
    validation clips' mean, and the built-in data's held-out validation mean beside them."""
    from .sweep import sweep_records

    real: dict[str, dict] = {}
    for record in latest_per_seed(sweep_records(Path(folder or REAL))):
        if record["dataset"] == "ucf101":
            real.setdefault(record["paper"], {})[record["seed"]] = record["pretext"]
    made: dict[str, dict] = {}
    for record in latest_per_seed(sweep_records(Path(builtin or COMMITTED))):
        if record["dataset"] == "builtin":
            made.setdefault(record["paper"], {})[record["seed"]] = record["pretext"]
    seeds = sorted({seed for runs in real.values() for seed in runs})
    lines = [
        "| paper | chance | " + " | ".join(f"seed {s}" for s in seeds)
        + " | mean (x chance) | validation clips, mean | built-in data, mean (x chance) |",
        "|---|---|" + "---|" * len(seeds) + "---|---|---|",
    ]  # fmt: skip
    for paper in [p for p in papers if p in real]:
        runs = real[paper]
        chance = next(iter(runs.values()))["chance"]
        cells = [f"{100 * runs[s]['test_acc']:.1f}" if s in runs else "" for s in seeds]
        lines.append(
            f"| {PAPERS[paper].title} | {100 * chance:.1f} | " + " | ".join(cells)
            + f" | {_times_chance(runs, 'test_acc')} | {_times_chance(runs, 'val_acc', False)}"
            + f" | {_times_chance(made.get(paper, {}), 'val_acc')} |"
        )  # fmt: skip
    return "\n".join(lines)


def _times_chance(runs: dict[int, dict], key: str, ratio: bool = True) -> str:
    """'61.2 (1.22x)': the mean of `key` over seeds, and that mean over chance; '' for none."""
    values = [pretext[key] for pretext in runs.values() if pretext.get(key) is not None]
    if not values:
        return ""
    mean, chance = sum(values) / len(values), next(iter(runs.values()))["chance"]
    return f"{100 * mean:.1f}" + (f" ({mean / chance:.2f}x)" if ratio else "")


def real_retrieval_picture(paper: str, seed: int = 0, folder: str | Path | None = None) -> Path:
    """The retrieval picture (`Chapter.retrieval_examples`) that a committed run of `paper` on
    real clips kept beside its results file."""
    import json

    folder = Path(folder or REAL)
    for path in sorted(folder.glob("*/*.json")):
        record = json.loads(path.read_text())
        if record.get("paper") == paper and record.get("seed") == seed:
            picture = path.with_name(f"{path.stem}-retrieval.jpg")
            if picture.is_file():
                return picture
    raise FileNotFoundError(
        f"{folder} holds no retrieval picture of {paper!r}, seed {seed}: run "
        "`ssv sweep sweeps/real.yml` beside the real clips"
    )
