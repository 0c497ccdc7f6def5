"""`ssv sweep`: a grid of notebook runs through submitit, resumable, recorded with the commit and
the machine; here or on Slurm (a stand-in Slurm on PATH: no test needs a cluster)."""

from __future__ import annotations

import json
import os
import stat

import nbformat
import pytest

from ssvlib import sweep
from ssvlib.cli import main
from ssvlib.sweep import RunsFailed, SweepError, load_sweep, run_sweep, slurm_parameters


def sweep_file(tmp_path, text: str):
    path = tmp_path / "s.yml"
    path.write_text(text)
    return path


GRID = """
notebooks: [02_opn, 04_vcop]
grid: {seed: [0, 1], label_fraction: [0.1]}
parameters: {epochs: 3, dataset: builtin}
workers: 2
out: runs
"""


def test_the_grid_expands_into_one_run_per_notebook_and_point(tmp_path):
    loaded = load_sweep(sweep_file(tmp_path, GRID))
    assert [run.name for run in loaded.runs] == [
        "02_opn__seed-0__label_fraction-0.1",
        "02_opn__seed-1__label_fraction-0.1",
        "04_vcop__seed-0__label_fraction-0.1",
        "04_vcop__seed-1__label_fraction-0.1",
    ]
    assert loaded.runs[1].parameters == {
        "epochs": 3, "dataset": "builtin", "seed": 1, "label_fraction": 0.1,
    }  # fmt: skip
    assert loaded.out == tmp_path / "runs" and loaded.workers == 2


def test_a_notebook_may_take_parameters_of_its_own(tmp_path):
    text = "notebooks: [02_opn, {04_vcop: {epochs: 320}}]\ngrid: {seed: [0]}\n"
    loaded = load_sweep(sweep_file(tmp_path, text))
    assert [run.name for run in loaded.runs] == ["02_opn__seed-0", "04_vcop__epochs-320__seed-0"]
    assert loaded.runs[1].parameters == {"epochs": 320, "seed": 0}
    with pytest.raises(SweepError, match="`epoch` is not a parameter of 04_vcop"):
        load_sweep(sweep_file(tmp_path, "notebooks: [{04_vcop: {epoch: 3}}]\n"))
    with pytest.raises(SweepError, match="either|fixed for one notebook"):
        load_sweep(sweep_file(tmp_path, "notebooks: [{04_vcop: {seed: 3}}]\ngrid: {seed: [0]}\n"))


@pytest.mark.parametrize(
    "text, message",
    [
        ("notebooks: [02_opn]\nseeds: [0]\n", "unknown keys \\['seeds'\\]"),
        ("notebooks: [02_opm]\n", "no notebook \\['02_opm'\\].*02_opn"),
        ("notebooks: []\n", "lists none"),
        ("notebooks: [02_opn]\ngrid: {seed: 0}\n", "grid `seed` must be a non-empty list"),
        ("notebooks: [02_opn]\nparameters: {results_dir: x}\n", "results_dir"),
        ("notebooks: [02_opn]\ngrid: {seed: [0]}\nparameters: {seed: 1}\n", "a key is fixed"),
        (
            "notebooks: [02_opn]\ngrid: {seeds: [0, 1]}\n",
            "`seeds` is not a parameter of 02_opn; its parameters are .*seed.*results_dir",
        ),
        (
            "notebooks: [02_opn, 04_vcop]\nparameters: {channel_split: false}\n",
            "`channel_split` is not a parameter of 04_vcop",
        ),
        ("notebooks: [00_data_and_sampling]\n", "00_data_and_sampling has no `results_dir`"),
        ("notebooks: [02_opn\ngrid: {}\n", "not valid YAML: .* at line 2"),
        ("- 02_opn\n", "a sweep file is a mapping"),
        ("notebooks: [02_opn]\nslurm: {partitions: gpu}\n", "unknown slurm settings"),
        ("notebooks: [02_opn]\nslurm: {gpus_per_run: two}\n", "`gpus_per_run` must be a whole"),
        ("notebooks: [02_opn]\nslurm: {args: {array: 0-9}}\n", "array is set by the sweep"),
    ],
)
def test_bad_sweep_files_say_what_is_wrong_in_one_line(tmp_path, text, message):
    with pytest.raises(SweepError, match=message) as err:
        load_sweep(sweep_file(tmp_path, text))
    assert "\n" not in str(err.value)


def test_a_key_that_is_no_parameter_stops_the_sweep_before_any_run(tmp_path):
    file = sweep_file(tmp_path, GRID.replace("epochs: 3", "epoch: 3"))
    with pytest.raises(SweepError, match="`epoch` is not a parameter of 02_opn"):
        run_sweep(file, progress=False)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "name, text, extra, message",
    [
        ("missing.yml", None, [], "missing.yml: no such sweep file"),
        ("s.yml", "notebooks: [02_opn\n", [], "not valid YAML"),
        ("s.yml", "notebooks: [02_opn]\ngrid: {sed: [0]}\n", [], "`sed` is not a parameter"),
        ("s.yml", "notebooks: [02_opn]\n", ["--partition", "gpu"], "go with --slurm"),
        ("s.yml", "notebooks: [02_opn]\n", ["--slurm", "--slurm-arg", "qos"], "KEY=VALUE"),
    ],
)
def test_the_command_line_says_what_stops_a_sweep_in_one_line(
    tmp_path, capsys, name, text, extra, message
):
    if text is not None:
        (tmp_path / name).write_text(text)
    assert main(["sweep", str(tmp_path / name), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ssv sweep: ") and message in err and "\n" not in err


TINY = [
    "import json, os, pathlib",
    "assert seed != fail_seed, f'seed {seed} fails'",
    "record = {'seed': seed, 'threads': os.environ['OMP_NUM_THREADS'],"
    " 'cuda': os.environ.get('CUDA_VISIBLE_DEVICES')}",
    "pathlib.Path(results_dir, 'result.json').write_text(json.dumps(record))",
]


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """A notebooks/ folder with `tiny`: writes its seed, threads and GPUs; fails at fail_seed."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    book = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell("seed = 0\nfail_seed = -1\nresults_dir = '.'")
    parameters.metadata["tags"] = ["parameters"]
    book.cells = [parameters, nbformat.v4.new_code_cell("\n".join(TINY))]
    book.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(book, folder / "tiny.ipynb")
    monkeypatch.setattr(sweep, "NOTEBOOKS", folder)
    return folder


def tiny_sweep(tmp_path, fail_seed: int, extra: str = ""):
    text = f"notebooks: [tiny]\ngrid: {{seed: [0, 1, 2]}}\nparameters: {{fail_seed: {fail_seed}}}\n"
    return sweep_file(tmp_path, text + "workers: 2\nout: runs\n" + extra)


def result(tmp_path, run: str) -> dict:
    return json.loads((tmp_path / "runs" / run / "result.json").read_text())


def test_a_sweep_runs_through_submitit_records_its_runs_and_resumes(tmp_path, tiny, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    with pytest.raises(RunsFailed, match="1 of 3 runs failed.*tiny__seed-1.*papermill.log"):
        run_sweep(tiny_sweep(tmp_path, fail_seed=1), progress=False)
    manifest = json.loads((tmp_path / "runs" / "sweep.json").read_text())
    runs = manifest["runs"]
    assert {name: run["status"] for name, run in runs.items()} == {
        "tiny__seed-0": "done", "tiny__seed-1": "failed", "tiny__seed-2": "done",
    }  # fmt: skip
    assert "seed 1 fails" in runs["tiny__seed-1"]["log_tail"]
    assert all(run["executor"] == "local" and run["job_id"] for run in runs.values())
    assert manifest["machine"]["cores"] >= 1 and "commit" in manifest
    for seed in (0, 2):  # each run had the threads the manifest records, and the shell's GPUs
        record = result(tmp_path, f"tiny__seed-{seed}")
        assert record["seed"] == seed and record["threads"] == str(manifest["threads_per_run"])
        assert record["cuda"] is None
    kept = (tmp_path / "runs" / "tiny__seed-0" / "tiny.ipynb").stat().st_mtime_ns

    manifest = run_sweep(tiny_sweep(tmp_path, fail_seed=-1), progress=False)
    runs = manifest["runs"]
    assert runs["tiny__seed-1"]["status"] == "done" and result(tmp_path, "tiny__seed-1")
    assert runs["tiny__seed-0"]["status"] == runs["tiny__seed-2"]["status"] == "done before"
    assert (tmp_path / "runs" / "tiny__seed-0" / "tiny.ipynb").stat().st_mtime_ns == kept
    assert not (tmp_path / "runs" / sweep.SUBMITIT_DIR).exists()  # submitit's files, cleared


def test_the_command_line_runs_a_sweep_and_says_where_its_manifest_is(tmp_path, tiny, capsys):
    file = sweep_file(tmp_path, "notebooks: [tiny]\nout: runs\n")
    assert main(["sweep", str(file), "--workers", "1"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    manifest = json.loads(open(out["manifest"]).read())
    assert manifest["command"] == f"ssv sweep {file} --workers 1" and manifest["workers"] == 1
    assert manifest["runs"]["tiny"]["status"] == "done"


FAKE_SBATCH = r"""#!/bin/bash
# sbatch's stand-in: keeps the script, runs its array's tasks here in the background.
cp "$1" "$FAKE_SLURM/sbatch.sh"
range=$(sed -n 's/^#SBATCH --array=\([0-9]*\)-\([0-9]*\).*/\1 \2/p' "$1")
for i in $(seq ${range:-0 0}); do
  SLURM_JOB_ID=$((100 + i)) SLURM_ARRAY_JOB_ID=42 SLURM_ARRAY_TASK_ID=$i SLURM_NTASKS=1 \
    SLURM_PROCID=0 SLURM_LOCALID=0 bash "$1" > /dev/null 2>&1 &
done
echo "Submitted batch job 42"
"""
FAKE_SRUN = r"""#!/bin/bash
# srun's stand-in: --output and --error with %A %a %t filled in, then the command.
fill() { local s=${1//%A/$SLURM_ARRAY_JOB_ID}; s=${s//%a/$SLURM_ARRAY_TASK_ID}; echo "${s//%t/0}"; }
out=/dev/null; err=/dev/null
while [[ "$1" == --* ]]; do
  case "$1" in
    --output) out=$(fill "$2"); shift 2;;
    --error) err=$(fill "$2"); shift 2;;
    *) shift;;
  esac
done
exec "$@" > "$out" 2> "$err"
"""


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch):
    """sbatch, srun and sacct stand-ins on PATH that run a job array on this machine."""
    folder = tmp_path / "slurm-bin"
    folder.mkdir()
    scripts = {"sbatch": FAKE_SBATCH, "srun": FAKE_SRUN, "sacct": 'echo "JobID|State|NodeList"\n'}
    for name, text in scripts.items():
        (folder / name).write_text(text if text.startswith("#!") else "#!/bin/bash\n" + text)
        (folder / name).chmod((folder / name).stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM", str(folder))
    return folder


def test_a_slurm_sweep_is_one_job_array_with_the_files_settings_and_the_flags_on_top(
    tmp_path, tiny, fake_slurm, monkeypatch
):
    monkeypatch.setattr(sweep, "SLURM_POLL_S", 0.5)
    settings = "slurm: {partition: cpu, cpus_per_run: 2, args: {account: lab, qos: low}}\n"
    file = tiny_sweep(tmp_path, fail_seed=-1, extra=settings)
    flags = {"partition": "gpu", "gpus_per_run": 1, "timeout_min": 30, "args": {"qos": "high"}}
    manifest = run_sweep(file, progress=False, slurm=flags)
    sbatch = (fake_slurm / "sbatch.sh").read_text().splitlines()
    for line in ("--array=0-2%2", "--partition=gpu", "--gpus-per-node=1", "--cpus-per-task=2",
                 "--time=30", "--account=lab", "--qos=high"):  # fmt: skip
        assert f"#SBATCH {line}" in sbatch
    runs = manifest["runs"]
    assert sorted(run["job_id"] for run in runs.values()) == ["42_0", "42_1", "42_2"]
    assert all(run["executor"] == "slurm" and run["status"] == "done" for run in runs.values())
    assert manifest["threads_per_run"] == 2 and result(tmp_path, "tiny__seed-2")["threads"] == "2"
    assert manifest["slurm"]["partition"] == "gpu"


def test_slurm_settings_become_submitit_parameters_and_need_slurm(tmp_path, tiny, monkeypatch):
    settings = {"partition": "gpu", "gpus_per_run": 4, "cpus_per_run": 32, "args": {"qos": "high"}}
    parameters = slurm_parameters(settings, workers=8, name="ssv-s")
    assert parameters["partition"] == "gpu" and parameters["array_parallelism"] == 8
    assert parameters["gpus_per_node"] == 4 and parameters["cpus_per_task"] == 32
    assert parameters["additional_parameters"] == {"qos": "high"}
    assert parameters["time"] == sweep.SLURM_TIMEOUT_MIN  # a limit, whatever the partition's
    monkeypatch.setenv("PATH", str(tmp_path))  # no srun
    with pytest.raises(SweepError, match="no Slurm here"):
        run_sweep(tiny_sweep(tmp_path, fail_seed=-1), progress=False, slurm={})
    assert not (tmp_path / "runs").exists()
