"""The `ssv` command: data set-up, checks and benchmarks from the shell."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .papers import PAPERS

ROOT_HELP = (
    "data root: UCF-101/ and ucfTrainTestlist/ (UCF-101), or videos/ and "
    "testTrainMulti_7030_splits/ (HMDB-51)"
)


def _synth(args: argparse.Namespace) -> int:
    """ssv data synth ROOT: write the built-in dataset in UCF-101's layout."""
    from .data.builtin import generate

    root = generate(Path(args.root), seed=args.seed)
    print(json.dumps({"root": str(root), "seed": args.seed}))
    return 0


def _check(args: argparse.Namespace) -> int:
    """ssv data check ROOT: one JSON object; non-zero exit when a video is missing or unreadable."""
    from .data.hmdb51 import HMDB51Error
    from .data.ucf101 import UCF101Error
    from .data.videos import check_root

    needs = min_frames()
    try:
        report = check_root(
            args.root, args.dataset, split=args.split, backend=args.backend, min_frames=needs
        )
    except (UCF101Error, HMDB51Error) as err:
        print(f"ssv data check: {err}", file=sys.stderr)
        return 2
    print(json.dumps(report))
    if report["short"]:
        longest = max(needs, key=needs.get)
        print(
            f"ssv data check: {len(report['short'])} videos are shorter than a sample of some "
            f"recipe needs (the longest: {longest}, {needs[longest]} frames); each recipe drops "
            "them from its pretext training and names them: see 'short' in the report",
            file=sys.stderr,
        )
    return 1 if report["missing"] or report["unreadable"] else 0


def min_frames() -> dict[str, int]:
    """{"<paper> (<preset>)": frames one pretext sample needs} for every paper's presets."""
    return {
        f"{key} ({name})": recipe.task.min_frames
        for key, paper in PAPERS.items()
        for name, recipe in paper.presets.items()
    }


def _download(args: argparse.Namespace) -> int:
    """ssv data download ROOT: fetch and extract UCF-101 or HMDB-51 (resumable)."""
    from .data.download import DownloadError, download_hmdb51, download_ucf101

    download = download_hmdb51 if args.dataset == "hmdb51" else download_ucf101
    try:
        root = download(
            Path(args.root), videos=not args.splits_only, trust_download=args.trust_download
        )
    except DownloadError as err:
        print(f"ssv data download: {err}", file=sys.stderr)
        return 1
    print(json.dumps({"root": str(root)}))
    return 0


def _bench_decode(args: argparse.Namespace) -> int:
    """ssv bench decode ROOT: one JSON line comparing whole-video decoding with ssvlib's reader."""
    from .bench import bench_decode

    print(
        json.dumps(
            bench_decode(args.root, repeats=args.repeats, backend=args.backend, limit=args.limit)
        )
    )
    return 0


def _cache(args: argparse.Namespace) -> int:
    """ssv data cache ROOT OUT: the videos resized once, same layout; non-zero on unreadable."""
    from .data.cache import make_cache, parse_size

    report = make_cache(
        args.root, args.out, dataset=args.dataset, size=parse_size(args.size), workers=args.workers
    )
    print(json.dumps(report))
    return 1 if report["unreadable"] else 0


def _bench_loader(args: argparse.Namespace) -> int:
    """ssv bench loader ROOT: one JSON line per paper, the dataset against decoding alone."""
    from .bench import bench_loader

    for paper in PAPERS if args.paper == "all" else (args.paper,):
        result = bench_loader(
            args.root, paper, args.preset, dataset=args.dataset, cache=args.cache,
            samples=args.samples, passes=args.passes,
        )  # fmt: skip
        print(json.dumps(result), flush=True)
    return 0


def _bench_train(args: argparse.Namespace) -> int:
    """ssv bench train: one JSON line per paper, its pretext training taken apart."""
    from .bench import bench_train

    for paper in PAPERS if args.paper == "all" else (args.paper,):
        result = bench_train(
            paper, args.preset, backbone=args.backbone, device=args.device, workers=args.workers,
            steps=args.steps, warmup=args.warmup, root=args.root, dataset=args.dataset,
        )  # fmt: skip
        print(json.dumps(result), flush=True)
    return 0


def _pretrain(args: argparse.Namespace) -> int:
    """ssv pretrain --paper P: a paper's pretext training, on one process or several under
    torchrun (``torchrun --nproc_per_node N -m ssvlib.cli pretrain ...``).

    It opens the videos and builds the model as the paper's chapter does with the same
    parameters, so the run lands in the folder the chapter's `pretrain` call looks in: run the
    notebook afterwards and it loads the finished run and goes on to evaluate. Under torchrun,
    --batch-size is the global batch, shared among the processes.
    """
    import contextlib
    import io

    from . import distributed
    from .chapter import Chapter
    from .pretrain import pretrain
    from .settings import RunParameters

    device = distributed.start()
    values = {name: getattr(args, name) for name in RUN_FLAGS}
    params = RunParameters(**{**values, "device": str(device)})
    main = distributed.is_main()
    quiet = contextlib.nullcontext() if main else contextlib.redirect_stdout(io.StringIO())
    try:
        with quiet:
            try:
                chapter = Chapter.open(args.paper, params)
            except ValueError as err:  # a parameter that cannot work: one line, exit 2
                args.parser.error(str(err))
            model, _ = chapter.model()
            history = pretrain(
                model, chapter.recipe, chapter.videos, chapter.run, args.max_steps_per_epoch
            )
        if main:
            print(json.dumps({"paper": args.paper, "processes": distributed.world_size(),
                              "best": history.best, "epochs": len(history.epochs)}))  # fmt: skip
    finally:
        distributed.stop()
    return 0


RUN_FLAGS = ("dataset", "data_root", "split", "backbone", "preset", "seed", "epochs", "batch_size",
             "num_workers")  # fmt: skip  # the RunParameters that pretext training reads


def add_run_flags(command: argparse.ArgumentParser) -> None:
    """--dataset, --data-root, ...: the `RunParameters` of pretext training, with their help."""
    import dataclasses
    import typing

    from .settings import RunParameters

    hints = typing.get_type_hints(RunParameters)
    for spec in dataclasses.fields(RunParameters):
        if spec.name in RUN_FLAGS:
            kind = next(t for t in typing.get_args(hints[spec.name]) or (hints[spec.name],)
                        if t is not type(None))  # fmt: skip
            command.add_argument(
                "--" + spec.name.replace("_", "-"), type=kind, default=spec.default,
                help=f"{spec.metadata['help']} (default: {spec.default})",
            )  # fmt: skip


def _sweep(args: argparse.Namespace) -> int:
    """ssv sweep FILE: papermill over a grid, here or on Slurm, resumable; prints the manifest's
    path. Exit 2 when the sweep cannot start, 1 when runs failed."""
    from .sweep import MANIFEST, RunsFailed, SweepError, load_sweep, parse_slurm_args, run_sweep

    command = " ".join(["ssv", "sweep", *args.argv])
    flags = {"partition": args.partition, "gpus_per_run": args.gpus_per_run,
             "cpus_per_run": args.cpus_per_run, "timeout_min": args.timeout_min}  # fmt: skip
    try:
        given = args.slurm_arg or any(v is not None for v in flags.values())
        flags["args"] = parse_slurm_args(args.slurm_arg)
        if given and not args.slurm:
            raise SweepError("--partition, --gpus-per-run, --cpus-per-run, --timeout-min and "
                             "--slurm-arg go with --slurm")  # fmt: skip
        slurm = flags if args.slurm else None
        run_sweep(args.file, out=args.out, workers=args.workers, command=command, slurm=slurm)
    except SweepError as err:
        print(f"ssv sweep: {err}", file=sys.stderr)
        return 1 if isinstance(err, RunsFailed) else 2
    print(json.dumps({"manifest": str(load_sweep(args.file, args.out).out / MANIFEST)}))
    return 0


def _repository(args: argparse.Namespace) -> int:
    """ssv book repository [URL]: print the repository URL, or set it everywhere it is used."""
    from .publish import out_of_date, repository_url, set_repository

    if args.url is None:
        print(json.dumps({"url": repository_url(), "out_of_date": out_of_date()}))
        return 1 if out_of_date() else 0
    print(json.dumps({"url": repository_url(), "changed": set_repository(args.url)}))
    return 0


def parser() -> argparse.ArgumentParser:
    """The argument parser of `ssv`."""
    top = argparse.ArgumentParser(prog="ssv", description=__doc__)
    groups = top.add_subparsers(dest="group", required=True)

    data = groups.add_parser("data", help="set up and check datasets").add_subparsers(
        dest="command", required=True
    )
    synth = data.add_parser("synth", help="generate the built-in dataset in UCF-101's layout")
    synth.add_argument("root", help="folder to write (it will hold UCF-101/ and ucfTrainTestlist/)")
    synth.add_argument("--seed", type=int, default=0)
    synth.set_defaults(run=_synth)
    check = data.add_parser("check", help="validate a UCF-101 or HMDB-51 root before a long run")
    check.add_argument("root", help=ROOT_HELP)
    check.add_argument("--dataset", default="ucf101", choices=("ucf101", "hmdb51"))
    check.add_argument("--split", type=int, default=1, choices=(1, 2, 3))
    check.add_argument("--backend", default="auto", choices=("auto", "decord", "pyav"))
    check.set_defaults(run=_check)
    download = data.add_parser(
        "download", help="download and extract UCF-101 (about 6.5 GB) or HMDB-51 (about 2 GB)"
    )
    download.add_argument("root", help=ROOT_HELP)
    download.add_argument("--dataset", default="ucf101", choices=("ucf101", "hmdb51"))
    download.add_argument("--splits-only", action="store_true", help="only the split files")
    download.add_argument(
        "--trust-download",
        action="store_true",
        help="accept an archive whose md5 differs from the published one (recorded as unchecked)",
    )
    download.set_defaults(run=_download)
    cache = data.add_parser(
        "cache", help="write a copy of a dataset resized once, for repeated runs (resumable)"
    )
    cache.add_argument("root", help=ROOT_HELP)
    cache.add_argument("out", help="folder for the copy (then pass it as data_root)")
    cache.add_argument("--dataset", default="ucf101", choices=("ucf101", "hmdb51"))
    cache.add_argument("--size", default="128x171", help="HEIGHTxWIDTH (default: VCOP's 128x171)")
    cache.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    cache.set_defaults(run=_cache)

    pretext = groups.add_parser(
        "pretrain", help="a paper's pretext training, as its chapter runs it (torchrun: several)"
    )
    pretext.add_argument("--paper", required=True, choices=tuple(PAPERS))
    add_run_flags(pretext)
    pretext.add_argument("--max-steps-per-epoch", type=int, default=None)
    pretext.set_defaults(run=_pretrain, parser=pretext)

    sweep = groups.add_parser("sweep", help="run notebooks over a grid of parameters (papermill)")
    sweep.add_argument("file", help="a sweep file (YAML), e.g. sweeps/comparison.yml")
    sweep.add_argument("--out", default=None, help="output folder (default: the file's `out`)")
    sweep.add_argument("--workers", type=int, default=None, help="runs at once (default: file's)")
    sweep.add_argument(
        "--slurm", action="store_true", help="submit each run as a Slurm job (a job array), wait"
    )
    sweep.add_argument("--partition", default=None, help="Slurm partition (default: file's)")
    sweep.add_argument("--gpus-per-run", type=int, default=None, help="GPUs per Slurm job")
    sweep.add_argument(
        "--cpus-per-run", type=int, default=None, help="CPUs per Slurm job, its runs' threads"
    )
    sweep.add_argument(
        "--timeout-min", type=int, default=None, help="Slurm time limit per run (default: 1440)"
    )
    sweep.add_argument(
        "--slurm-arg", action="append", metavar="KEY=VALUE", help="other sbatch option, repeatable"
    )
    sweep.set_defaults(run=_sweep)

    book = groups.add_parser("book", help="publishing settings").add_subparsers(
        dest="command", required=True
    )
    repository = book.add_parser(
        "repository", help="the GitHub repository the book, its buttons and Colab cells use"
    )
    repository.add_argument("url", nargs="?", help="https://github.com/OWNER/REPO to set")
    repository.set_defaults(run=_repository)

    bench = groups.add_parser("bench", help="benchmarks").add_subparsers(
        dest="command", required=True
    )
    decode = bench.add_parser("decode", help="VCOP-shaped samples: whole-video decoding vs ssvlib")
    decode.add_argument("root", help="folder searched for .avi videos")
    decode.add_argument("--repeats", type=int, default=3)
    decode.add_argument("--backend", default="auto", choices=("auto", "decord", "pyav"))
    decode.add_argument("--limit", type=int, default=None, help="use at most this many videos")
    decode.set_defaults(run=_bench_decode)
    loader = bench.add_parser(
        "loader", help="a paper's dataset against decoding its frames alone, per core"
    )
    loader.add_argument("root", help=ROOT_HELP)
    loader.add_argument("--paper", default="all", choices=("all", *PAPERS))
    loader.add_argument("--preset", default="paper", choices=("cpu", "paper"))
    loader.add_argument("--dataset", default="ucf101", choices=("ucf101", "hmdb51", "builtin"))
    loader.add_argument("--cache", default=None, help="a copy made by `ssv data cache`, compared")
    loader.add_argument("--samples", type=int, default=64)
    loader.add_argument("--passes", type=int, default=3, help="the fastest pass counts")
    loader.set_defaults(run=_bench_loader)
    train = bench.add_parser(
        "train", help="a paper's pretext training: model step, loader, fit, peak memory"
    )
    train.add_argument("--paper", default="all", choices=("all", *PAPERS))
    train.add_argument("--preset", default="cpu", choices=("cpu", "paper"))
    train.add_argument("--backbone", default=None, help="default: the chapter's for the preset")
    train.add_argument("--device", default="auto", help="auto, cuda, mps or cpu")
    train.add_argument("--workers", type=int, default=None, help="default: 0 on a CPU, 8 on GPU")
    train.add_argument("--steps", type=int, default=20, help="batches timed, after the warm-up")
    train.add_argument("--warmup", type=int, default=3, help="batches run first, not timed")
    train.add_argument("--root", default=None, help=f"{ROOT_HELP} (default: the built-in data)")
    train.add_argument("--dataset", default=None, choices=("ucf101", "hmdb51", "builtin"))
    train.set_defaults(run=_bench_train)
    return top


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `ssv` console script."""
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(argv)
    args.argv = argv[1:]
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
