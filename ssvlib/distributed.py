"""Several processes, one run: what `fit` needs to train under torchrun.

``torchrun --nproc_per_node N -m ssvlib.cli pretrain ...`` starts N processes with RANK, WORLD_SIZE
and LOCAL_RANK in their environment. `start()` joins them into one process group (NCCL between
GPUs, gloo on CPUs) and gives each its device. From there the rest of ssvlib asks `rank()` and
`world_size()`: the training loader hands each process its share of every global batch
(`ssvlib.data.loader.EpochSampler`), `fit` wraps the model in DistributedDataParallel, sums the epoch's
loss and accuracy over the processes, and only rank 0 writes checkpoints. Outside torchrun every
function here answers as a single process does.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def active() -> bool:
    """True inside a process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 outside a process group)."""
    return dist.get_rank() if active() else 0


def world_size() -> int:
    """How many processes train together (1 outside a process group)."""
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """True for the process that writes files and prints: rank 0."""
    return rank() == 0


def start() -> torch.device:
    """Join torchrun's process group when its environment says so; this process's device."""
    if "WORLD_SIZE" not in os.environ or int(os.environ["WORLD_SIZE"]) < 2:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    local = int(os.environ.get("LOCAL_RANK", 0))
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def stop() -> None:
    """Leave the process group (at the end of a script)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait for every process (no-op for one)."""
    if active():
        dist.barrier()


def sum_over_processes(*values: float) -> list[float]:
    """Each value summed over the processes (unchanged for one)."""
    if not active():
        return list(values)
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"  # NCCL reduces GPU tensors only
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def gather_lists(items: list) -> list:
    """Every process's list, concatenated in rank order (unchanged for one)."""
    if not active():
        return list(items)
    gathered: list[list] = [[] for _ in range(world_size())]
    dist.all_gather_object(gathered, list(items))
    return [item for part in gathered for item in part]


def wrap(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """`model` as the training steps call it: in DistributedDataParallel under torchrun, which
    averages the gradients over the processes at every step (on GPUs with batch norm over the
    global batch, as on one process); `model` itself otherwise."""
    if not active():
        return model
    from torch.nn.parallel import DistributedDataParallel

    if device.type == "cuda":
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
