"""The target file: a TOML description of one implementation under test.

    name = "my-gateway"           profile = "gateway"       kind = "process" | "docker" | "url"
    version = "1.2.3"             time_scale = 0.1          features = ["streaming"]
    coarse_time_scale = 0.02      (optional: the scale of @coarse-timing scenarios; default time_scale)
    expected_failures = ["GW-STREAM-004"]
    [process]   command = [...], env = {...}, cwd = "..."
    [docker]    image = "repo/name:tag", command = [...], entrypoint = [...], env = {...}, user = "1000:1000"
    [url]       base_url = "http://127.0.0.1:8080", token = "...", reset = "POST /admin/reset",
                log_file = "/var/log/mygw.log",
                providers = [{name = "primary", kind = "openai", listen = "127.0.0.1:18001", api_key = "..."}]
    [config]    file = "gateway.yaml", template = "..." | template_file = "gw.yaml.j2"
    [readiness] path = "/health", status = 200, timeout = 20
    [health]    path = "/health" (gateway) | "/v1/health" (hive), token = false
    [metrics]   path = "/metrics", token = false, names = {llm_request_retries_total = "my_retries", ...}
    [cli]       command = [...prefix...], spawn = [...], infer = [...], ...   (a hive's own CLI)

Every mistake is reported as TargetFileError naming the file, the key and the fix.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catalogue import PROFILES, catalogue
from harness.errors import TargetFileError

KINDS = ("process", "docker", "url")
TOP_KEYS = {"name", "profile", "kind", "version", "time_scale", "coarse_time_scale", "features", "expected_failures",
            "description", "process", "docker", "url", "config", "readiness", "health", "metrics", "cli"}
CLI_OPERATIONS = ("spawn", "infer", "stop", "list", "download")
SECTION_KEYS = {
    "process": {"command", "env", "cwd", "preload"},
    "docker": {"image", "command", "entrypoint", "env", "user"},
    "url": {"base_url", "token", "providers", "reset", "log_file"},
    "config": {"file", "template", "template_file"},
    "readiness": {"path", "status", "timeout"},
    "health": {"path", "token"},
    "metrics": {"path", "token", "names"},
    "cli": {"command", *CLI_OPERATIONS},
}
HEALTH_PATHS = {"gateway": "/health", "hive": "/v1/health"}


@dataclass(frozen=True)
class ProcessSection:
    command: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    # modules a fork server imports once, to fork each start of a `python -m MODULE` command from
    # (harness/targets/forked.py); empty: every start runs the command anew
    preload: tuple[str, ...] = ()


@dataclass(frozen=True)
class DockerSection:
    """A local image, started with the host's network so the container reaches the harness's
    loopback-only proxies and fakes; `command` replaces the image's CMD, `entrypoint` its ENTRYPOINT."""

    image: str
    command: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    user: str | None = None


PROVIDER_KINDS = ("openai", "anthropic", "gemini")
PROVIDER_KEYS = {"name", "kind", "listen", "api_key"}


@dataclass(frozen=True)
class FixedProvider:
    """A provider a running (url) gateway was configured with: the harness's proxy for it listens
    at `listen` during each scenario, and its fake accepts `api_key`."""

    name: str
    kind: str
    listen: str
    api_key: str


RESET_METHODS = ("POST", "PUT", "PATCH", "DELETE", "GET")


@dataclass(frozen=True)
class ResetHook:
    """The request that puts a running implementation back to its start state (breakers closed,
    metrics at zero); the harness sends it, with the token, before every scenario."""

    method: str
    path: str

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class UrlSection:
    """An implementation that is already running; the harness cannot render its config, so the
    file declares the settings it runs with: the token it accepts, the providers it calls, and,
    if it has them, the request that resets its state and the file it logs to."""

    base_url: str
    token: str | None = None
    providers: tuple[FixedProvider, ...] = ()
    reset: ResetHook | None = None
    log_file: Path | None = None    # where the service writes its log, for the log steps


@dataclass(frozen=True)
class ConfigSection:
    file: str
    template: str


@dataclass(frozen=True)
class Readiness:
    path: str = "/health"
    status: int = 200
    timeout: float = 20.0


@dataclass(frozen=True)
class Route:
    """Where the implementation serves something the clauses name, and whether it wants the
    client's token there (the clauses' own checks still ask without one where they say so)."""

    path: str
    token: bool = False


@dataclass(frozen=True)
class MetricsSection:
    route: Route = Route("/metrics")
    names: Mapping[str, str] = field(default_factory=dict)   # the clauses' metric name -> the target's own

    def name(self, clause_name: str) -> str:
        """The implementation's name for a metric the clauses name (a histogram's _count, _sum
        and _bucket follow their base name)."""
        if clause_name in self.names:
            return self.names[clause_name]
        for suffix in ("_count", "_sum", "_bucket"):
            base = clause_name.removesuffix(suffix)
            if base != clause_name and base in self.names:
                return self.names[base] + suffix
        return clause_name


@dataclass(frozen=True)
class CliSection:
    """How to run the implementation's CLI: a prefix plus one argument template per operation."""

    command: tuple[str, ...]
    operations: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class TargetSpec:
    path: Path
    name: str
    profile: str
    kind: str
    version: str = "unknown"
    time_scale: float = 1.0
    coarse_time_scale: float = 1.0
    features: frozenset[str] = frozenset()
    expected_failures: frozenset[str] = frozenset()
    process: ProcessSection | None = None
    docker: DockerSection | None = None
    url: UrlSection | None = None
    config: ConfigSection | None = None
    readiness: Readiness = Readiness()
    health: Route = Route("/health")
    metrics: MetricsSection = MetricsSection()
    cli: CliSection | None = None

    def claims(self, feature: str) -> bool:
        return feature in self.features

    @property
    def base_url(self) -> str | None:
        return self.url.base_url if self.url else None


class _Checker:
    """Typed reads from the parsed TOML that fail with the file and key named."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, problem: str) -> TargetFileError:
        return TargetFileError(str(self.path), key, problem)

    def unknown_keys(self, table: Mapping[str, Any], allowed: set[str], prefix: str = "") -> None:
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, sorted(allowed), n=1)
                hint = f"; did you mean '{prefix}{close[0]}'?" if close else \
                    f"; allowed keys: {', '.join(sorted(allowed))}"
                raise self.fail(prefix + key, "unknown key" + hint)

    def get(self, table: Mapping[str, Any], key: str, kind: type | tuple[type, ...], prefix: str = "",
            default: Any = ..., ) -> Any:
        if key not in table:
            if default is ...:
                raise self.fail(prefix + key, "missing; this key is required")
            return default
        value = table[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.fail(prefix + key, f"must be {names}, got {value!r}")
        return value

    def strings(self, table: Mapping[str, Any], key: str, prefix: str = "") -> tuple[str, ...]:
        values = self.get(table, key, list, prefix, default=[])
        for index, value in enumerate(values):
            if not isinstance(value, str):
                raise self.fail(f"{prefix}{key}[{index}]", f"must be a string, got {value!r}")
        return tuple(values)


def load_target_file(path: str | Path) -> TargetSpec:
    path = Path(path).resolve()
    check = _Checker(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise check.fail("(file)", "no such file; pass the path of a target TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise check.fail("(syntax)", f"not valid TOML: {exc}") from None
    check.unknown_keys(raw, TOP_KEYS)
    name = check.get(raw, "name", str)
    profile = check.get(raw, "profile", str)
    if profile not in PROFILES:
        raise check.fail("profile", f"must be one of {', '.join(PROFILES)}, got {profile!r}")
    kind = check.get(raw, "kind", str)
    if kind not in KINDS:
        raise check.fail("kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind not in raw:
        raise check.fail(f"[{kind}]", f"kind = {kind!r} needs a [{kind}] table")
    time_scale = check.get(raw, "time_scale", float, default=1.0)
    if not 0 < time_scale <= 1:
        raise check.fail("time_scale", f"must be in (0, 1], got {time_scale}; use 1 when the "
                                       "implementation cannot scale time")
    coarse_time_scale = check.get(raw, "coarse_time_scale", float, default=time_scale)
    if not 0 < coarse_time_scale <= time_scale:
        raise check.fail("coarse_time_scale", f"must be in (0, time_scale = {time_scale:g}], got "
                                              f"{coarse_time_scale}; leave it out to run every scenario at time_scale")
    if kind == "url" and coarse_time_scale != time_scale:
        raise check.fail("coarse_time_scale", f"a url target keeps running at the one time scale it was started "
                                              f"with ({time_scale:g}); remove coarse_time_scale")
    known = catalogue()
    features = check.strings(raw, "features")
    for index, feature in enumerate(features):
        if feature not in known.optional_features:
            raise check.fail(f"features[{index}]", f"unknown optional feature {feature!r}; known: "
                                                   f"{', '.join(sorted(known.optional_features))}")
    expected = check.strings(raw, "expected_failures")
    for index, clause_id in enumerate(expected):
        clause = known.clauses.get(clause_id)
        if clause is None or clause.profile != profile:
            raise check.fail(f"expected_failures[{index}]",
                             f"{clause_id!r} is not a {profile} clause of the catalogue (see `faultline clauses`)")
    spec = TargetSpec(
        path=path, name=name, profile=profile, kind=kind,
        version=str(check.get(raw, "version", (str, int, float), default="unknown")),
        time_scale=time_scale, coarse_time_scale=coarse_time_scale, features=frozenset(features),
        expected_failures=frozenset(expected),
        process=_process(check, raw) if kind == "process" else None,
        docker=_docker(check, raw) if kind == "docker" else None,
        url=_url(check, raw, profile) if kind == "url" else None,
        config=_config(check, raw), readiness=_readiness(check, raw),
        health=_route(check, raw, "health", HEALTH_PATHS[profile]), metrics=_metrics(check, raw), cli=_cli(check, raw))
    for other in KINDS:
        if other != kind and other in raw:
            raise check.fail(f"[{other}]", f"kind = {kind!r} does not use a [{other}] table; remove it, "
                                           f"or set kind = {other!r}")
    if kind == "url" and spec.config is not None:
        raise check.fail("[config]", "a url target is already running, so the harness renders no config for "
                                     "it; remove [config] and declare the running service's settings in [url]")
    return spec


def _table(check: _Checker, raw: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    table: Mapping[str, Any] | None = check.get(raw, name, dict, default=None)
    if table is not None:
        check.unknown_keys(table, SECTION_KEYS[name], prefix=f"{name}.")
    return table


def _process(check: _Checker, raw: Mapping[str, Any]) -> ProcessSection:
    table = _table(check, raw, "process") or {}
    command = check.strings(table, "command", "process.")
    if not command:
        raise check.fail("process.command", "must be a non-empty list, e.g. [\"{{ python }}\", \"-m\", \"mygw\"]")
    preload = check.strings(table, "preload", "process.") if "preload" in table else ()
    if preload and (len(command) < 3 or command[1] != "-m"):
        raise check.fail("process.preload", "needs a command that runs a module with the interpreter it forks from, "
                                            "e.g. [\"{{ python }}\", \"-m\", \"mygw\", ...]")
    return ProcessSection(command, _env(check, table, "process."),
                          check.get(table, "cwd", str, "process.", default=None), preload)


def _env(check: _Checker, table: Mapping[str, Any], prefix: str) -> Mapping[str, str]:
    env: dict[str, str] = check.get(table, "env", dict, prefix, default={})
    for key, value in env.items():
        if not isinstance(value, str):
            raise check.fail(f"{prefix}env.{key}", f"must be a string, got {value!r}; quote it: {key} = \"{value}\"")
    return env


def _docker(check: _Checker, raw: Mapping[str, Any]) -> DockerSection:
    for key in ("ports", "network", "network_mode"):
        if isinstance(raw.get("docker"), dict) and key in raw["docker"]:
            raise check.fail(f"docker.{key}", "remove it: containers share the host's network (so they reach the "
                                              "harness's loopback proxies) and publish no ports; pass "
                                              "{{ port }} in docker.command and the target listens on that host port")
    table = _table(check, raw, "docker") or {}
    image = check.get(table, "image", str, "docker.")
    if not image.strip() or any(c.isspace() for c in image):
        raise check.fail("docker.image", f"must name one local image, e.g. \"mygw:1.4.2\", got {image!r}")
    entrypoint = check.strings(table, "entrypoint", "docker.") if "entrypoint" in table else None
    if entrypoint == ():
        raise check.fail("docker.entrypoint", "must be a non-empty list, or left out to keep the image's ENTRYPOINT")
    user = check.get(table, "user", str, "docker.", default=None)
    if user is not None and not user.strip():
        raise check.fail("docker.user", "must be a user or uid[:gid], or left out to keep the image's USER")
    return DockerSection(image, check.strings(table, "command", "docker."), entrypoint,
                         _env(check, table, "docker."), user)


def _url(check: _Checker, raw: Mapping[str, Any], profile: str) -> UrlSection:
    if profile != "gateway":
        raise check.fail("kind", "a hive cannot be verified while already running: every scenario gives it "
                                 "its own fake GPUs and model hub at start; use kind = \"process\" or \"docker\"")
    table = _table(check, raw, "url") or {}
    url = check.get(table, "base_url", str, "url.")
    if not url.startswith(("http://", "https://")):
        raise check.fail("url.base_url", f"must start with http:// or https://, got {url!r}")
    token = check.get(table, "token", str, "url.", default=None)
    entries = check.get(table, "providers", list, "url.", default=[])
    providers = []
    for index, entry in enumerate(entries):
        prefix = f"url.providers[{index}]."
        if not isinstance(entry, dict):
            raise check.fail(prefix.rstrip("."), "must be a table: {name = \"primary\", kind = \"openai\", "
                                                 "listen = \"127.0.0.1:18001\", api_key = \"...\"}")
        check.unknown_keys(entry, PROVIDER_KEYS, prefix)
        kind = check.get(entry, "kind", str, prefix)
        if kind not in PROVIDER_KINDS:
            raise check.fail(prefix + "kind", f"must be one of {', '.join(PROVIDER_KINDS)}, got {kind!r}")
        listen = check.get(entry, "listen", str, prefix)
        host, _, port = listen.rpartition(":")
        if host != "127.0.0.1" or not port.isdigit() or not 0 < int(port) < 65536:
            raise check.fail(prefix + "listen", f"must be 127.0.0.1:<port>, where the running gateway sends "
                                                f"this provider's requests; got {listen!r}")
        providers.append(FixedProvider(check.get(entry, "name", str, prefix), kind, listen,
                                       check.get(entry, "api_key", str, prefix)))
    names = [p.name for p in providers]
    for index, name in enumerate(names):
        if names.index(name) != index:
            raise check.fail(f"url.providers[{index}].name", f"provider {name!r} is declared twice")
    listens = [p.listen for p in providers]
    for index, listen in enumerate(listens):
        if listens.index(listen) != index:
            raise check.fail(f"url.providers[{index}].listen", f"{listen} is already another provider's address")
    return UrlSection(url.rstrip("/"), token, tuple(providers), _reset_hook(check, table), _log_file(check, table))


def _log_file(check: _Checker, table: Mapping[str, Any]) -> Path | None:
    name: str | None = check.get(table, "log_file", str, "url.", default=None)
    if name is None:
        return None
    path = check.path.parent / name
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise check.fail("url.log_file", f"cannot read {path}: {exc.strerror}; give the file the running "
                                         f"service writes its log to, or leave the key out") from None
    return path


def _reset_hook(check: _Checker, table: Mapping[str, Any]) -> ResetHook | None:
    text = check.get(table, "reset", str, "url.", default=None)
    if text is None:
        return None
    method, _, path = text.strip().partition(" ")
    path = path.strip()
    if method not in RESET_METHODS or not path.startswith("/") or " " in path:
        raise check.fail("url.reset", f"must be a method and a path, like \"POST /admin/reset\" (methods: "
                                      f"{', '.join(RESET_METHODS)}); got {text!r}")
    return ResetHook(method, path)


def _config(check: _Checker, raw: Mapping[str, Any]) -> ConfigSection | None:
    table = _table(check, raw, "config")
    if table is None:
        return None
    file = check.get(table, "file", str, "config.")
    has_inline, has_file = "template" in table, "template_file" in table
    if has_inline == has_file:
        raise check.fail("config.template", "give exactly one of config.template or config.template_file")
    if has_inline:
        return ConfigSection(file, check.get(table, "template", str, "config."))
    template_path = check.path.parent / check.get(table, "template_file", str, "config.")
    try:
        return ConfigSection(file, template_path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise check.fail("config.template_file", f"cannot read {template_path}: {exc.strerror}") from None


def _readiness(check: _Checker, raw: Mapping[str, Any]) -> Readiness:
    table = _table(check, raw, "readiness") or {}
    path = check.get(table, "path", str, "readiness.", default="/health")
    if not path.startswith("/"):
        raise check.fail("readiness.path", f"must start with '/', got {path!r}")
    timeout = check.get(table, "timeout", float, "readiness.", default=20.0)
    if timeout <= 0:
        raise check.fail("readiness.timeout", "must be positive (seconds)")
    return Readiness(path, check.get(table, "status", int, "readiness.", default=200), timeout)


def _route(check: _Checker, raw: Mapping[str, Any], section: str, default: str) -> Route:
    table = _table(check, raw, section) or {}
    path = check.get(table, "path", str, f"{section}.", default=default)
    if not path.startswith("/"):
        raise check.fail(f"{section}.path", f"must start with '/', got {path!r}")
    return Route(path, check.get(table, "token", bool, f"{section}.", default=False))


def _metrics(check: _Checker, raw: Mapping[str, Any]) -> MetricsSection:
    table = _table(check, raw, "metrics") or {}
    names = check.get(table, "names", dict, "metrics.", default={})
    for key, value in names.items():
        if not isinstance(value, str) or not value:
            raise check.fail(f"metrics.names.{key}", "must be the implementation's own metric name (a string)")
    return MetricsSection(_route(check, raw, "metrics", "/metrics"), dict(names))


def _cli(check: _Checker, raw: Mapping[str, Any]) -> CliSection | None:
    table = _table(check, raw, "cli")
    if table is None:
        return None
    command = check.strings(table, "command", "cli.")
    if not command:
        raise check.fail("cli.command", "must be a non-empty list: the CLI and its common arguments")
    return CliSection(command, {op: check.strings(table, op, "cli.") for op in CLI_OPERATIONS if op in table})
