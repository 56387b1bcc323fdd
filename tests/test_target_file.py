"""Target files: every mistake names the file, the key and what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import TargetFileError
from harness.plugin import DEFAULT_TARGETS
from harness.targets import load_target_file

GOOD = '''
name = "x"
profile = "gateway"
kind = "process"
time_scale = 0.1
[process]
command = ["{{ python }}", "-m", "reference.gateway", "--port", "{{ port }}"]
'''


DOCKER = '''
name = "x"
profile = "gateway"
kind = "docker"
[docker]
image = "mygw:1.4.2"
'''

URL = '''
name = "x"
profile = "gateway"
kind = "url"
[url]
base_url = "http://127.0.0.1:8080"
'''

PROVIDER = 'providers = [{name = "primary", kind = "openai", listen = "127.0.0.1:18001", api_key = "k"}]\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "target.toml"
    path.write_text(text)
    return path


def test_the_reference_target_files_load() -> None:
    for profile, path in DEFAULT_TARGETS.items():
        spec = load_target_file(path)
        assert spec.profile == profile and spec.kind == "process" and 0 < spec.time_scale <= 1


def test_a_good_file_loads_with_defaults(tmp_path: Path) -> None:
    spec = load_target_file(write(tmp_path, GOOD))
    assert spec.readiness.path == "/health" and spec.features == frozenset()


@pytest.mark.parametrize(("text", "key", "hint"), [
    (GOOD.replace('kind = "process"', 'kind = "proces"'), "kind", "must be one of process, docker, url"),
    (GOOD.replace('profile = "gateway"', 'profile = "gw"'), "profile", "must be one of hive, gateway"),
    (GOOD.replace('name = "x"', ''), "name", "missing"),
    (GOOD.replace("time_scale = 0.1", "time_scale = 3"), "time_scale", "must be in (0, 1]"),
    (GOOD.replace("time_scale = 0.1", 'time_scale = "fast"'), "time_scale", "must be float"),
    (GOOD.replace("time_scale = 0.1", "time_scale = 0.1\ncoarse_time_scale = 0.5"), "coarse_time_scale",
     "must be in (0, time_scale = 0.1]"),
    (GOOD.replace("[process]", "tiem_scale = 1\n[process]"), "tiem_scale", "did you mean 'time_scale'"),
    (GOOD.replace("command =", "comand ="), "process.comand", "did you mean 'process.command'"),
    (GOOD.replace('["{{ python }}", "-m", "reference.gateway", "--port", "{{ port }}"]', "[]"),
     "process.command", "non-empty"),
    (GOOD + 'features = ["teleport"]\n', "process.features", "unknown key"),
    (GOOD.replace("[process]", 'features = ["teleport"]\n[process]'), "features[0]", "unknown optional feature"),
    (GOOD.replace("[process]", 'expected_failures = ["HIVE-HEALTH-001"]\n[process]'),
     "expected_failures[0]", "not a gateway clause"),
    (GOOD.replace("[process]", "[url]\nbase_url = 'x'\n[process]").replace('kind = "process"', 'kind = "url"'),
     "url.base_url", "must start with http://"),
    (GOOD.replace("kind = \"process\"", "kind = \"url\""), "[url]", "needs a [url] table"),
    (GOOD + "[config]\nfile = 'c.json'\n", "config.template", "exactly one of"),
    (GOOD + "[config]\nfile = 'c.json'\ntemplate_file = 'nope.j2'\n", "config.template_file", "cannot read"),
    (GOOD + "[readiness]\npath = 'health'\n", "readiness.path", "must start with '/'"),
    (GOOD + "[health]\npath = 'health'\n", "health.path", "must start with '/'"),
    (GOOD + "[health]\ntoken = 'yes'\n", "health.token", "must be bool"),
    (GOOD + "[metrics]\nnames = { llm_request_retries_total = 3 }\n", "metrics.names.llm_request_retries_total",
     "the implementation's own metric name"),
    (GOOD + "[metrics]\npaht = '/m'\n", "metrics.paht", "did you mean 'metrics.path'"),
    ("name = [", "(syntax)", "not valid TOML"),
    (GOOD + "env = {A = 1}\n", "process.env.A", 'quote it: A = "1"'),
    (GOOD + "[url]\nbase_url = 'http://127.0.0.1:1'\n", "[url]", "does not use a [url] table"),
    # kind = "docker"
    (DOCKER.replace('[docker]\nimage = "mygw:1.4.2"', ""), "[docker]", "needs a [docker] table"),
    (DOCKER.replace('image = "mygw:1.4.2"', ""), "docker.image", "missing"),
    (DOCKER.replace('"mygw:1.4.2"', '"mygw 1.4"'), "docker.image", "must name one local image"),
    (DOCKER.replace('"mygw:1.4.2"', "[]"), "docker.image", "must be str"),
    (DOCKER + 'command = "--port {{ port }}"\n', "docker.command", "must be list"),
    (DOCKER + "command = [8080]\n", "docker.command[0]", "must be a string"),
    (DOCKER + "entrypoint = []\n", "docker.entrypoint", "left out to keep the image's ENTRYPOINT"),
    (DOCKER + "env = {TOKEN = 3}\n", "docker.env.TOKEN", "must be a string"),
    (DOCKER + "user = ''\n", "docker.user", "uid[:gid]"),
    (DOCKER + 'ports = ["8080:8080"]\n', "docker.ports", "share the host's network"),
    (DOCKER + "network_mode = 'bridge'\n", "docker.network_mode", "share the host's network"),
    (DOCKER + "imgae = 'x'\n", "docker.imgae", "did you mean 'docker.image'"),
    (DOCKER + "[process]\ncommand = ['x']\n", "[process]", "does not use a [process] table"),
    # kind = "url"
    (URL + "[config]\nfile = 'c.json'\ntemplate = '{}'\n", "[config]", "renders no config"),
    (URL + "token = 7\n", "url.token", "must be str"),
    (URL + 'providers = ["primary"]\n', "url.providers[0]", "must be a table"),
    (URL + PROVIDER.replace('"openai"', '"cohere"'), "url.providers[0].kind", "must be one of openai"),
    (URL + PROVIDER.replace("127.0.0.1:18001", "0.0.0.0:18001"), "url.providers[0].listen",
     "must be 127.0.0.1:<port>"),
    (URL + PROVIDER.replace(', api_key = "k"', ""), "url.providers[0].api_key", "missing"),
    (URL + PROVIDER.replace("api_key", "apikey"), "url.providers[0].apikey", "did you mean 'url.providers[0].api_key'"),
    (URL + PROVIDER.replace("}]", '}, {name = "primary", kind = "openai", listen = "127.0.0.1:2", api_key = "k"}]'),
     "url.providers[1].name", "declared twice"),
    (URL.replace('"gateway"', '"hive"'), "kind", "a hive cannot be verified while already running"),
    (URL.replace("[url]", "time_scale = 0.1\ncoarse_time_scale = 0.025\n[url]"), "coarse_time_scale",
     "keeps running at the one time scale it was started with (0.1)"),
    (URL + 'log_file = "no-such.log"\n', "url.log_file", "cannot read"),
    (URL + 'reset = "/admin/reset"\n', "url.reset", "must be a method and a path, like \"POST /admin/reset\""),
    (URL + 'reset = "POST admin/reset"\n', "url.reset", "must be a method and a path"),
    (URL + 'reset = "post /admin/reset"\n', "url.reset", "methods: POST, PUT"),
    (URL + 'reset = ["POST", "/admin/reset"]\n', "url.reset", "must be str"),
])
def test_mistakes_name_file_key_and_fix(tmp_path: Path, text: str, key: str, hint: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(TargetFileError) as caught:
        load_target_file(path)
    assert caught.value.key == key
    assert hint in caught.value.problem
    assert str(path) in str(caught.value)


def test_docker_and_url_files_load(tmp_path: Path) -> None:
    docker = load_target_file(write(tmp_path, DOCKER + 'command = ["--port", "{{ port }}"]\nuser = "1000:1000"\n'))
    assert docker.docker is not None and docker.docker.image == "mygw:1.4.2" and docker.docker.entrypoint is None
    assert docker.docker.command == ("--port", "{{ port }}") and docker.docker.user == "1000:1000"
    url = load_target_file(write(tmp_path, URL + 'token = "t"\n' + PROVIDER))
    assert url.base_url == "http://127.0.0.1:8080" and url.url is not None and url.url.token == "t"
    assert [(p.name, p.kind, p.listen, p.api_key) for p in url.url.providers] == \
        [("primary", "openai", "127.0.0.1:18001", "k")]
    assert url.url.reset is None and url.url.log_file is None
    (tmp_path / "gw.log").write_text("")
    logged = load_target_file(write(tmp_path, URL + 'log_file = "gw.log"\n')).url
    assert logged is not None and logged.log_file == tmp_path / "gw.log"  # relative to the target file
    reset = load_target_file(write(tmp_path, URL + 'reset = "POST /admin/reset"\n')).url
    assert reset is not None and reset.reset is not None
    assert (reset.reset.method, reset.reset.path) == ("POST", "/admin/reset")


def test_the_shipped_docker_target_file_loads() -> None:
    from harness.plugin import PROJECT_ROOT

    spec = load_target_file(PROJECT_ROOT / "targets" / "reference-gateway-docker.toml")
    assert spec.kind == "docker" and spec.docker is not None and spec.config is not None


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(TargetFileError, match="no such file"):
        load_target_file(tmp_path / "absent.toml")


def test_health_and_metrics_routes_default_per_profile_and_map_metric_names(tmp_path: Path) -> None:
    plain = tmp_path / "plain.toml"
    plain.write_text(GOOD)
    spec = load_target_file(plain)
    assert (spec.health.path, spec.health.token, spec.metrics.route.path) == ("/health", False, "/metrics")
    assert load_target_file(DEFAULT_TARGETS["hive"]).health.path == "/v1/health"
    mapped = tmp_path / "mapped.toml"
    mapped.write_text(GOOD + '[health]\npath = "/health/liveliness"\ntoken = true\n[metrics]\ntoken = true\n'
                             '[metrics.names]\nllm_request_duration_ms = "gw_latency_ms"\n')
    spec = load_target_file(mapped)
    assert (spec.health.path, spec.health.token, spec.metrics.route.token) == ("/health/liveliness", True, True)
    assert spec.metrics.name("llm_request_duration_ms_count") == "gw_latency_ms_count"
    assert spec.metrics.name("llm_request_retries_total") == "llm_request_retries_total"
