"""The tests' runs of faultline and pytest stop as a user stops them: one SIGTERM, then a wait for
their cleanup, on Ctrl-C of the test run and on a timeout."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from harness.wait import wait_until
from tests.commands import run_command

CHILD = """
import signal, sys, time
from pathlib import Path
marks = Path(sys.argv[1])
def stop(signum, frame):
    with marks.open("a") as out:
        out.write(f"stop {signal.Signals(signum).name}\\n")
    time.sleep(1.0)   # the cleanup a run does on a stop request
    with marks.open("a") as out:
        out.write("cleaned\\n")
    sys.exit(130)
signal.signal(signal.SIGTERM, stop)
marks.write_text("started\\n")
time.sleep(600)
"""


def test_a_ctrl_c_stops_the_run_once_and_waits_for_its_cleanup(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    started = threading.Thread(target=lambda: (wait_until(marks.exists, timeout=30.0, what="the child"),
                                               os.kill(os.getpid(), signal.SIGINT)))   # Ctrl-C, to this test
    started.start()
    with pytest.raises(KeyboardInterrupt):
        run_command([sys.executable, "-c", CHILD, str(marks)], timeout=60.0)
    started.join()
    assert marks.read_text() == "started\nstop SIGTERM\ncleaned\n"


def test_a_run_past_its_timeout_is_stopped_and_waited_for(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    with pytest.raises(subprocess.TimeoutExpired):
        run_command([sys.executable, "-c", CHILD, str(marks)], timeout=2.0)
    assert marks.read_text() == "started\nstop SIGTERM\ncleaned\n"
