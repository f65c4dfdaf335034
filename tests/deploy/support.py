"""Readers for the deploy files, so the tests can check what no Docker engine runs here.

A Dockerfile reader (instructions by stage, exec-form arrays), Compose's `${VAR}` interpolation,
env files, manifests, and the names of the settings the code actually reads.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / ".env.example"
HAPROXY = DEPLOY / "haproxy.cfg"
SECRET_TEMPLATE = KUBERNETES / "secret.template.yaml"
DOCS = ROOT / "docs" / "deploy.md"
README_FILE = ROOT / "README.md"

COORDINATORS = ("coordinator-a", "coordinator-b")
"""The compose services that run `saga serve`."""


# ---------------------------------------------------------------------------------------------
# Dockerfile


@dataclass
class Stage:
    """One `FROM` stage of a Dockerfile and its instructions, in order."""

    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        """The arguments of every `keyword` instruction (upper case) in this stage."""
        return [args for kw, args in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str:
        """The arguments of the last `keyword` instruction (the one that counts)."""
        found = self.all(keyword)
        assert found, f"stage {self.name or self.base} has no {keyword}"
        return found[-1]


def dockerfile_stages(text: str | None = None) -> list[Stage]:
    """The stages of deploy/Dockerfile, with `${ARG}` references before the first FROM resolved."""
    text = DOCKERFILE.read_text() if text is None else text
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # comments may sit inside a continued instruction, as Docker allows
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    assert not current, "the Dockerfile ends inside a continued line"
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "FROM":
            parts = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], parts[0])
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(base=base, name=name))
        elif not stages:
            assert keyword == "ARG", f"{keyword} before the first FROM"
            key, _, value = rest.partition("=")
            args[key] = value
        else:
            stages[-1].instructions.append((keyword, rest))
    return stages


def exec_form(args: str) -> list[str]:
    """An exec-form (JSON array) ENTRYPOINT/CMD/HEALTHCHECK CMD; shell form is refused."""
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), f"not an exec-form array: {args}"
    return value


def dockerfile_env(stage: Stage) -> dict[str, str]:
    """The `ENV KEY=VALUE ...` of a stage (later ones win)."""
    env: dict[str, str] = {}
    for args in stage.all("ENV"):
        for item in shlex.split(args):
            key, sep, value = item.partition("=")
            assert sep, f"write ENV as KEY=VALUE: {args}"
            env[key] = value
    return env


def image_command() -> list[str]:
    """What the image runs by default: ENTRYPOINT + CMD of the final stage."""
    final = dockerfile_stages()[-1]
    return exec_form(final.last("ENTRYPOINT")) + exec_form(final.last("CMD"))


def image_healthcheck() -> list[str]:
    """The final stage's HEALTHCHECK command (exec form, options stripped)."""
    args = dockerfile_stages()[-1].last("HEALTHCHECK")
    _, sep, command = args.partition("CMD ")
    assert sep, f"HEALTHCHECK without CMD: {args}"
    return exec_form(command.strip())


def exposed_port() -> int:
    """The one port the image EXPOSEs."""
    (port,) = dockerfile_stages()[-1].last("EXPOSE").split()
    return int(port.split("/")[0])


# ---------------------------------------------------------------------------------------------
# Compose


class MissingVariable(LookupError):
    """A `${VAR:?message}` whose variable is not set."""


_INTERPOLATION = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's variable substitution: `$$`, `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
    `${VAR:?error}`, `${VAR?error}`.

    Raises:
        MissingVariable: a required variable is missing (the message names it).
    """

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        operator, argument = match.group(2), match.group(3) or ""
        value = env.get(name)
        missing = value is None or (operator is not None and operator.startswith(":") and value == "")
        if operator in ("-", ":-"):
            return argument if missing else str(value)
        if operator in ("?", ":?"):
            if missing:
                raise MissingVariable(f"{name}: {argument}")
            return str(value)
        return value or ""

    return _INTERPOLATION.sub(replace, text)


def _strings(node: Any) -> list[str]:
    """Every string (keys included) in a parsed YAML tree."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in _strings(key) + _strings(value)]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return []


def _interpolated(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, dict):
        return {key: _interpolated(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [_interpolated(item, env) for item in node]
    return node


def compose_variables(text: str | None = None) -> dict[str, str | None]:
    """Every variable the compose file interpolates, with its operator (None for plain `${VAR}`).

    Like Compose, only values are interpolated (comments are not)."""
    tree = yaml.safe_load(COMPOSE.read_text() if text is None else text)
    found: dict[str, str | None] = {}
    for string in _strings(tree):
        for m in _INTERPOLATION.finditer(string):
            if m.group(0) != "$$":
                name = m.group(1) or m.group(4)
                # A required use anywhere makes the variable required.
                if found.get(name) not in (":?", "?"):
                    found[name] = m.group(2)
    return found


def read_env_file(path: Path = ENV_EXAMPLE) -> dict[str, str]:
    """`KEY=VALUE` lines; `#` comments and blank lines are skipped."""
    env: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not KEY=VALUE: {line!r}"
        env[key.strip()] = value.strip()
    return env


def load_compose(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """deploy/compose.yaml as Compose reads it with `--env-file deploy/.env.example`."""
    tree = yaml.safe_load(COMPOSE.read_text())
    document: dict[str, Any] = _interpolated(tree, read_env_file() if env is None else env)
    return document


def service_environment(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's `environment`, as a mapping of strings (the list form is accepted too)."""
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {str(k): "" if v is None else str(v) for k, v in environment.items()}


def command_of(service: Mapping[str, Any]) -> list[str]:
    """What a compose service runs: its entrypoint/command over the image's ENTRYPOINT/CMD."""
    final = dockerfile_stages()[-1]
    if "entrypoint" in service:
        return list(service["entrypoint"]) + list(service.get("command") or [])
    command = service.get("command")
    arguments = list(command) if command is not None else exec_form(final.last("CMD"))
    return exec_form(final.last("ENTRYPOINT")) + arguments


# ---------------------------------------------------------------------------------------------
# HAProxy


def haproxy_sections(text: str | None = None) -> dict[str, list[str]]:
    """`section name` -> its lines (comments and blank lines dropped)."""
    text = HAPROXY.read_text() if text is None else text
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if not raw[0].isspace():
            current = sections.setdefault(line.strip(), [])
        else:
            assert current is not None, f"haproxy.cfg: {line!r} is outside any section"
            current.append(line.strip())
    return sections


def duration_seconds(text: str) -> float:
    """An HAProxy or Compose duration (`75s`, `500ms`, `2m`, `1m30s`) in seconds."""
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    assert parts and "".join(a + b for a, b in parts) == text, f"not a duration: {text!r}"
    return sum(float(amount) * units[unit] for amount, unit in parts)


# ---------------------------------------------------------------------------------------------
# Kubernetes


def kustomization() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    return document


def manifest_files() -> list[Path]:
    """Every Kubernetes manifest in deploy/kubernetes (not the kustomization, the saga
    definitions or the Secret template)."""
    return sorted(
        path for path in KUBERNETES.glob("*.yaml") if path.name not in ("kustomization.yaml", SECRET_TEMPLATE.name)
    )


def manifests() -> dict[tuple[str, str], dict[str, Any]]:
    """(kind, name) -> document, for every document of every manifest file."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in manifest_files():
        for document in yaml.safe_load_all(path.read_text()):
            if document is None:
                continue
            key = (document["kind"], document["metadata"]["name"])
            assert key not in found, f"{path.name}: {key} is defined twice"
            found[key] = document
    return found


def secret_template() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(SECRET_TEMPLATE.read_text())
    return document


_PLACEHOLDER = re.compile(r"<([a-z0-9-]+)>")


def fill_placeholders(text: str) -> str:
    """The template's `<placeholder>`s replaced by plausible values (a token per placeholder)."""
    return _PLACEHOLDER.sub(lambda m: f"filled-{m.group(1)}-0123456789abcdef", text)


def placeholders(text: str) -> list[str]:
    return _PLACEHOLDER.findall(text)


def pod_templates() -> dict[str, dict[str, Any]]:
    """`Kind/name` -> pod spec, for every workload (Deployment, Job)."""
    found = {}
    for (kind, name), document in manifests().items():
        if kind in ("Deployment", "Job", "StatefulSet", "DaemonSet", "CronJob"):
            found[f"{kind}/{name}"] = document["spec"]["template"]["spec"]
    return found


def container_environment(
    container: Mapping[str, Any], *, secret_values: Mapping[str, str], field_values: Mapping[str, str]
) -> dict[str, str]:
    """The environment Kubernetes gives `container`: the image's ENV, then `envFrom` ConfigMaps,
    then `env` (values, `secretKeyRef` from `secret_values`, `fieldRef` from `field_values`),
    with `$(VAR)` references expanded as the kubelet does."""
    objects = manifests()
    env = dockerfile_env(dockerfile_stages()[-1])
    for source in container.get("envFrom", []):
        assert set(source) == {"configMapRef"}, f"unexpected envFrom source {source}"
        env.update({k: str(v) for k, v in objects[("ConfigMap", source["configMapRef"]["name"])]["data"].items()})
    for item in container.get("env", []):
        if "value" in item:
            value = re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), str(item["value"]))
        elif "secretKeyRef" in item["valueFrom"]:
            value = secret_values[item["valueFrom"]["secretKeyRef"]["key"]]
        elif "fieldRef" in item["valueFrom"]:
            value = field_values[item["valueFrom"]["fieldRef"]["fieldPath"]]
        else:
            raise AssertionError(f"unexpected env source {item}")
        env[item["name"]] = value
    return env


def container_port(container: Mapping[str, Any], port: int | str) -> int:
    """A probe's or Service's `port`/`targetPort` (a number or a port name) as a number."""
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in container["ports"] if p.get("name") == port]
    assert isinstance(number, int)
    return number


# ---------------------------------------------------------------------------------------------
# What the code reads


SETTINGS_SOURCE = ROOT / "coordinator" / "settings.py"
TELEMETRY_SOURCE = ROOT / "coordinator" / "telemetry" / "setup.py"
_NAME = re.compile(r"\b((?:SAGA|OTEL)_[A-Z0-9_]*[A-Z0-9])\b")


def saga_settings() -> set[str]:
    """Every `SAGA_*` the settings read (test-only `SAGA_FAULT_*` and the `SAGA_SECRET_` prefix excluded)."""
    names = set(_NAME.findall(SETTINGS_SOURCE.read_text()))
    return {n for n in names if n.startswith("SAGA_") and not n.startswith(("SAGA_FAULT_", "SAGA_SECRET"))}


def otel_settings() -> set[str]:
    """The `OTEL_*` we honour: those our telemetry setup reads, and those the OpenTelemetry SDK reads
    from the environment on our behalf (resource attributes, batch processor, OTLP exporter)."""
    from opentelemetry.sdk import environment_variables as sdk

    ours = {n for n in _NAME.findall(TELEMETRY_SOURCE.read_text()) if n.startswith("OTEL_")}
    sdk_names = {value for key, value in vars(sdk).items() if key.startswith("OTEL_") and isinstance(value, str)}
    by_sdk = {n for n in sdk_names if n.startswith(("OTEL_BSP_", "OTEL_EXPORTER_OTLP_")) and "METRICS" not in n}
    by_sdk -= {n for n in sdk_names if "LOGS" in n}
    return ours | by_sdk | {"OTEL_RESOURCE_ATTRIBUTES"}


def names_used(text: str) -> set[str]:
    """Every `SAGA_*` / `OTEL_*` name written in `text`."""
    return set(_NAME.findall(text))


def deploy_text_files() -> list[Path]:
    """Every file under deploy/ the tests read for names (the saga definitions excluded)."""
    return sorted(p for p in DEPLOY.rglob("*") if p.is_file() and "sagas" not in p.relative_to(DEPLOY).parts)


def route_paths() -> set[str]:
    """The coordinator's route paths, from the app itself (nothing is started)."""
    from coordinator.api import create_app
    from coordinator.settings import Settings

    app = create_app(Settings(database_url="memory://"))
    return {route.path for route in app.routes}


def url_path(url: str) -> str:
    return urlsplit(url).path


def urls_in(words: list[str]) -> list[str]:
    """The http:// URLs inside a command's words (e.g. a python -c health check)."""
    return [m for word in words for m in re.findall(r"https?://[^'\"\s,)]+", word)]


def longest_call_timeout_s(env: Mapping[str, str]) -> float:
    """The longest single-attempt timeout of any call in the shipped sagas/, with `env` expanded."""
    from coordinator.definition import compile_definition, find_definition_files, load_definition_file

    longest = 0
    for path in find_definition_files(ROOT / "sagas"):
        document = load_definition_file(path, env)
        spec = compile_definition(document, version=document.get("version", 1))
        for step in spec.steps:
            for call in filter(None, (step.action, step.compensation)):
                longest = max(longest, call.timeout_ms)
    return longest / 1000
