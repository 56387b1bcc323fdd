"""The journal reader: concurrent appends stay whole lines, helpers filter by kind and worker."""

from __future__ import annotations

from pathlib import Path

from fault_injection.gpu.journal import Journal, WorkerJournal, read_journal


def test_helpers_filter_by_worker_backend_and_kind(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    a, b = Journal(path, worker_id="w-a"), Journal(path, worker_id="w-b")
    a.write("start", backend="cuda", device=0, argv=[])
    b.write("start", backend="cpu", device=0, argv=[])
    a.write("signal", signal="SIGTERM", ignored=True)
    b.write("signal", signal="SIGINT", ignored=False)
    b.write("exit", code=0, reason="SIGINT")
    with path.open("a") as torn:
        torn.write('{"kind": "exit", "co')  # a writer caught mid-line
    journal = WorkerJournal(path)
    assert [e.worker_id for e in journal.workers_started(backend="cpu")] == ["w-b"]
    assert journal.workers_started(backend="cuda", device=1) == []
    assert journal.signals_received("w-a") == ["SIGTERM"] and journal.signals_received() == ["SIGTERM", "SIGINT"]
    assert journal.exits("w-a") == [] and journal.exits("w-b") == [0]
    assert len(read_journal(path)) == 5


def test_no_path_records_nothing_and_a_missing_file_reads_empty(tmp_path: Path) -> None:
    Journal(None).write("start")
    assert read_journal(tmp_path / "absent.jsonl") == []
