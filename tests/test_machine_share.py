"""The machine-share lock of `make test`: an exclusive holder waits out the shared ones and keeps
later ones out until it is done."""

from __future__ import annotations

import fcntl
import threading
from pathlib import Path

from harness.wait import wait_until
from tests.machine_share import machine_share


def _turnstile_taken(root: Path) -> bool:
    with (root / "machine-share.turnstile").open("a") as file:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(file, fcntl.LOCK_UN)
        return False


def test_an_exclusive_holder_waits_for_the_shared_ones_and_keeps_later_ones_out(tmp_path: Path) -> None:
    order: list[str] = []
    inside = {name: threading.Event() for name in "abc"}
    leave = {name: threading.Event() for name in "abc"}

    def hold(name: str, exclusive: bool) -> None:
        with machine_share(tmp_path, exclusive):
            order.append(f"{name} in")
            inside[name].set()
            leave[name].wait(10)
            order.append(f"{name} out")

    holders = {"a": threading.Thread(target=hold, args=("a", False)),
               "b": threading.Thread(target=hold, args=("b", True)),
               "c": threading.Thread(target=hold, args=("c", False))}
    holders["a"].start()
    assert inside["a"].wait(5)
    holders["b"].start()
    wait_until(lambda: _turnstile_taken(tmp_path), timeout=5, what="the exclusive holder waiting at the turnstile")
    holders["c"].start()
    leave["c"].set()
    assert not inside["b"].wait(0.2), "the exclusive holder got in while a shared one held the machine"
    leave["a"].set()
    assert inside["b"].wait(5)
    assert not inside["c"].wait(0.2), "a shared holder got in beside the exclusive one"
    leave["b"].set()
    for thread in holders.values():
        thread.join(5)
    assert order == ["a in", "a out", "b in", "b out", "c in", "c out"]
