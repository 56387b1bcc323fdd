"""The GPU plan: a JSON file that both fakes read, so nvidia-smi and the workers agree.

Durations in the plan are spec seconds; the fakes multiply them by `time_scale` before waiting.
Loading is strict (unknown keys are errors) so a typo in a fault never silently means "no fault".
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PLAN_ENV = "FAULTLINE_GPU_PLAN"


class PlanError(ValueError):
    """The plan file is missing, not JSON, or does not have the expected shape."""

    def __init__(self, path: Path | str, key: str, problem: str) -> None:
        self.path, self.key, self.problem = str(path), key, problem
        super().__init__(f"GPU plan {path}: {key}: {problem}" if key else f"GPU plan {path}: {problem}")


@dataclass(frozen=True)
class DeviceFaults:
    init_failure: bool = False
    oom_at_load: bool = False
    oom_after_tokens: int | None = None
    crash_after_tokens: int | None = None
    hang_after_tokens: int | None = None
    fail_after_tokens: int | None = None      # an in-band INFERENCE_FAILED error; the worker lives on
    ignore_sigterm: bool = False
    slow_load_seconds: float = 0.0


@dataclass(frozen=True)
class Device:
    index: int
    name: str = "NVIDIA Fake A100"
    memory_total_mib: int = 81920
    memory_free_mib: int = 81000
    faults: DeviceFaults = field(default_factory=DeviceFaults)


@dataclass(frozen=True)
class WorkerDefaults:
    tokens_per_inference: int = 8
    token_interval_seconds: float = 0.05


@dataclass(frozen=True)
class GpuPlan:
    devices: tuple[Device, ...] = ()
    worker: WorkerDefaults = field(default_factory=WorkerDefaults)
    time_scale: float = 1.0

    def device(self, index: int) -> Device | None:
        return next((d for d in self.devices if d.index == index), None)

    def real_seconds(self, spec_seconds: float) -> float:
        return spec_seconds * self.time_scale


class _Reader:
    """Typed access to one JSON object, with errors that name the file and the key path."""

    def __init__(self, path: Path | str, where: str, data: object) -> None:
        if not isinstance(data, dict):
            raise PlanError(path, where, f"expected an object, got {type(data).__name__}")
        self.path, self.where, self.data = path, where, data
        self._used: set[str] = set()

    def _key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def _get(self, name: str, kinds: tuple[type, ...], label: str, default: Any) -> Any:
        self._used.add(name)
        if name not in self.data or self.data[name] is None:
            return default
        value = self.data[name]
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            raise PlanError(self.path, self._key(name), f"expected {label}, got {json.dumps(value)}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        return bool(self._get(name, (bool,), "true or false", default))

    def integer(self, name: str, default: int | None, minimum: int = 0) -> int | None:
        value = self._get(name, (int,), "an integer", default)
        if value is not None and value < minimum:
            raise PlanError(self.path, self._key(name), f"must be >= {minimum}, got {value}")
        return int(value) if value is not None else None

    def required_int(self, name: str, minimum: int = 0) -> int:
        if name not in self.data:
            raise PlanError(self.path, self._key(name), "is required")
        value = self.integer(name, None, minimum)
        assert value is not None
        return value

    def number(self, name: str, default: float, *, positive: bool = False) -> float:
        value = float(self._get(name, (int, float), "a number", default))
        if value < 0 or (positive and value == 0):
            raise PlanError(self.path, self._key(name), f"must be {'> 0' if positive else '>= 0'}, got {value}")
        return value

    def string(self, name: str, default: str) -> str:
        return str(self._get(name, (str,), "a string", default))

    def child(self, name: str) -> _Reader:
        self._used.add(name)
        return _Reader(self.path, self._key(name), self.data.get(name) or {})

    def items(self, name: str) -> list[_Reader]:
        value = self._get(name, (list,), "a list", [])
        return [_Reader(self.path, f"{self._key(name)}[{i}]", item) for i, item in enumerate(value)]

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self._used)
        if unknown:
            raise PlanError(self.path, self._key(unknown[0]), "unknown key")


def _faults(r: _Reader) -> DeviceFaults:
    faults = DeviceFaults(
        init_failure=r.boolean("init_failure", False),
        oom_at_load=r.boolean("oom_at_load", False),
        oom_after_tokens=r.integer("oom_after_tokens", None),
        crash_after_tokens=r.integer("crash_after_tokens", None),
        hang_after_tokens=r.integer("hang_after_tokens", None),
        fail_after_tokens=r.integer("fail_after_tokens", None),
        ignore_sigterm=r.boolean("ignore_sigterm", False),
        slow_load_seconds=r.number("slow_load_seconds", 0.0),
    )
    r.finish()
    return faults


def _device(r: _Reader) -> Device:
    total = r.integer("memory_total_mib", 81920)
    assert total is not None
    free = r.integer("memory_free_mib", min(total, 81000))
    assert free is not None
    if free > total:
        raise PlanError(r.path, r._key("memory_free_mib"), f"{free} exceeds memory_total_mib {total}")
    device = Device(index=r.required_int("index"), name=r.string("name", "NVIDIA Fake A100"),
                    memory_total_mib=total, memory_free_mib=free, faults=_faults(r.child("faults")))
    r.finish()
    return device


def parse_plan(data: object, path: Path | str = "<memory>") -> GpuPlan:
    root = _Reader(path, "", data)
    devices = tuple(_device(item) for item in root.items("devices"))
    seen: set[int] = set()
    for i, device in enumerate(devices):
        if device.index in seen:
            raise PlanError(path, f"devices[{i}].index", f"device {device.index} appears twice")
        seen.add(device.index)
    w = root.child("worker")
    tokens = w.integer("tokens_per_inference", WorkerDefaults.tokens_per_inference, minimum=1)
    assert tokens is not None
    worker = WorkerDefaults(tokens, w.number("token_interval_seconds", WorkerDefaults.token_interval_seconds))
    w.finish()
    plan = GpuPlan(devices, worker, root.number("time_scale", 1.0, positive=True))
    root.finish()
    return plan


def load_plan(path: Path | str) -> GpuPlan:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PlanError(path, "", f"cannot read: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanError(path, "", f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    return parse_plan(data, path)


def plan_to_json(plan: GpuPlan) -> dict[str, Any]:
    data = asdict(plan)
    data["devices"] = list(data["devices"])
    return data


def write_plan(plan: GpuPlan, path: Path | str) -> Path:
    """Write atomically: a fake that reads while a step rewrites must see the old or the new plan."""
    target = Path(path)
    scratch = target.with_name(f".{target.name}.tmp")
    scratch.write_text(json.dumps(plan_to_json(plan), indent=2) + "\n", encoding="utf-8")
    scratch.replace(target)
    return target
