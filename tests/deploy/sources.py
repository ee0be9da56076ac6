"""What the deployment files say, and what the code they deploy really offers.

No container engine runs in the tests, so the files are read, not run: the Dockerfile with a small parser
of its instructions, the manifests with PyYAML. Each is then checked against the code itself: the app's
router (built by ``create_app``), the command line's own argparse parser, the settings class and
``serve``'s own choice of address, so that a renamed route, subcommand or setting fails here.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from starlette.routing import BaseRoute, Match

from api.app import create_app
from api.cli import build_parser
from api.cli.serve import listen_address
from domain.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
PREFIX = "INCIDENTDESK_"
# Stands for a value the files take from elsewhere (a Secret, the operator's .env): present, unknown.
SECRET = "a-value-from-a-secret"
# What a Secret holds for the settings whose value has a form (deploy/README.md shows the same).
SECRET_EXAMPLES = {
    "INCIDENTDESK_DATABASE_URL": f"postgresql://incidentdesk:{SECRET}@postgres:5432/incidentdesk",
    "INCIDENTDESK_APP_DATABASE_URL": f"postgresql://incidentdesk_app:{SECRET}@postgres:5432/incidentdesk",
    "INCIDENTDESK_RATE_LIMIT_STORAGE": f"async+redis://:{SECRET}@redis:6379",
}


def secret_value(name: str) -> str:
    """A stand-in for the value a Secret gives the variable ``name``."""
    return SECRET_EXAMPLES.get(name, SECRET)


# ------------------------------------------------------------------------------------------- Dockerfile


@dataclass
class Stage:
    """One stage of a Dockerfile: its instructions as (keyword, arguments), in order."""

    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [rest for word, rest in self.instructions if word == keyword]

    def last(self, keyword: str) -> str:
        found = self.all(keyword)
        assert found, f"the {self.base} stage has no {keyword}"
        return found[-1]

    def exec_form(self, keyword: str) -> list[str]:
        """CMD or ENTRYPOINT, which must be a JSON list: the shell form would run under /bin/sh, which
        does not pass SIGTERM on, and the graceful shutdown would never start."""
        value = json.loads(self.last(keyword))
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), keyword
        return value

    def env(self) -> dict[str, str]:
        """Every ENV of the stage (the ``KEY=value`` form, several to a line)."""
        values: dict[str, str] = {}
        for rest in self.all("ENV"):
            for pair in shlex.split(rest):
                name, equals, value = pair.partition("=")
                assert equals, f"ENV {rest!r}: write KEY=value"
                values[name] = value
        return values

    def user_id(self) -> int:
        return int(self.last("USER").split(":")[0])

    def exposed_ports(self) -> list[int]:
        return [int(port.split("/")[0]) for rest in self.all("EXPOSE") for port in rest.split()]

    def healthcheck_command(self) -> list[str]:
        """The HEALTHCHECK's command, in exec form, past its options."""
        _options, cmd, command = self.last("HEALTHCHECK").partition(" CMD ")
        assert cmd, "HEALTHCHECK ... CMD [...]"
        value = json.loads(command)
        assert isinstance(value, list)
        return value


def dockerfile_stages(path: Path = ROOT / "Dockerfile") -> list[Stage]:
    """The Dockerfile's stages: continuation lines joined, comments and blank lines dropped."""
    stages: list[Stage] = []
    logical = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not logical and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            logical += stripped[:-1] + " "
            continue
        keyword, _, rest = (logical + stripped).partition(" ")
        logical = ""
        keyword = keyword.upper()
        if keyword == "FROM":
            stages.append(Stage(base=rest.split()[0]))
        else:
            assert stages, f"{keyword} before any FROM"
            stages[-1].instructions.append((keyword, rest.strip()))
    return stages


def runtime_stage() -> Stage:
    """The image that runs: the Dockerfile's last stage."""
    return dockerfile_stages()[-1]


def image_argv(command: list[str] | None = None) -> list[str]:
    """What a container of the image runs: its ENTRYPOINT followed by ``command`` (a manifest's
    arguments) or, without one, the image's CMD."""
    stage = runtime_stage()
    return stage.exec_form("ENTRYPOINT") + (command if command is not None else stage.exec_form("CMD"))


# ----------------------------------------------------------------------------------------- the code


def console_scripts() -> dict[str, str]:
    """pyproject.toml's [project.scripts]: command name -> entry point."""
    import tomllib

    scripts: dict[str, str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    return scripts


@dataclass
class Invocation:
    """A command line of the image, parsed by the command line's own parser."""

    argv: list[str]
    args: Any

    @property
    def command(self) -> str:
        return str(self.args.command)


def parse_command(argv: list[str]) -> Invocation:
    """Parse a container's command as ``incidentdesk`` would: its program is the console script that
    runs ``api.cli:main``, the rest must be accepted by the real parser."""
    assert argv, "an empty command"
    program, *rest = argv
    assert console_scripts().get(program) == "api.cli:main", f"{program!r} is not the incidentdesk command"
    return Invocation(argv, build_parser().parse_args(rest))


def setting_names() -> set[str]:
    """Every environment variable the settings read."""
    return {PREFIX + name.upper() for name in Settings.model_fields}


def unknown_settings(env: Mapping[str, str]) -> list[str]:
    """The INCIDENTDESK_* names of ``env`` that no setting reads (settings ignore unknown names, so a
    misspelt one would be dropped without a word)."""
    return sorted(name for name in env if name.startswith(PREFIX) and name not in setting_names())


@contextmanager
def settings_from(env: Mapping[str, str]) -> Iterator[Settings]:
    """The settings a process started with ``env`` reads, and none of this process's INCIDENTDESK_*."""
    saved = {name: value for name, value in os.environ.items() if name.startswith(PREFIX)}
    try:
        for name in saved:
            del os.environ[name]
        os.environ.update({name: value for name, value in env.items() if name.startswith(PREFIX)})
        yield Settings()
    finally:
        for name in [name for name in os.environ if name.startswith(PREFIX)]:
            del os.environ[name]
        os.environ.update(saved)


def serve_address(invocation: Invocation, env: Mapping[str, str]) -> tuple[str, int]:
    """Where a ``serve`` command started with ``env`` listens."""
    assert invocation.command == "serve", invocation.argv
    with settings_from(env) as settings:
        return listen_address(invocation.args, settings)


def app_routes(env: Mapping[str, str]) -> list[BaseRoute]:
    """The routes of the app a server started with ``env`` serves (built, never started: nothing
    connects). ``create_app`` refuses settings that must not serve production."""
    with settings_from(env) as settings:
        app = create_app(settings, database_url=f"postgresql://incidentdesk_app:{SECRET}@127.0.0.1:9/none")
    return list(app.routes)


def routes_get(routes: list[BaseRoute], path: str) -> bool:
    """Whether the app's router answers a GET of ``path`` (its own matching, path parameters included)."""
    scope = {"type": "http", "method": "GET", "path": path, "root_path": ""}
    return any(route.matches(scope)[0] is Match.FULL for route in routes)


def setting_mentions(text: str) -> set[str]:
    """The INCIDENTDESK_* names written in ``text``."""
    return set(re.findall(PREFIX + r"[A-Z0-9_]+", text))


def url_paths(text: str) -> list[str]:
    """The paths of the http:// URLs written in ``text``."""
    return re.findall(r"https?://[^/\s'\"]+(/[^\s'\"?]*)", text)


# ------------------------------------------------------------------------------------------ manifests


def load_yaml(path: Path) -> list[dict[str, Any]]:
    """Every document of a YAML file."""
    with path.open() as handle:
        return [document for document in yaml.safe_load_all(handle) if document is not None]


def interpolated(value: str) -> str:
    """A Compose value with each ``${NAME...}`` replaced by what it stands for: its default when it has
    one (``${NAME:-default}``), else a value from the operator's .env."""

    def substitute(match: re.Match[str]) -> str:
        default = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*:?-(.*)", match.group(1))
        return default.group(1) if default else SECRET

    return re.sub(r"\$\{([^}]*)\}", substitute, value)


def compose_variables(text: str) -> dict[str, bool]:
    """The variables a Compose file reads from its environment, each with whether it is required
    (``${NAME:?message}``)."""
    found: dict[str, bool] = {}
    for name, operator in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?])?", text):
        found[name] = found.get(name, False) or operator.endswith("?")
    return found


def dotenv_names(path: Path) -> set[str]:
    """The names a .env file sets."""
    names = set()
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            names.add(line.partition("=")[0].strip())
    return names


def kubernetes_resources() -> dict[tuple[str, str], dict[str, Any]]:
    """Every resource the kustomization applies, by (kind, name)."""
    (kustomization,) = load_yaml(KUBERNETES / "kustomization.yaml")
    resources: dict[tuple[str, str], dict[str, Any]] = {}
    for file in kustomization["resources"]:
        for document in load_yaml(KUBERNETES / file):
            key = (document["kind"], document["metadata"]["name"])
            assert key not in resources, f"{key} is declared twice"
            resources[key] = document
    return resources


def selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether a label selector (matchLabels, or a Service's plain map) selects these labels."""
    wanted = selector.get("matchLabels", selector)
    assert "matchExpressions" not in selector, "only matchLabels is understood here"
    return bool(wanted) and all(labels.get(key) == value for key, value in wanted.items())
