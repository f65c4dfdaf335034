"""deploy/kubernetes: the manifests parse, agree with each other, with the image and with the code."""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

import coordinator
from coordinator.cli import build_parser
from coordinator.definition import compile_definition, find_definition_files, load_definition_file
from coordinator.executor.policy import TargetPolicy
from coordinator.settings import Settings, SettingsError, parse_token_entry
from coordinator.telemetry import Telemetry
from tests.deploy.support import (
    KUBERNETES,
    ROOT,
    SECRET_TEMPLATE,
    container_environment,
    container_port,
    dockerfile_stages,
    exec_form,
    exposed_port,
    fill_placeholders,
    kustomization,
    longest_call_timeout_s,
    manifest_files,
    manifests,
    placeholders,
    pod_templates,
    route_paths,
    secret_template,
)

NAME = "saga-coordinator"
FIELD_VALUES = {"metadata.name": "saga-coordinator-7d9f-abcde", "metadata.namespace": "saga"}


def _deployment() -> dict[str, Any]:
    return manifests()[("Deployment", NAME)]


def _container(pod: dict[str, Any] | None = None) -> dict[str, Any]:
    pod = pod or _deployment()["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    return container


def _command(container: dict[str, Any]) -> list[str]:
    """ENTRYPOINT/CMD of the image, overridden by the container's command/args as Kubernetes does."""
    final = dockerfile_stages()[-1]
    if "command" in container:
        return list(container["command"]) + list(container.get("args", []))
    return exec_form(final.last("ENTRYPOINT")) + list(container.get("args", exec_form(final.last("CMD"))))


def _filled_secret() -> dict[str, str]:
    data: dict[str, str] = secret_template()["stringData"]
    return {key: fill_placeholders(value) for key, value in data.items()}


def _deployment_env() -> dict[str, str]:
    return container_environment(_container(), secret_values=_filled_secret(), field_values=FIELD_VALUES)


def _settings(env: dict[str, str], container: dict[str, Any], tmp_path: Path) -> Settings:
    """What `saga serve` builds in the container; the token file is the Secret's, copied to tmp_path."""
    args = build_parser().parse_args(_command(container)[1:])
    env = dict(env)
    if "SAGA_API_TOKENS_FILE" in env:
        tokens = tmp_path / "api-tokens"
        tokens.write_text(_filled_secret()[_mounted_secret_key(container, env["SAGA_API_TOKENS_FILE"])])
        env["SAGA_API_TOKENS_FILE"] = str(tokens)
    return Settings.from_env(
        env, host=args.host, port=args.port, database_url=args.database_url, insecure=args.insecure or None
    )


def _mounted_secret_key(container: dict[str, Any], file: str) -> str:
    """The Secret key that the pod mounts at `file`."""
    pod = _deployment()["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    for mount in container["volumeMounts"]:
        directory = PurePosixPath(mount["mountPath"])
        if PurePosixPath(file).parent == directory:
            secret = volumes[mount["name"]]["secret"]
            assert secret["secretName"] == secret_template()["metadata"]["name"]
            (item,) = [i for i in secret["items"] if i["path"] == PurePosixPath(file).name]
            key: str = item["key"]
            return key
    raise AssertionError(f"nothing is mounted at {file}")


def test_every_manifest_parses_and_kustomization_lists_it() -> None:
    listed = kustomization()["resources"]
    assert sorted(listed) == sorted(p.name for p in manifest_files()), "kustomization.yaml resources"
    assert SECRET_TEMPLATE.name not in listed, "the Secret template is never applied from the repository"
    for path in manifest_files():
        for document in yaml.safe_load_all(path.read_text()):
            assert {"apiVersion", "kind", "metadata"} <= set(document), path.name
    kinds = {kind for kind, _ in manifests()}
    assert {"Deployment", "Service", "ConfigMap", "PodDisruptionBudget", "HorizontalPodAutoscaler", "Job"} <= kinds


def test_the_generated_definitions_are_the_repositorys_sagas() -> None:
    (generator,) = [g for g in kustomization()["configMapGenerator"] if g["name"] == "saga-definitions"]
    files = sorted(generator["files"])
    assert files == sorted(f"sagas/{p.name}" for p in find_definition_files(ROOT / "sagas"))
    for file in files:
        assert (KUBERNETES / file).read_bytes() == (ROOT / file).read_bytes(), f"{file} differs from the repository's"


def test_the_image_is_the_packages_version() -> None:
    (image,) = kustomization()["images"]
    assert image["newTag"] == coordinator.__version__
    for pod in pod_templates().values():
        for container in pod["containers"]:
            assert container["image"] == image["name"]


def test_the_deployment_runs_saga_serve_on_the_images_port() -> None:
    container = _container()
    command = _command(container)
    assert command[:2] == ["saga", "serve"]
    args = build_parser().parse_args(command[1:])
    assert args.host == "0.0.0.0"
    (port,) = container["ports"]
    assert port["containerPort"] == args.port == exposed_port()
    assert _deployment()["spec"]["replicas"] >= 2


def test_the_deployment_settings_validate(tmp_path: Path) -> None:
    settings = _settings(_deployment_env(), _container(), tmp_path)
    assert urlsplit(settings.database_url).scheme == "postgresql"
    grants = settings.token_grants()
    assert grants and {"admin"} in [set(g.scopes) for g in grants]
    assert settings.allowed_targets, "production sets SAGA_ALLOWED_TARGETS"
    assert settings.log_format == "json"


def test_the_unedited_secret_template_cannot_run(tmp_path: Path) -> None:
    """Its placeholders are not valid tokens: applied as is, the coordinator refuses to start."""
    raw = secret_template()["stringData"]
    assert placeholders(raw["api-tokens"]) and placeholders(raw["database-url"])
    tokens = tmp_path / "api-tokens"
    tokens.write_text(raw["api-tokens"])
    with pytest.raises(SettingsError):
        Settings.from_env({"SAGA_API_TOKENS_FILE": str(tokens)})
    for line in _filled_secret()["api-tokens"].splitlines():
        parse_token_entry(line)


def test_every_secret_and_config_reference_exists() -> None:
    objects = manifests()
    template = secret_template()
    assert template["kind"] == "Secret" and template["metadata"]["namespace"] == kustomization()["namespace"]
    for where, pod in pod_templates().items():
        for container in pod["containers"]:
            for item in container.get("env", []):
                ref = item.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == template["metadata"]["name"], where
                    assert ref["key"] in template["stringData"], f"{where}: no key {ref['key']} in the Secret"
            for source in container.get("envFrom", []):
                assert ("ConfigMap", source["configMapRef"]["name"]) in objects, where
        for volume in pod.get("volumes", []):
            if "secret" in volume:
                assert volume["secret"]["secretName"] == template["metadata"]["name"]
                assert {i["key"] for i in volume["secret"]["items"]} <= set(template["stringData"])
            if "configMap" in volume:
                generated = {g["name"] for g in kustomization()["configMapGenerator"]}
                assert volume["configMap"]["name"] in generated | {n for k, n in objects if k == "ConfigMap"}


def test_the_sagas_mount_is_where_the_settings_look(tmp_path: Path) -> None:
    container = _container()
    settings = _settings(_deployment_env(), container, tmp_path)
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == str(settings.sagas_dir)]
    assert mount["readOnly"] is True
    pod = _deployment()["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume["configMap"]["name"] == "saga-definitions"


def test_every_saga_compiles_and_only_calls_allowed_targets(tmp_path: Path) -> None:
    env = _deployment_env()
    policy = TargetPolicy(_settings(env, _container(), tmp_path).allowed_targets)
    for path in find_definition_files(KUBERNETES / "sagas"):
        document = load_definition_file(path, env)
        spec = compile_definition(document, version=document.get("version", 1), allow_target=policy.check)
        for step in spec.steps:
            for call in filter(None, (step.action, step.compensation)):
                origin = urlsplit(call.origin)
                assert origin.hostname and origin.port
                cluster_ip = ipaddress.ip_address("10.96.12.34")
                assert policy.check_address(origin.hostname, origin.port, cluster_ip) is None


def test_the_otel_settings_build_an_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    env = _deployment_env()
    for key in [k for k in os.environ if k.startswith("OTEL_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith("OTEL_"):
            monkeypatch.setenv(key, value)
    telemetry = Telemetry.from_env(env, service_version="test")
    try:
        assert telemetry.tracing_enabled
        attributes = telemetry.tracer_provider.resource.attributes
        assert attributes["k8s.pod.name"] == FIELD_VALUES["metadata.name"]
        assert attributes["k8s.namespace.name"] == FIELD_VALUES["metadata.namespace"]
    finally:
        telemetry.shutdown()


def test_probes_point_at_real_endpoints_on_the_container_port() -> None:
    container = _container()
    routes = route_paths()
    probes = {kind: container[kind]["httpGet"] for kind in ("readinessProbe", "livenessProbe", "startupProbe")}
    assert probes["readinessProbe"]["path"] == "/readyz"
    assert probes["livenessProbe"]["path"] == "/healthz"
    for kind, probe in probes.items():
        assert probe["path"] in routes, f"{kind}: {probe['path']} is not a route"
        assert container_port(container, probe["port"]) == exposed_port(), kind


def test_the_service_pdb_and_hpa_select_the_deployment() -> None:
    objects = manifests()
    deployment = _deployment()
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    service = objects[("Service", NAME)]
    assert service["spec"]["selector"].items() <= labels.items()
    (port,) = service["spec"]["ports"]
    assert container_port(_container(), port["targetPort"]) == exposed_port()
    pdb = objects[("PodDisruptionBudget", NAME)]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"].get("maxUnavailable") == 1 or pdb["spec"].get("minAvailable") == 1
    hpa = objects[("HorizontalPodAutoscaler", NAME)]
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", NAME)
    assert hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    assert hpa["spec"]["minReplicas"] <= deployment["spec"]["replicas"] <= hpa["spec"]["maxReplicas"]
    cpu = _container()["resources"]["requests"]["cpu"]
    assert cpu, "a CPU utilisation target needs a CPU request"


def test_every_container_has_requests_and_limits() -> None:
    for where, pod in pod_templates().items():
        for container in pod["containers"]:
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind]), f"{where}: {kind}"


def test_every_pod_is_non_root_with_a_read_only_root_and_a_tmp_volume() -> None:
    uid, _, gid = dockerfile_stages()[-1].last("USER").partition(":")
    for where, pod in pod_templates().items():
        assert pod["automountServiceAccountToken"] is False, where
        context = pod["securityContext"]
        assert context["runAsNonRoot"] is True, where
        assert context["runAsUser"] == int(uid) and context["runAsGroup"] == int(gid or uid), where
        assert context["seccompProfile"]["type"] == "RuntimeDefault", where
        volumes = {v["name"]: v for v in pod["volumes"]}
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["runAsNonRoot"] is True, where
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            assert "add" not in security["capabilities"], where
            (tmp,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert "emptyDir" in volumes[tmp["name"]], where


def test_termination_lets_in_flight_attempts_finish(tmp_path: Path) -> None:
    deployment = _deployment()
    pod = deployment["spec"]["template"]["spec"]
    pre_stop = _container()["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    grace = pod["terminationGracePeriodSeconds"]
    settings = _settings(_deployment_env(), _container(), tmp_path)
    assert settings.shutdown_grace_seconds >= longest_call_timeout_s(_deployment_env()), (
        "SAGA_SHUTDOWN_GRACE_SECONDS is shorter than an attempt's timeout"
    )
    # After SIGTERM: open HTTP requests drain (uvicorn, up to 10 s), then the calls in flight get
    # the shutdown grace, then spans are flushed (2 s at most).
    needed = int(pre_stop[1]) + 10 + settings.shutdown_grace_seconds + 2
    assert grace >= needed + 3, f"terminationGracePeriodSeconds {grace} < {needed} + margin: SIGKILL comes first"
    rollout = deployment["spec"]["strategy"]["rollingUpdate"]
    assert rollout["maxUnavailable"] == 0, "a rollout never drops below the wanted replicas"


def test_the_migration_job_runs_saga_migrate_with_the_secrets_database_url() -> None:
    (job,) = [doc for (kind, _), doc in manifests().items() if kind == "Job"]
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] in ("Never", "OnFailure")
    assert job["spec"]["backoffLimit"] >= 1 and job["spec"]["activeDeadlineSeconds"] > 0
    container = _container(pod)
    command = _command(container)
    assert command[:2] == ["saga", "migrate"]
    assert "--database-url" not in command, "the password stays out of the command line"
    env = container_environment(container, secret_values=_filled_secret(), field_values=FIELD_VALUES)
    assert env["SAGA_DATABASE_URL"] == _deployment_env()["SAGA_DATABASE_URL"]
    try:
        args = build_parser().parse_args(command[1:])
    except SystemExit:
        pytest.fail("`saga migrate` is not a command (yet?): the Job needs it, see docs/deploy.md 'Migrations'")
    assert args.command == "migrate"


def test_kustomize_builds_the_whole_set() -> None:
    """`kubectl kustomize` needs no cluster: the set renders, names and images resolved."""
    if shutil.which("kubectl") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("kubectl is needed in CI to render deploy/kubernetes (it is on the CI machines)")
        pytest.skip("kubectl is not installed")
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(KUBERNETES)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    documents = [d for d in yaml.safe_load_all(rendered) if d]
    kinds = sorted(d["kind"] for d in documents)
    expected = sorted([kind for kind, _ in manifests()] + ["ConfigMap"])  # + the generated definitions
    assert kinds == expected
    namespace = kustomization()["namespace"]
    for document in documents:
        if document["kind"] != "Namespace":
            assert document["metadata"]["namespace"] == namespace
    (definitions,) = [d for d in documents if d["metadata"]["name"].startswith("saga-definitions-")]
    (deployment,) = [d for d in documents if d["kind"] == "Deployment"]
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["sagas"]["configMap"]["name"] == definitions["metadata"]["name"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"saga-coordinator:{coordinator.__version__}"
