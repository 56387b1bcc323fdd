"""The clause catalogue and the closed error-code vocabulary, loaded from the YAML beside this file.

These two files are the single source of truth: features tag scenarios with clause IDs, the
pytest plugin registers those IDs as strict markers, reference implementations take their error
codes from the vocabulary, and reports list clauses from here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml

HERE = Path(__file__).parent
CLAUSE_ID = re.compile(r"^(HIVE|GW)-[A-Z]+-\d{3}$")
CODE_NAME = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$")
Level = Literal["MUST", "SHOULD"]
Profile = Literal["hive", "gateway"]
PROFILES: tuple[Profile, ...] = ("hive", "gateway")


class CatalogueFileError(ValueError):
    def __init__(self, path: Path, where: str, problem: str) -> None:
        super().__init__(f"{path}: {where}: {problem}")


@dataclass(frozen=True)
class Clause:
    id: str
    level: Level
    profile: Profile
    area: str
    text: str
    source: str
    feature: str | None = None
    timed: bool = False
    releases: bool = False   # outside the cleanup area: about letting go within the cleanup timeout


@dataclass(frozen=True)
class ErrorCode:
    code: str
    status: int
    category: str
    retryable: bool
    required_details: tuple[str, ...]
    profiles: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True)
class Catalogue:
    clauses: Mapping[str, Clause]
    optional_features: Mapping[str, str]

    def for_profile(self, profile: str) -> list[Clause]:
        return [c for c in self.clauses.values() if c.profile == profile]


@dataclass(frozen=True)
class Vocabulary:
    codes: Mapping[str, ErrorCode]

    def __getitem__(self, code: str) -> ErrorCode:
        return self.codes[code]

    def __contains__(self, code: object) -> bool:
        return code in self.codes


def _read(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogueFileError(path, "file", str(exc)) from exc


def _require(path: Path, where: str, entry: Mapping[str, Any], key: str, kind: type) -> Any:
    if key not in entry:
        raise CatalogueFileError(path, where, f"missing key {key!r}")
    value = entry[key]
    if not isinstance(value, kind):
        raise CatalogueFileError(path, where, f"{key!r} must be {kind.__name__}, got {value!r}")
    return value


def load_catalogue(path: Path = HERE / "clauses.yaml") -> Catalogue:
    raw = _read(path) or {}
    features: dict[str, str] = dict(raw.get("optional_features") or {})
    clauses: dict[str, Clause] = {}
    for index, entry in enumerate(raw.get("clauses") or []):
        where = f"clauses[{index}]"
        clause_id = _require(path, where, entry, "id", str)
        where = f"clause {clause_id}"
        if not CLAUSE_ID.match(clause_id):
            raise CatalogueFileError(path, where, "id must look like HIVE-AREA-001 or GW-AREA-001")
        if clause_id in clauses:
            raise CatalogueFileError(path, where, "duplicate id")
        level = _require(path, where, entry, "level", str)
        if level not in ("MUST", "SHOULD"):
            raise CatalogueFileError(path, where, f"level must be MUST or SHOULD, got {level!r}")
        profile = _require(path, where, entry, "profile", str)
        if profile not in PROFILES:
            raise CatalogueFileError(path, where, f"profile must be one of {PROFILES}, got {profile!r}")
        feature = entry.get("feature")
        if feature is not None and feature not in features:
            raise CatalogueFileError(path, where, f"feature {feature!r} is not in optional_features")
        clauses[clause_id] = Clause(
            id=clause_id, level=level, profile=profile,
            area=_require(path, where, entry, "area", str),
            text=_require(path, where, entry, "text", str).strip(),
            source=_require(path, where, entry, "source", str),
            feature=feature, timed=bool(entry.get("timed", False)), releases=bool(entry.get("releases", False)))
    return Catalogue(clauses, features)


def load_vocabulary(path: Path = HERE / "error_codes.yaml") -> Vocabulary:
    raw = _read(path) or {}
    codes: dict[str, ErrorCode] = {}
    for index, entry in enumerate(raw.get("codes") or []):
        code = _require(path, f"codes[{index}]", entry, "code", str)
        where = f"code {code}"
        if not CODE_NAME.match(code):
            raise CatalogueFileError(path, where, "codes are UPPER_SNAKE_CASE")
        if code in codes:
            raise CatalogueFileError(path, where, "duplicate code")
        details = tuple(_require(path, where, entry, "required_details", list))
        if "suggested_action" not in details:
            raise CatalogueFileError(path, where, "required_details must include suggested_action")
        codes[code] = ErrorCode(
            code=code, status=_require(path, where, entry, "status", int),
            category=_require(path, where, entry, "category", str),
            retryable=_require(path, where, entry, "retryable", bool),
            required_details=details,
            profiles=tuple(entry.get("profiles") or PROFILES),
            description=str(entry.get("description", "")))
    return Vocabulary(codes)


@cache
def catalogue() -> Catalogue:
    return load_catalogue()


@cache
def vocabulary() -> Vocabulary:
    return load_vocabulary()
