"""No clause depends on an optional feature it does not name, read from the Gherkin and the steps.

A MUST clause outside every optional feature needs a scenario case that runs for every target
of its profile; a case that streams needs `streaming`, or a target that does not stream fails
it for the wrong reason. Each check is also run on a deliberately broken tree, to show it fails.
"""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Iterator
from pathlib import Path

from pytest_bdd import parsers
from pytest_bdd.parsers import StepParser

from catalogue import Catalogue, catalogue
from harness.coverage import (STREAMING_PHRASES, ScenarioCase, clauses_without_ungated_case, scenario_cases,
                              streaming_steps, streaming_without_feature)
from harness.plugin import PROJECT_ROOT

FEATURES = PROJECT_ROOT / "features"
STEPS = PROJECT_ROOT / "steps"
STEP_DECORATORS = ("given", "when", "then")


def test_every_must_clause_outside_a_feature_has_a_case_every_target_runs() -> None:
    missing = clauses_without_ungated_case(scenario_cases(FEATURES, catalogue(), PROJECT_ROOT), catalogue())
    assert not missing, "MUST clauses verified only under an optional feature or @slow: " + \
        ", ".join(c.id for c in missing)


def test_every_case_that_streams_needs_streaming() -> None:
    hidden = streaming_without_feature(scenario_cases(FEATURES, catalogue(), PROJECT_ROOT))
    assert not hidden, "cases that stream without needing `streaming`:\n" + \
        "\n".join(f"{case}: {streaming_steps(case)}" for case in hidden)


def test_every_step_that_streams_is_a_streaming_phrase() -> None:
    assert list(streaming_step_parsers(STEPS)), "no step definition streams: the scan below would prove nothing"
    problems = unlisted_streaming_steps(list(scenario_cases(FEATURES, catalogue(), PROJECT_ROOT)), STEPS)
    assert not problems, "\n".join(problems)


# -- the checks on broken trees --------------------------------------------------------------

def features(tmp_path: Path, text: str, known: Catalogue | None = None) -> list[ScenarioCase]:
    directory = tmp_path / "features"
    directory.mkdir(exist_ok=True)
    (directory / "demo.feature").write_text(textwrap.dedent(text))
    return list(scenario_cases(directory, known or catalogue(), tmp_path))


def only(*clause_ids: str) -> Catalogue:
    known = catalogue()
    return Catalogue({cid: known.clauses[cid] for cid in clause_ids}, known.optional_features)


GATED_CLAUSE = """
    @gateway
    Feature: Demo
      @GW-CLEANUP-002 {tags}
      Scenario: Demo
        Given provider "primary" speaks the openai wire format
        When a client sends a chat completion request
        Then provider "primary" received 6 requests
"""


def test_a_must_clause_tested_only_under_a_feature_or_slow_is_reported(tmp_path: Path) -> None:
    known = only("GW-CLEANUP-002")
    for tags in ("@feature-streaming", "@slow"):
        assert [c.id for c in clauses_without_ungated_case(features(tmp_path, GATED_CLAUSE.format(tags=tags)),
                                                           known)] == ["GW-CLEANUP-002"], tags
    assert not clauses_without_ungated_case(features(tmp_path, GATED_CLAUSE.format(tags="")), known)


OUTLINE = """
    @gateway
    Feature: Demo
      @GW-RETRY-001
      Scenario Outline: Demo <status>
        Given provider "primary" answers <status> 2 times, then streams "Hello"
        When a client {when}
        Then provider "primary" received 3 requests

        {first_tags}
        Examples:
          | status |
          | 503    |

        @feature-gemini_upstream
        Examples:
          | status |
          | 429    |
"""


def test_an_outline_counts_row_by_row_with_its_examples_tags(tmp_path: Path) -> None:
    known = only("GW-RETRY-001")
    plain = features(tmp_path, OUTLINE.format(when="sends a chat completion request", first_tags=""))
    assert [case.example for case in plain] == ["status=503", "status=429"]
    assert plain[0].needs == set() and plain[1].needs == {"gemini_upstream"}
    assert not clauses_without_ungated_case(plain, known)
    gated = features(tmp_path, OUTLINE.format(when="sends a chat completion request", first_tags="@feature-metrics"))
    assert [c.id for c in clauses_without_ungated_case(gated, known)] == ["GW-RETRY-001"]


def test_a_case_that_streams_without_needing_streaming_is_reported(tmp_path: Path) -> None:
    hidden = features(tmp_path, OUTLINE.format(when="streams a chat completion", first_tags=""))
    assert [case.example for case in streaming_without_feature(hidden)] == ["status=503", "status=429"]
    gated = features(tmp_path, OUTLINE.format(when="streams a chat completion", first_tags="@feature-streaming"))
    assert [case.example for case in streaming_without_feature(gated)] == ["status=429"]


QUIET_STEPS = '''
from pytest_bdd import parsers, when

@when(parsers.parse("{count:d} clients quietly start chat completion requests"))
def quiet(sut, count):
    for _ in range(count):
        start(sut.url, chat_body(stream=True))


def _open_stream(sut):
    return stream_chat(sut.url, chat_body(), {})


@when("a client opens a chat completion")
def through_a_helper(sut):
    _open_stream(sut)


@when("a client sends a chat completion request")
def plain(sut):
    send(sut.url, chat_body())
'''

QUIET_FEATURE = """
    @gateway
    Feature: Demo
      @GW-RETRY-001
      Scenario: Demo
        Given provider "primary" speaks the openai wire format
        When 2 clients quietly start chat completion requests
        And a client opens a chat completion
        And a client sends a chat completion request
        Then provider "primary" received 3 requests
"""


def test_a_step_that_streams_under_a_phrase_not_listed_is_reported(tmp_path: Path) -> None:
    steps = tmp_path / "steps"
    steps.mkdir()
    (steps / "quiet.py").write_text(QUIET_STEPS)
    problems = unlisted_streaming_steps(features(tmp_path, QUIET_FEATURE), steps)
    assert len(problems) == 2, problems
    assert "'2 clients quietly start chat completion requests'" in problems[0] + problems[1]
    assert "'a client opens a chat completion'" in problems[0] + problems[1]


# -- which step definitions stream ------------------------------------------------------------

def unlisted_streaming_steps(cases: list[ScenarioCase], steps_dir: Path) -> list[str]:
    """Feature steps that a streaming step definition runs but STREAMING_PHRASES does not name."""
    problems = set()
    for where, kind, parser in streaming_step_parsers(steps_dir):
        for case in cases:
            for step_type, text in case.steps:
                listed = any(phrase.search(text) for phrase in STREAMING_PHRASES)
                if step_type == kind and parser.is_matching(text) and not listed:
                    problems.add(f"{case}: {text!r} sends a streaming request ({where}), but no STREAMING_PHRASES "
                                 f"entry names it, so the case is not required to need `streaming`")
    return sorted(problems)


def streaming_step_parsers(steps_dir: Path) -> Iterator[tuple[str, str, StepParser]]:
    """Step definitions that pass stream=True to a call (the harness's request bodies take it as a
    keyword only) or call stream_chat, directly or through a function of their own module."""
    for path in sorted(steps_dir.glob("*.py")):
        functions = {node.name: node for node in ast.parse(path.read_text()).body if isinstance(node, ast.FunctionDef)}
        streaming = {name for name, node in functions.items() if _streams(node)}
        while True:
            callers = {name for name, node in functions.items() if _called_names(node) & streaming} - streaming
            if not callers:
                break
            streaming |= callers
        for name in sorted(streaming):
            node = functions[name]
            for decorator in node.decorator_list:
                step = _step_parser(decorator)
                if step is not None:
                    yield f"{path.name}:{node.lineno} {name}", *step


def _called_names(node: ast.AST) -> set[str]:
    names = set()
    for call in (n for n in ast.walk(node) if isinstance(n, ast.Call)):
        func = call.func
        names.add(func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else "")
    return names


def _streams(node: ast.FunctionDef) -> bool:
    keywords = (k for call in ast.walk(node) if isinstance(call, ast.Call) for k in call.keywords)
    asks = any(k.arg == "stream" and isinstance(k.value, ast.Constant) and k.value.value is True for k in keywords)
    return asks or "stream_chat" in _called_names(node)


def _step_parser(decorator: ast.expr) -> tuple[str, StepParser] | None:
    if not (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Name)
            and decorator.func.id in STEP_DECORATORS and decorator.args):
        return None
    name = decorator.args[0]
    if isinstance(name, ast.Call) and isinstance(name.func, ast.Attribute):
        return decorator.func.id, getattr(parsers, name.func.attr)(ast.literal_eval(name.args[0]))
    return decorator.func.id, parsers.string(ast.literal_eval(name))

