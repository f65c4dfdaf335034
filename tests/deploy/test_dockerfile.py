"""deploy/Dockerfile and .dockerignore, read statically (no Docker engine runs here)."""

from __future__ import annotations

import re

import pytest

from coordinator.cli import build_parser
from coordinator.settings import Settings
from tests.deploy.support import (
    README_FILE,
    ROOT,
    dockerfile_env,
    dockerfile_stages,
    exec_form,
    exposed_port,
    image_command,
    image_healthcheck,
    route_paths,
    url_path,
    urls_in,
)


def test_two_stages_on_slim_python_311_and_only_the_virtualenv_crosses_over() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2, "multi-stage: build, then runtime"
    for stage in stages:
        assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?", stage.base), stage.base
    build, final = stages[0], stages[-1]
    assert build.name, "the build stage is named, so the runtime stage can copy from it"
    copies = final.all("COPY")
    assert copies, "the runtime stage copies the installed virtualenv"
    for copy in copies:
        assert copy.startswith(f"--from={build.name} "), f"the runtime stage only copies from the build: {copy}"
    assert all(c.split()[-1] == "/opt/venv" for c in copies)


def test_the_runtime_stage_installs_no_build_tools() -> None:
    final = dockerfile_stages()[-1]
    for run in final.all("RUN"):
        assert not re.search(r"apt-get|apk |pip install|gcc|build-essential|make ", run), run


def test_runs_as_a_numeric_non_root_user() -> None:
    user = dockerfile_stages()[-1].last("USER")
    uid, _, gid = user.partition(":")
    # Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
    assert uid.isdigit() and int(uid) != 0, user
    assert not gid or (gid.isdigit() and int(gid) != 0), user


def test_the_workdir_is_not_made_writable_for_the_process() -> None:
    final = dockerfile_stages()[-1]
    workdir = final.last("WORKDIR")
    for run in final.all("RUN"):
        assert not re.search(rf"(chown|chmod)\b[^&]*{re.escape(workdir)}", run), run
    env = dockerfile_env(final)
    assert "SAGA_DATABASE_URL" not in env, "the default SQLite file would be written into the workdir"


def test_the_entrypoint_is_saga_serve_with_flags_the_cli_accepts() -> None:
    command = image_command()
    assert command[:2] == ["saga", "serve"]
    assert exec_form(dockerfile_stages()[-1].last("ENTRYPOINT")) == ["saga", "serve"]
    args = build_parser().parse_args(command[1:])
    assert args.command == "serve"
    assert args.host == "0.0.0.0", "listen on the container's interfaces"
    assert args.port == exposed_port()


def test_the_image_default_settings_validate() -> None:
    """With a token (which the image cannot carry), the image's own command and ENV are accepted."""
    args = build_parser().parse_args(image_command()[1:])
    env = {**dockerfile_env(dockerfile_stages()[-1]), "SAGA_API_TOKENS": "t0ken"}
    settings = Settings.from_env(env, host=args.host, port=args.port)
    assert settings.sagas_dir is not None and str(settings.sagas_dir) == "/sagas"
    with pytest.raises(ValueError, match="SAGA_API_TOKENS"):
        Settings.from_env(dockerfile_env(dockerfile_stages()[-1]), host=args.host, port=args.port)


def test_the_serve_flags_the_image_uses_are_the_readmes() -> None:
    """The Dockerfile's command is one the README documents (`saga serve [--host H] [--port P] ...`)."""
    readme = README_FILE.read_text()
    documented = re.search(r"`saga serve (\[[^`]*)`", readme)
    assert documented, "the README documents `saga serve [flags]`"
    flags = [word for word in image_command()[2:] if word.startswith("--")]
    assert flags
    for flag in flags:
        assert f"[{flag}" in documented.group(1), f"{flag} is not in the README's `saga serve` line"


def test_the_healthcheck_polls_healthz_on_the_exposed_port() -> None:
    (url,) = urls_in(image_healthcheck())
    assert url_path(url) == "/healthz"
    assert url_path(url) in route_paths()
    assert url.startswith(f"http://127.0.0.1:{exposed_port()}/")
    assert image_healthcheck()[0] == "python", "the slim image has no curl: Python's urllib does it"


def test_python_writes_no_bytecode_and_the_venv_is_on_the_path() -> None:
    env = dockerfile_env(dockerfile_stages()[-1])
    assert env["PYTHONDONTWRITEBYTECODE"] == "1", "a read-only root filesystem: no __pycache__ at run time"
    assert env["PATH"].startswith("/opt/venv/bin:")


def test_the_build_stage_installs_the_wheel_pip_wheel_builds() -> None:
    build = dockerfile_stages()[0]
    runs = " ".join(build.all("RUN"))
    assert "pip wheel . --no-deps" in runs, "the same wheel tests/deploy/test_wheel.py installs"
    assert "pip install --no-deps /wheels/" in runs


def _pattern(glob: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex: `**` crosses directories, `*` and `?` do not."""
    out = ""
    i = 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif glob.startswith("**", i):
            out, i = out + ".*", i + 2
        elif glob[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif glob[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(glob[i]), i + 1
    return re.compile(out)


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: a pattern matches a path or one of its parents; the last match wins."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        regex = _pattern(pattern.removeprefix("!").strip("/"))
        if any(regex.fullmatch(candidate) for candidate in candidates):
            ignored = not pattern.startswith("!")
    return ignored


def test_dockerignore_sends_what_the_build_copies_and_nothing_private() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    copied = []
    for copy in dockerfile_stages()[0].all("COPY"):
        copied += [word for word in copy.split()[:-1] if not word.startswith("--")]
    assert copied
    for source in copied:
        assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"
        assert not _ignored(source, patterns), f".dockerignore excludes {source}, which the build copies"
        assert not _ignored(f"{source}/x.py", patterns) or not (ROOT / source).is_dir()
    for private in (".venv/bin/python", ".git/config", "saga.db", "deploy/.env", "tests/conftest.py", ".env"):
        assert _ignored(private, patterns), f"{private} would be sent to the Docker daemon"
    assert _ignored("coordinator/__pycache__/cli.cpython-311.pyc", patterns)
