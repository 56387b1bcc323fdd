"""The example target files for implementations not written here load, and render into configs
their implementations could read, with the placeholder values the harness provides."""

from __future__ import annotations

import subprocess
import tomllib
from typing import Any

import pytest
import yaml

from fault_injection.gpu import WORKER_BINARY
from harness.plugin import PROJECT_ROOT
from harness.rigs.gateway import GatewayLimits
from harness.targets import TargetContext, TargetSpec, load_target_file
from harness.targets.process import placeholders
from harness.targets.render import render

EXAMPLES = PROJECT_ROOT / "targets" / "examples"


def rendered(spec: TargetSpec, scenario_values: dict[str, Any]) -> tuple[str, list[str], dict[str, str]]:
    """Config, command and environment as ProcessTarget renders them before starting the target."""
    assert spec.process is not None and spec.config is not None
    values = placeholders(spec, TargetContext(spec.time_scale, "fl-token", scenario_values), port=4321,
                          temp_dir="/tmp/t/tmp", base_url="http://127.0.0.1:4321")
    config = render(spec.config.template, values, path=spec.path, key="config.template")
    values["config_file"] = f"/tmp/t/{spec.config.file}"
    command = [render(a, values, path=spec.path, key="process.command") for a in spec.process.command]
    env = {k: render(v, values, path=spec.path, key=f"process.env.{k}") for k, v in spec.process.env.items()}
    return config, command, env


def gateway_values(*kinds: str) -> dict[str, Any]:
    limits = GatewayLimits()
    return {"providers": [{"name": f"p{i}", "kind": kind, "url": f"http://127.0.0.1:{7000 + i}", "api_key": f"key{i}",
                           "model": f"{kind}-test-model", "streaming": i == 0} for i, kind in enumerate(kinds)],
            "limits": {"max_concurrent": limits.max_concurrent, "max_queue": limits.max_queue,
                       "max_body_bytes": limits.max_body_bytes}}


def test_every_example_loads() -> None:
    files = sorted(EXAMPLES.glob("*.toml"))
    assert [f.name for f in files] == ["hive-with-worker-binary.toml", "litellm.toml", "openai-compatible-gateway.toml"]
    for path in files:
        assert load_target_file(path).kind == "process"


@pytest.mark.parametrize("kinds", [("openai", "anthropic"), ("gemini",), ()])
def test_the_yaml_gateway_example_renders_the_proxied_providers_and_scaled_durations(kinds: tuple[str, ...]) -> None:
    spec = load_target_file(EXAMPLES / "openai-compatible-gateway.toml")
    assert spec.expected_failures == {"GW-STREAM-003"} and not spec.claims("tool_calls")
    text, command, env = rendered(spec, gateway_values(*kinds))
    config = yaml.safe_load(text)
    assert config["server"]["listen"] == "127.0.0.1:4321" and config["auth"]["bearer_tokens"] == ["fl-token"]
    assert [(p["base_url"], p["api_key"]) for p in config["providers"]] == \
        [(f"http://127.0.0.1:{7000 + i}", f"key{i}") for i in range(len(kinds))]
    assert config["routing"]["fallback_chain"] == [f"p{i}" for i in range(len(kinds))]
    assert config["retry"]["initial_backoff_seconds"] == 0.1 and config["timeouts"]["upstream_seconds"] == 2.5
    assert config["limits"]["max_request_body_bytes"] == GatewayLimits().max_body_bytes
    assert command[-1] == "/tmp/t/acme-gateway.yaml" and env["ACME_TMPDIR"] == "/tmp/t/tmp"


def test_the_litellm_example_routes_the_clients_model_through_the_provider_chain() -> None:
    """The first provider is the model group clients ask for ({{ model }}), the rest its
    fallbacks; LiteLLM is found on PATH (no machine's path in the file), with the scenario's token
    as its master key."""
    spec = load_target_file(EXAMPLES / "litellm.toml")
    assert spec.time_scale == 1.0 and spec.health.path == "/health/liveliness" and not spec.health.token
    assert spec.metrics.name("llm_request_duration_ms_count") == "litellm_request_total_latency_metric_count"
    values = {**gateway_values("openai", "anthropic", "gemini"), "model": "the-clients-model"}
    text, command, env = rendered(spec, values)
    config = yaml.safe_load(text)
    assert command[:3] == ["litellm", "--config", "/tmp/t/litellm.yaml"] and "4321" in command
    assert [(m["model_name"], m["litellm_params"]["model"], m["litellm_params"]["api_base"])
            for m in config["model_list"]] == [("the-clients-model", "openai/openai-test-model", "http://127.0.0.1:7000/v1"),
                                               ("faultline-p1", "anthropic/anthropic-test-model", "http://127.0.0.1:7001"),
                                               ("faultline-p2", "gemini/gemini-test-model", "http://127.0.0.1:7002/v1beta")]
    router = config["router_settings"]
    assert router["fallbacks"] == [{"the-clients-model": ["faultline-p1", "faultline-p2"]}]
    assert router["num_retries"] == 5
    assert config["general_settings"]["master_key"] == "fl-token" and env["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"
    alone = yaml.safe_load(rendered(spec, {**gateway_values("openai"), "model": "m"})[0])
    assert "fallbacks" not in alone["router_settings"]


def test_the_hive_example_renders_its_worker_binary_and_fake_gpu() -> None:
    spec = load_target_file(EXAMPLES / "hive-with-worker-binary.toml")
    assert spec.time_scale == 1.0 and spec.cli is None
    values = {"hub_url": "http://127.0.0.1:7100", "worker_binary": "/x/bin/worker", "worker_command": ["py", "-m", "w"],
              "nvidia_smi": "/x/bin/nvidia-smi", "devices": [0, 1], "limits": {"slots_per_worker": 2, "max_queue": 3},
              "gpu_plan": "/x/plan.json", "worker_journal": "/x/journal.jsonl", "timeouts": {"inference": 25}}
    text, command, env = rendered(spec, values)
    config = tomllib.loads(text)
    assert config["workers"] == {"binary": "/x/bin/worker", "slots_per_worker": 2, "max_queue": 3}
    assert config["gpu"] == {"nvidia_smi": "/x/bin/nvidia-smi", "required_devices": [0, 1]}
    assert config["hub"]["base_url"] == "http://127.0.0.1:7100" and config["timeouts"] == {"inference_seconds": 25}
    assert env == {"FAULTLINE_GPU_PLAN": "/x/plan.json", "FAULTLINE_WORKER_JOURNAL": "/x/journal.jsonl"}
    assert "127.0.0.1:4321" in command
    minimal = tomllib.loads(rendered(spec, {})[0])  # a scenario that sets up no fake GPU still renders
    assert minimal["workers"]["binary"] == "" and "timeouts" not in minimal


def test_the_worker_binary_runs_the_fake_worker() -> None:
    done = subprocess.run([str(WORKER_BINARY), "--help"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and "--worker-id" in done.stdout, done.stderr
