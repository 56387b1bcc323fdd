"""Stop requests (Ctrl-C, SIGTERM) in a pytest process: raised as KeyboardInterrupt, except inside
`stop_requests_deferred`, where they wait for the block to end."""

from __future__ import annotations

import os
import signal

import pytest

from harness.stop_signals import install_stop_handlers, stop_requests_deferred


@pytest.fixture(autouse=True)
def handlers() -> None:
    install_stop_handlers()


def test_a_stop_request_is_a_keyboard_interrupt_at_once() -> None:
    steps = []
    with pytest.raises(KeyboardInterrupt, match="stopped by signal SIGINT"):
        os.kill(os.getpid(), signal.SIGINT)
        steps.append("after the signal")
    assert steps == []


def test_inside_the_block_a_stop_request_waits_for_its_end() -> None:
    steps = []
    with pytest.raises(KeyboardInterrupt, match="stopped by signal SIGINT"):
        with stop_requests_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            steps.append("after the signal")
            with stop_requests_deferred():  # nested blocks: raised when the outermost ends
                steps.append("nested")
            steps.append("end of the block")
        steps.append("after the block")
    assert steps == ["after the signal", "nested", "end of the block"]


def test_a_block_without_a_stop_request_raises_nothing() -> None:
    with stop_requests_deferred():
        pass
