"""A fake `nvidia-smi` that answers from the GPU plan the way the real tool does.

Supported: `--query-gpu=<fields> --format=csv[,noheader][,nounits]` (optionally `-i/--id`), `-L`,
and no arguments (a short summary). A plan with no devices is a machine whose driver is missing:
exit 9 and the real tool's message. Anything else is rejected like the real tool rejects it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TextIO

from fault_injection.gpu.journal import Journal
from fault_injection.gpu.plan import PLAN_ENV, Device, GpuPlan, PlanError, load_plan

NO_DRIVER_EXIT = 9
BAD_ARGS_EXIT = 2
NO_DRIVER = ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
             "Make sure that the latest NVIDIA driver is installed and running.")
BAD_ARGS = "Invalid combination of input arguments. Please run 'nvidia-smi -h' for help."


def _uuid(device: Device) -> str:
    return f"GPU-fa17e000-0000-4000-8000-{device.index:012d}"


# field -> (header, unit, value)
FIELDS: dict[str, tuple[str, str, Callable[[Device], str]]] = {
    "index": ("index", "", lambda d: str(d.index)),
    "name": ("name", "", lambda d: d.name),
    "uuid": ("uuid", "", _uuid),
    "memory.total": ("memory.total [MiB]", " MiB", lambda d: str(d.memory_total_mib)),
    "memory.free": ("memory.free [MiB]", " MiB", lambda d: str(d.memory_free_mib)),
    "memory.used": ("memory.used [MiB]", " MiB", lambda d: str(d.memory_total_mib - d.memory_free_mib)),
}


class UsageError(Exception):
    pass


def _option(argv: list[str], name: str, short: str | None = None) -> str | None:
    for i, arg in enumerate(argv):
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
        if arg in (name, short) and i + 1 < len(argv):
            return argv[i + 1]
    return None


def _selected(plan: GpuPlan, argv: list[str]) -> list[Device]:
    wanted = _option(argv, "--id", "-i")
    if wanted is None:
        return list(plan.devices)
    try:
        indexes = {int(part) for part in wanted.split(",")}
    except ValueError:
        raise UsageError(BAD_ARGS) from None
    found = [d for d in plan.devices if d.index in indexes]
    if len(found) != len(indexes):
        raise UsageError("No devices were found")
    return found


def query(plan: GpuPlan, argv: list[str], out: TextIO) -> None:
    fields = [f.strip() for f in (_option(argv, "--query-gpu") or "").split(",")]
    for name in fields:
        if name not in FIELDS:
            raise UsageError(f'Field "{name}" is not a valid field to query.\n\n'
                             "Please run 'nvidia-smi --help-query-gpu' for more info.")
    fmt = _option(argv, "--format")
    if fmt is None:
        raise UsageError('"--format" option must be used with "--query-gpu".')
    flags = {f.strip() for f in fmt.split(",")}
    if "csv" not in flags or not flags <= {"csv", "noheader", "nounits"}:
        raise UsageError(f'"{fmt}" is not a valid format.')
    if "noheader" not in flags:
        out.write(", ".join(FIELDS[f][0] if "nounits" not in flags else f for f in fields) + "\n")
    for device in _selected(plan, argv):
        cells = [FIELDS[f][2](device) + ("" if "nounits" in flags else FIELDS[f][1]) for f in fields]
        out.write(", ".join(cells) + "\n")


def list_gpus(plan: GpuPlan, out: TextIO) -> None:
    for device in plan.devices:
        out.write(f"GPU {device.index}: {device.name} (UUID: {_uuid(device)})\n")


def summary(plan: GpuPlan, out: TextIO) -> None:
    out.write("| GPU  Name                 | Memory-Usage          |\n")
    for d in plan.devices:
        out.write(f"| {d.index:<4} {d.name[:20]:<20} | {d.memory_total_mib - d.memory_free_mib:>6}MiB / "
                  f"{d.memory_total_mib:>6}MiB |\n")


def run(argv: list[str], plan: GpuPlan, out: TextIO, err: TextIO) -> int:
    if not plan.devices:
        out.write(NO_DRIVER + "\n\n")
        return NO_DRIVER_EXIT
    try:
        if any(a.startswith("--query-gpu") for a in argv):
            query(plan, argv, out)
        elif argv in (["-L"], ["--list-gpus"]):
            list_gpus(plan, out)
        elif not argv:
            summary(plan, out)
        else:
            raise UsageError(BAD_ARGS)
    except UsageError as exc:
        err.write(f"{exc}\n")
        return BAD_ARGS_EXIT
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    journal = Journal.from_env()
    path = os.environ.get(PLAN_ENV)
    if not path:
        sys.stderr.write(f"fake nvidia-smi: {PLAN_ENV} is not set\n")
        code = 1
    else:
        try:
            code = run(args, load_plan(path), sys.stdout, sys.stderr)
        except PlanError as exc:
            sys.stderr.write(f"fake nvidia-smi: {exc}\n")
            code = 1
    journal.write("nvidia_smi", argv=args, exit_code=code)
    return code


if __name__ == "__main__":
    exit_code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Gone at once, without the interpreter's teardown: that is the fake's own cost, and a hive's
    # "exits at once" is timed from this query (a loaded machine made it 0.15 s of a 0.14 s budget).
    os._exit(exit_code)
