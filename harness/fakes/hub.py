"""A HuggingFace-like model hub: metadata at `GET /api/models/{org}/{name}`, file bytes at
`GET /{org}/{name}/resolve/{revision}/{file}` (HEAD and `Range: bytes=` honoured).

File content is deterministic (a repeated digest of the repo and file name), so a downloader's
result can be checked byte for byte without storing anything. Two script channels: "metadata"
and "file" (the default), each with its own attempt count.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from harness.fakes.core import Chunk, FakeServer, Incoming, Plan, Routed, json_plan
from harness.fakes.script import Disconnect, Reply, Script, ScriptReply, Stream, Transfer
from harness.history import Recorder

METADATA = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)$")
RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<revision>[^/]+)/(?P<file>.+)$")
RANGE = re.compile(r"^bytes=(?P<start>\d+)-(?P<end>\d*)$")
ERROR_CODES = {401: "GatedRepo", 403: "GatedRepo", 404: "RepoNotFound"}


@dataclass(frozen=True)
class HubModel:
    repo_id: str                        # "org/name"
    size_bytes: int
    required_vram_mib: int
    filename: str = "model.gguf"
    extra_files: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.repo_id.count("/") != 1:
            raise ValueError(f"repo_id must be 'org/name', got {self.repo_id!r}")
        object.__setattr__(self, "extra_files", MappingProxyType(dict(self.extra_files)))

    @property
    def files(self) -> dict[str, int]:
        return {self.filename: self.size_bytes, **self.extra_files}

    @property
    def commit(self) -> str:
        return hashlib.sha1(self.repo_id.encode()).hexdigest()


def file_bytes(repo_id: str, filename: str, start: int, end: int) -> bytes:
    """Bytes [start, end) of the file's deterministic content."""
    block = hashlib.sha256(f"{repo_id}/{filename}".encode()).digest()
    first = start % len(block)
    length = end - start
    repeats = (first + length) // len(block) + 1
    return (block * repeats)[first:first + length]


@functools.lru_cache(maxsize=64)
def file_sha256(repo_id: str, filename: str, size: int) -> str:
    digest = hashlib.sha256()
    for offset in range(0, size, 1 << 20):
        digest.update(file_bytes(repo_id, filename, offset, min(size, offset + (1 << 20))))
    return digest.hexdigest()


def partial_copies(directories: Iterable[Path], models: Iterable[HubModel]) -> list[tuple[Path, str, str, int, int]]:
    """Files under `directories` that hold the start of a file the hub serves but not all of it
    (an empty file named as one counts): (path, repo, file name, size, full size) each."""
    files = [(m.repo_id, name, size) for m in models for name, size in m.files.items()]
    found = []
    for directory in directories:
        for path in sorted(p for p in Path(directory).rglob("*") if p.is_file()):
            data = path.read_bytes()
            for repo, name, total in files:
                prefix = data == file_bytes(repo, name, 0, len(data)) if data else path.name == name
                if len(data) < total and prefix:
                    found.append((path, repo, name, len(data), total))
                    break
    return found


class FakeHub(FakeServer):
    def __init__(self, name: str, recorder: Recorder, models: Iterable[HubModel] = (),
                 token: str | None = None) -> None:
        super().__init__(f"hub:{name}", recorder)
        self.name = name
        self.token = token
        self._models = {model.repo_id: model for model in models}

    def add_model(self, model: HubModel) -> None:
        self._models[model.repo_id] = model

    @property
    def models(self) -> dict[str, HubModel]:
        return dict(self._models)

    def set_script(self, script: Script, channel: str = "file") -> None:
        if channel not in ("file", "metadata"):
            raise ValueError(f"hub script channel must be 'file' or 'metadata', got {channel!r}")
        if any(isinstance(r, Stream) for r in (*script.replies, script.then)):
            raise ValueError("a hub script cannot contain a provider Stream")
        super().set_script(script, channel)

    def route(self, request: Incoming) -> Routed:
        if request.method not in ("GET", "HEAD"):
            return Routed(_error(405, "Method not allowed"), "method not allowed")
        metadata, resolve = METADATA.match(request.path), RESOLVE.match(request.path)
        if metadata is None and resolve is None:
            return Routed(_error(404, "Not found"), "unknown path", counted=False)
        if self.token is not None and request.headers.get("authorization") != f"Bearer {self.token}":
            return Routed(_error(401, "Invalid credentials in Authorization header"), "auth failed")
        channel = "metadata" if metadata else "file"
        attempt, reply = self.next_reply(channel)
        if isinstance(reply, Disconnect):
            plan = Plan(disconnect=True, reset=reply.reset, delay_before_headers=reply.delay)
        elif isinstance(reply, Reply) and (reply.status >= 400 or reply.body is not None):
            plan = _scripted_reply(reply)
        elif metadata is not None:
            plan = self._metadata(metadata["repo"], reply)
        else:
            assert resolve is not None
            transfer = reply if isinstance(reply, Transfer) else Transfer()
            plan = self._file(resolve["repo"], resolve["file"], request, transfer)
        return Routed(plan, reply.describe(), attempt)

    def _metadata(self, repo_id: str, reply: ScriptReply) -> Plan:
        model = self._models.get(repo_id)
        if model is None:
            return _error(404, "Repository not found")
        org = repo_id.split("/")[0]
        body = {"_id": model.commit[:24], "id": repo_id, "modelId": repo_id, "author": org,
                "sha": model.commit, "private": False, "gated": False, "disabled": False,
                "library_name": "gguf", "pipeline_tag": "text-generation", "tags": ["gguf"],
                "siblings": [{"rfilename": name, "size": size} for name, size in model.files.items()],
                "usedStorage": sum(model.files.values()),
                "required_vram_mib": model.required_vram_mib}
        if not isinstance(reply, Transfer):
            delay = reply.delay_before_headers if isinstance(reply, Reply) else 0.0
            return json_plan(200, body, {}, delay)
        # A Transfer's byte faults apply to the metadata document as well.
        data = json.dumps(body).encode()
        cut, stall = reply.cut_after_bytes, reply.stall_after_bytes
        spans = _Spans(0, len(data), reply.chunk_size, frozenset(m for m in (cut, stall) if m is not None))
        chunks = (Chunk(data[a:b], reply.chunk_delay) for a, b in spans)
        headers = {"content-type": "application/json", "content-length": str(len(data))}
        return Plan(200, headers, chunks, reply.delay_before_headers, spans.count_before(cut),
                    spans.count_before(stall), reply.reset)

    def _file(self, repo_id: str, filename: str, request: Incoming, transfer: Transfer) -> Plan:
        model = self._models.get(repo_id)
        if model is None:
            return _error(404, "Repository not found")
        size = model.files.get(filename)
        if size is None:
            return _error(404, f"Entry not found: {filename}", "EntryNotFound")
        start, end, status = 0, size, 200
        headers = {"content-type": "application/octet-stream", "accept-ranges": "bytes",
                   "etag": f'"{file_sha256(repo_id, filename, size)}"', "x-repo-commit": model.commit}
        wanted = RANGE.match(request.headers.get("range", ""))
        if wanted is not None:
            start = int(wanted["start"])
            end = min(size, int(wanted["end"]) + 1) if wanted["end"] else size
            if start >= size or end <= start:
                return Plan(416, {"content-range": f"bytes */{size}", "content-length": "0"})
            status = 206
            headers["content-range"] = f"bytes {start}-{end - 1}/{size}"
        headers["content-length"] = str(end - start)
        if request.method == "HEAD":
            return Plan(status, headers, (), transfer.delay_before_headers)
        cut, stall = transfer.cut_after_bytes, transfer.stall_after_bytes
        spans = _Spans(start, end, transfer.chunk_size, frozenset(m for m in (cut, stall) if m is not None))
        chunks = (Chunk(file_bytes(repo_id, filename, a, b), transfer.chunk_delay) for a, b in spans)
        return Plan(status, headers, chunks, transfer.delay_before_headers, spans.count_before(cut),
                    spans.count_before(stall), transfer.reset)


@dataclass(frozen=True)
class _Spans:
    """[start, end) in `size` pieces, split so that every mark (absolute offset) is a boundary;
    computed lazily, as files may be large."""
    start: int
    end: int
    size: int
    marks: frozenset[int]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        offset = self.start
        while offset < self.end:
            stop = min(self.end, offset + max(1, self.size))
            stop = min([stop, *(m for m in self.marks if offset < m < stop)])
            yield offset, stop
            offset = stop

    def count_before(self, mark: int | None) -> int | None:
        return None if mark is None else sum(1 for a, _ in self if a < mark)


def _error(status: int, message: str, code: str | None = None) -> Plan:
    headers = {"x-error-code": code or ERROR_CODES.get(status, "Error"), "x-error-message": message}
    return json_plan(status, {"error": message}, headers)


def _scripted_reply(reply: Reply) -> Plan:
    body: Any = reply.body if reply.body is not None else {"error": reply.message or f"HTTP {reply.status}"}
    headers = {"x-error-code": ERROR_CODES.get(reply.status, "Error")} if reply.status >= 400 else {}
    return json_plan(reply.status, body, {**headers, **reply.headers}, reply.delay_before_headers)
