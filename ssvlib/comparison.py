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


# t(0.975, df): the two-sided 95% quantile of Student's t by degrees of freedom (standard tables)
T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
         9: 2.262, 10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042}  # fmt: skip


def t_975(df: int) -> float:
    """t(0.975, df); between the tabulated values, that of the next smaller df (wider)."""
    return T_975[max(d for d in T_975 if d <= df)]


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

    def interval(self) -> tuple[float, float] | None:
        """The 95% t-interval of the mean, mean ± t(0.975, n-1) sd / sqrt(n); for paired gains
        (one per seed) this is the paired t-interval. None for one value."""
        if self.sd is None:
            return None
        half = t_975(len(self.values) - 1) * self.sd / math.sqrt(len(self.values))
        return self.mean - half, self.mean + half

    def verdict(self) -> str:
        """What a gain's 95% interval says: "helps" (above 0), "hurts" (below) or "cannot
        tell" (it holds 0, or one seed only)."""
        bounds = self.interval()
        if bounds is not None and bounds[0] > 0:
            return "helps"
        if bounds is not None and bounds[1] < 0:
            return "hurts"
        return "cannot tell"

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


def format_summary(summary: list[dict], this_run: dict | None = None) -> str:
    """A Markdown table: one row per paper and measure (video-level %): both starts as mean ± sd
    over seeds, the gain as its mean and paired 95% t-interval, what that interval says, and the
    seeds with a gain. `this_run` (`run_gains`) adds a column: one more run, not counted. A
    single paper's table has no paper column."""
    named = len(summary) > 1
    header = ["measure", "pretrained", "random init", "gain [95% interval]", "pretraining",
              "seeds with a gain"]  # fmt: skip
    header = (["paper"] if named else []) + header
    if this_run:
        header.append(f"this page's run (seed {this_run['seed']})")
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for entry in summary:
        chance = f"{100 * entry['chance']:.1f}"
        pretext = f"{entry['pretext_acc'].text()} ({entry['pretext_x_chance'].text(1, 1)}x chance)"
        cells = [f"pretext (held out; chance {chance})", pretext, "", "", "", ""]
        if this_run:
            cells.append(f"{100 * this_run['pretext_acc']:.1f}")
        lines.append(_row(cells, entry["name"] if named else None))
        for measure in MEASURES:
            if measure not in entry:
                continue
            values, gain = entry[measure], entry[measure]["gain"]
            wins = sum(g > 0 for g in gain.values)
            cells = [measure, values["pretrained"].text(), values["random_init"].text(),
                     _gain_with_interval(gain), gain.verdict(), f"{wins} of {len(gain.values)}"]  # fmt: skip
            if this_run:
                cells.append(_signed_value(this_run["gains"][measure]))
            lines.append(_row(cells, "" if named else None))
    return "\n".join(lines)


def _row(cells: list[str], paper: str | None) -> str:
    """A Markdown table row, with the paper's cell first where the table has that column."""
    cells = ([paper] if paper is not None else []) + cells
    return "|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|"


def run_gains(record: dict) -> dict:
    """One run's results file as `format_summary`'s `this_run`: its seed, held-out pretext
    accuracy and the gain of every measure (pretrained minus random init)."""
    from .results import results_table

    rows = {row["init"]: row for row in results_table([record])}
    pre, rnd = rows["pretrained"], rows["random_init"]
    gains = {
        measure: pre[column] - rnd[column]
        for measure, column in MEASURES.items()
        if pre.get(column) is not None and rnd.get(column) is not None
    }
    return {"seed": record["seed"], "pretext_acc": pre["pretext_val_acc"], "gains": gains}


def _signed_value(value: float) -> str:
    """'+7.8' from 0.078."""
    return f"{100 * value:+.1f}"


def _gain_with_interval(gain: Spread) -> str:
    """'+7.8 [+4.1, +11.5]': the mean gain and its 95% interval (the mean alone for one seed)."""
    bounds = gain.interval()
    if bounds is None:
        return _signed_value(gain.mean)
    return f"{_signed_value(gain.mean)} [{_signed_value(bounds[0])}, {_signed_value(bounds[1])}]"


def format_reported() -> str:
    """A Markdown table of the papers' own fine-tuning numbers (%, as they report them)."""
    lines = [
        "| paper | network | UCF-101 | HMDB-51 | random init (UCF-101 / HMDB-51) | note |",
        "|---|---|---|---|---|---|",
    ]
    for paper in PAPERS.values():
        entry = paper.reported
        if entry is None:
            lines.append(f"| {paper.title} | | not recorded here | | | |")
            continue
        random = (
            f"{entry.ucf101_random} / {entry.hmdb51_random}"
            if entry.ucf101_random is not None
            else "not recorded here"
        )
        lines.append(
            f"| {paper.title} | {entry.network} | {entry.ucf101} | {entry.hmdb51} | {random} | "
            f"{entry.note} |"
        )
    return "\n".join(lines)


COMMITTED = Path(__file__).resolve().parents[1] / "sweeps" / "comparison"


# Parameters that do not change what a run computes, apart from run-to-run variation
NOT_SETTINGS = ("seed", "device", "num_workers", "strict")


def seed_table(paper: str, this_run: dict | None = None, folder: str | Path | None = None) -> str:
    """`format_summary` of one paper's runs in a sweep folder (default: the committed runs that
    `make results` re-creates), for a chapter's "what the seeds show"; one line saying so where
    the folder holds no run of `paper` (a paper just added, before `make results`).

    `this_run`, a results record (`Chapter.record`) with the committed runs' settings, is set
    beside them as one more run; with other settings, a line says it is not comparable."""
    from .sweep import sweep_records

    folder = Path(folder) if folder is not None else COMMITTED
    records = sweep_records(folder) if folder.is_dir() else []
    entries = [e for e in summarize(records) if e["paper"] == paper]
    if not entries:
        return f"No run of {paper!r} in {folder} yet: `make results` makes them."
    if this_run is None:
        return format_summary(entries)
    committed = [r for r in records if r["paper"] == paper]
    if not any(_same_settings(this_run, r) for r in committed):
        return format_summary(entries) + (
            "\n\nThis page's run has settings of its own (not those of the runs above), so it "
            "is not set beside them."
        )
    own = run_gains(this_run)
    ranges = {m: entries[0][m]["gain"].values for m in own["gains"] if m in entries[0]}
    outside = [
        f"{m} ({_signed_value(own['gains'][m])})"
        for m, seeds in ranges.items()
        if not min(seeds) <= own["gains"][m] <= max(seeds)
    ]
    where = f"; outside it on {', '.join(outside)}" if outside else ""
    return format_summary(entries, own) + (
        f"\n\nThe last column is this page's own run, trained while the book was built: seed "
        f"{own['seed']} again, with the same settings, one more draw that the intervals do not "
        "count. A verdict is about the mean gain over seeds; a single run can land on either "
        f"side of it. This run's gain lies within the range of the committed seeds' gains on "
        f"{len(ranges) - len(outside)} of {len(ranges)} measures{where}."
    )


def _same_settings(run: dict, other: dict) -> bool:
    """Whether two results records ran the same paper with the same settings (any seed)."""
    a, b = run.get("parameters", {}), other.get("parameters", {})
    keys = (set(a) | set(b)) - set(NOT_SETTINGS)
    return run["paper"] == other["paper"] and all(a.get(k) == b.get(k) for k in keys)


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
