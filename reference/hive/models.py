"""Models on local disk: fetched from the hub once (partial in temp_dir, moved into models_dir)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from reference.hive.hub import Hub, ModelInfo
from reference.hive.validation import ModelRef

METADATA = ".hive-model.json"
WEIGHT_SUFFIXES = (".gguf", ".safetensors", ".bin")


class ModelStore:
    def __init__(self, models_dir: Path, hub: Hub) -> None:
        self.models_dir, self.hub = models_dir, hub
        self._locks: dict[str, asyncio.Lock] = {}
        self._seen: dict[str, ModelInfo] = {}

    def directory(self, ref: ModelRef) -> Path:
        return self.models_dir / ref.provider / ref.org / ref.name

    def cached(self, ref: ModelRef) -> ModelInfo | None:
        meta = self.directory(ref) / METADATA
        try:
            raw = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        info = ModelInfo(ref.text, tuple(raw.get("files") or ()), raw.get("required_vram_mib"))
        if all((self.directory(ref) / f).is_file() for f in info.files):
            return info
        return None

    def known(self) -> list[ModelInfo]:
        """Every model whose metadata the hive has seen or keeps on disk (alternatives, no hub call)."""
        found = list(self._seen.values())
        for meta in self.models_dir.glob(f"*/*/*/{METADATA}"):
            try:
                raw = json.loads(meta.read_text(encoding="utf-8"))
                found.append(ModelInfo(str(raw["ref"]), tuple(raw.get("files") or ()),
                                       raw.get("required_vram_mib")))
            except (OSError, ValueError, KeyError):
                continue
        return found

    def path(self, ref: ModelRef, info: ModelInfo) -> Path:
        """What the worker gets as --model: the weights file if there is one, else the directory."""
        weights = [f for f in info.files if f.endswith(WEIGHT_SUFFIXES)] or list(info.files)
        return self.directory(ref) / weights[0] if weights else self.directory(ref)

    async def ensure(self, ref: ModelRef, cid: str) -> tuple[ModelInfo, bool]:
        """The model's metadata, downloading what is missing; True when it was already on disk."""
        lock = self._locks.setdefault(ref.text, asyncio.Lock())
        async with lock:
            info = self.cached(ref)
            if info is not None:
                return info, True
            info = await self.hub.model_info(ref, cid)
            self._seen[ref.text] = info
            directory = self.directory(ref)
            for file in info.files:
                if not (directory / file).is_file():
                    await self.hub.download(ref, file, directory / file, cid)
            directory.mkdir(parents=True, exist_ok=True)
            (directory / METADATA).write_text(json.dumps(
                {"ref": ref.text, "files": list(info.files), "required_vram_mib": info.required_vram_mib}),
                encoding="utf-8")
            return info, False
