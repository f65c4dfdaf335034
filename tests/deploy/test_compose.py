"""deploy/compose.yaml, its env file and the load balancer's config, read statically."""

from __future__ import annotations

import ipaddress
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from coordinator.cli import build_parser
from coordinator.definition import compile_definition, find_definition_files, load_definition_file
from coordinator.executor.policy import TargetPolicy
from coordinator.settings import Settings
from coordinator.telemetry import Telemetry
from saga_examples.serve import DEFAULT_PORTS, SERVICES
from tests.deploy.support import (
    COMPOSE,
    COORDINATORS,
    DEPLOY,
    ENV_EXAMPLE,
    ROOT,
    MissingVariable,
    command_of,
    compose_variables,
    duration_seconds,
    exposed_port,
    haproxy_sections,
    image_healthcheck,
    load_compose,
    longest_call_timeout_s,
    read_env_file,
    route_paths,
    service_environment,
    url_path,
    urls_in,
)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


def _coordinator_settings(service: dict[str, Any]) -> Settings:
    """The settings `saga serve` builds in that container: its command's flags over its environment."""
    command = command_of(service)
    assert command[:2] == ["saga", "serve"], command
    args = build_parser().parse_args(command[1:])
    return Settings.from_env(
        service_environment(service),
        host=args.host,
        port=args.port,
        database_url=args.database_url,
        sagas_dir=Path(args.sagas_dir) if args.sagas_dir else None,
        insecure=args.insecure or None,
    )


def test_the_stack_has_every_part(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"postgres", *COORDINATORS, "lb", "participants", "otel-collector", "jaeger"} <= set(services)
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["otel-collector"]["image"].startswith("otel/opentelemetry-collector")
    assert services["jaeger"]["image"].startswith("jaegertracing/")


def test_every_image_is_pinned(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        image = service["image"]
        tag = image.rpartition(":")[2] if ":" in image.rpartition("/")[2] else ""
        assert tag and tag != "latest", f"{name}: pin {image!r} to a version"


def test_the_coordinators_and_participants_run_the_image_built_from_the_dockerfile(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in (*COORDINATORS, "participants"):
        build = services[name]["build"]
        assert (COMPOSE.parent / build["context"]).resolve() == ROOT, name
        assert (ROOT / build["dockerfile"]) == DEPLOY / "Dockerfile", name
    assert len({services[name]["image"] for name in (*COORDINATORS, "participants")}) == 1


def test_no_secret_is_written_in_the_compose_file() -> None:
    """Passwords and tokens come only from required variables (the env file), never a default."""
    variables = compose_variables()
    for name in ("POSTGRES_PASSWORD", "SAGA_API_TOKENS"):
        assert variables.get(name) in (":?", "?"), f"{name} must be a required ${{{name}:?...}} variable"
    raw = yaml.safe_load(COMPOSE.read_text())
    for service in raw["services"].values():
        for key, value in service_environment(service).items():
            if re.search(r"PASSWORD|TOKEN|SECRET", key) or key == "SAGA_DATABASE_URL":
                assert "${" in value, f"{key} is written literally in compose.yaml"
    with pytest.raises(MissingVariable, match=r"POSTGRES_PASSWORD|SAGA_API_TOKENS"):
        load_compose({})


def test_the_env_example_sets_every_required_variable_and_nothing_unused() -> None:
    example = read_env_file(ENV_EXAMPLE)
    variables = compose_variables()
    for name, operator in variables.items():
        if operator in (":?", "?", None):
            assert example.get(name), f"{name} is required by compose.yaml but not set in .env.example"
    assert set(example) <= set(variables), f"unused in compose.yaml: {set(example) - set(variables)}"
    # The real values file stays out of git.
    assert ".env" in (DEPLOY / ".gitignore").read_text().split()


def test_depends_on_waits_for_health(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on an unknown service {dependency}"
            wanted = condition["condition"]
            assert wanted in ("service_healthy", "service_started", "service_completed_successfully")
            if wanted == "service_healthy":
                has_check = "healthcheck" in services[dependency] or "build" in services[dependency]
                assert has_check, f"{dependency} has no health check for {name} to wait on"
    for name in COORDINATORS:
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert services[name]["depends_on"]["participants"]["condition"] == "service_healthy"
        assert services["lb"]["depends_on"][name]["condition"] == "service_healthy"


def test_data_lives_on_named_volumes(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (COMPOSE.parent / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"
    assert any(v.endswith(":/var/lib/postgresql/data") for v in compose["services"]["postgres"]["volumes"])


def test_the_coordinators_settings_validate(compose: dict[str, Any]) -> None:
    for name in COORDINATORS:
        settings = _coordinator_settings(compose["services"][name])
        assert settings.api_tokens, f"{name} binds 0.0.0.0: it needs tokens"
        assert settings.port == exposed_port()
        assert settings.log_format == "json"


def test_the_coordinators_use_the_compose_postgres(compose: dict[str, Any]) -> None:
    postgres = service_environment(compose["services"]["postgres"])
    for name in COORDINATORS:
        url = urlsplit(_coordinator_settings(compose["services"][name]).database_url)
        assert url.scheme == "postgresql"
        assert url.hostname == "postgres" and url.port == 5432
        assert url.username == postgres["POSTGRES_USER"] and url.path == f"/{postgres['POSTGRES_DB']}"
        assert url.password == postgres["POSTGRES_PASSWORD"] == read_env_file()["POSTGRES_PASSWORD"]
    assert "pg_isready" in compose["services"]["postgres"]["healthcheck"]["test"]


def test_containers_are_locked_down(compose: dict[str, Any]) -> None:
    for name in (*COORDINATORS, "participants"):
        service = compose["services"][name]
        assert service["read_only"] is True, name
        assert "/tmp" in service["tmpfs"], name
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
        assert "user" not in service, f"{name}: the image's non-root user applies"


def test_the_sagas_folder_is_mounted_read_only_where_the_settings_look(compose: dict[str, Any]) -> None:
    for name in COORDINATORS:
        service = compose["services"][name]
        settings = _coordinator_settings(service)
        mounts = [v.split(":") for v in service["volumes"]]
        (mount,) = [m for m in mounts if m[1] == str(settings.sagas_dir)]
        assert (COMPOSE.parent / mount[0]).resolve() == ROOT / "sagas"
        assert mount[2:] == ["ro"]


def _participant_hosts(compose: dict[str, Any]) -> set[str]:
    participants = compose["services"]["participants"]
    return {"participants", *participants["networks"]["default"]["aliases"]}


def test_every_saga_compiles_and_only_calls_allowed_participants(compose: dict[str, Any]) -> None:
    """What `saga serve` does at start with the mounted sagas/ and the container's environment:
    expand the host variables, then register under SAGA_ALLOWED_TARGETS (a 422 would stop it)."""
    hosts = _participant_hosts(compose)
    for name in COORDINATORS:
        service = compose["services"][name]
        env = service_environment(service)
        settings = _coordinator_settings(service)
        policy = TargetPolicy(settings.allowed_targets)
        assert policy.restricted
        files = find_definition_files(ROOT / "sagas")
        assert files
        for path in files:
            document = load_definition_file(path, env)
            spec = compile_definition(document, version=document.get("version", 1), allow_target=policy.check)
            for step in spec.steps:
                for call in filter(None, (step.action, step.compensation)):
                    origin = urlsplit(call.origin)
                    assert origin.hostname in hosts, f"{path.name}: {call.origin} is not a participant"
                    assert origin.port in DEFAULT_PORTS.values()
                    # At call time the name resolves to a private address on the compose network.
                    private = ipaddress.ip_address("172.18.0.7")
                    assert policy.check_address(origin.hostname, origin.port, private) is None


def test_the_participant_container_serves_the_names_and_ports_the_sagas_use(compose: dict[str, Any]) -> None:
    participants = compose["services"]["participants"]
    command = command_of(participants)
    assert command[:3] == ["python", "-m", "saga_examples"]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    help_text = subprocess.run(
        [sys.executable, "-m", "saga_examples", "--help"], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert "--host" in help_text
    assert set(participants["networks"]["default"]["aliases"]) == set(SERVICES)
    env = service_environment(compose["services"][COORDINATORS[0]])
    for service, port in DEFAULT_PORTS.items():
        assert env[f"{service.upper()}_URL"] == f"http://{service}:{port}"
    assert "ports" not in participants, "the participants stay on the stack's network"


def test_the_participants_health_check_hits_each_service() -> None:
    participants = yaml.safe_load(COMPOSE.read_text())["services"]["participants"]
    test = participants["healthcheck"]["test"]
    assert test[0] == "CMD"
    code = test[-1]
    (url,) = urls_in([code])
    assert re.sub(r"\{p\}", "8101", url) == "http://127.0.0.1:8101/_state"
    assert set(map(int, re.findall(r"\b81\d\d\b", code))) == set(DEFAULT_PORTS.values())
    for create_app in SERVICES.values():
        assert "/_state" in {route.path for route in create_app().routes}


def test_traces_go_to_the_collector_and_on_to_jaeger(compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    collector = compose["services"]["otel-collector"]
    (config_mount,) = [v for v in collector["volumes"] if v.endswith(":/etc/otelcol/config.yaml:ro")]
    config = yaml.safe_load((COMPOSE.parent / config_mount.split(":")[0]).read_text())
    http_port = int(config["receivers"]["otlp"]["protocols"]["http"]["endpoint"].rpartition(":")[2])
    assert config["exporters"]["otlp/jaeger"]["endpoint"].split(":")[0] in compose["services"]
    for name in COORDINATORS:
        env = service_environment(compose["services"][name])
        endpoint = urlsplit(env["OTEL_EXPORTER_OTLP_ENDPOINT"])
        assert endpoint.hostname == "otel-collector" and endpoint.port == http_port
        assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
        # The exporters read the process environment themselves: build them from exactly this one.
        for key in [k for k in os.environ if k.startswith("OTEL_")]:
            monkeypatch.delenv(key)
        for key, value in env.items():
            if key.startswith("OTEL_"):
                monkeypatch.setenv(key, value)
        telemetry = Telemetry.from_env(env, service_version="test")
        try:
            assert telemetry.tracing_enabled
            assert telemetry.tracer_provider.resource.attributes["service.name"] == env["OTEL_SERVICE_NAME"]
            assert telemetry.tracer_provider.resource.attributes["deployment.environment.name"] == "compose-demo"
        finally:
            telemetry.shutdown()
    assert "127.0.0.1:16686:16686" in compose["services"]["jaeger"]["ports"]


def test_the_load_balancer_checks_readyz_on_both_replicas(compose: dict[str, Any]) -> None:
    sections = haproxy_sections()
    (backend,) = [lines for name, lines in sections.items() if name.startswith("backend ")]
    servers = [line.split() for line in backend if line.startswith("server ")]
    assert {address.rpartition(":")[0] for _, _, address, *_ in servers} == set(COORDINATORS)
    for _, _, address, *_ in servers:
        assert int(address.rpartition(":")[2]) == _coordinator_settings(compose["services"][COORDINATORS[0]]).port
    (check,) = [line for line in backend if line.startswith("http-check send")]
    path = check.split("uri ")[1].split()[0]
    assert path == "/readyz" and path in route_paths()
    assert "http-check expect status 200" in backend
    default_server = next(line for line in backend if line.startswith("default-server"))
    assert " check " in f" {default_server} "


def test_the_load_balancer_outwaits_the_longest_long_poll(compose: dict[str, Any]) -> None:
    sections = haproxy_sections()
    timeouts = {
        line.split()[1]: duration_seconds(line.split()[2])
        for line in sections["defaults"]
        if line.startswith("timeout ")
    }
    settings = _coordinator_settings(compose["services"][COORDINATORS[0]])
    assert timeouts["server"] > settings.max_wait_seconds
    assert timeouts["client"] > settings.max_wait_seconds


def test_the_load_balancer_is_the_published_entry_point(compose: dict[str, Any]) -> None:
    sections = haproxy_sections()
    (frontend,) = [lines for name, lines in sections.items() if name.startswith("frontend ")]
    (bind,) = [line for line in frontend if line.startswith("bind ")]
    port = int(bind.split()[1].rpartition(":")[2])
    lb = compose["services"]["lb"]
    assert any(v.endswith(":/usr/local/etc/haproxy/haproxy.cfg:ro") for v in lb["volumes"])
    assert f"127.0.0.1:8080:{port}" in lb["ports"]
    for name in COORDINATORS:
        assert "ports" not in compose["services"][name], f"{name} is reached through the load balancer"


def test_stop_grace_covers_the_shutdown(compose: dict[str, Any]) -> None:
    longest = longest_call_timeout_s(service_environment(compose["services"][COORDINATORS[0]]))
    for name in COORDINATORS:
        settings = _coordinator_settings(compose["services"][name])
        assert settings.shutdown_grace_seconds >= longest, f"{name}: the shutdown grace is shorter than an attempt"
        grace = duration_seconds(compose["services"][name]["stop_grace_period"])
        # HTTP drain (10 s) + the calls in flight + the span flush (2 s), then a margin.
        assert grace >= 10 + settings.shutdown_grace_seconds + 2 + 3, f"{name}: SIGKILL would come first"


def test_the_image_health_check_is_what_the_lb_waits_for(compose: dict[str, Any]) -> None:
    for name in COORDINATORS:
        assert "healthcheck" not in compose["services"][name], "the image's HEALTHCHECK applies"
    (url,) = urls_in(image_healthcheck())
    assert url_path(url) in route_paths()
