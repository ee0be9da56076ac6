"""deploy/kubernetes/, read: its resources, their pods and what each container runs, as tests/deploy/
needs them."""

from __future__ import annotations

from typing import Any

from tests.deploy import sources as s

Resources = dict[tuple[str, str], dict[str, Any]]


def one(resources: Resources, kind: str) -> dict[str, Any]:
    (found,) = [resource for (k, _), resource in resources.items() if k == kind]
    return found


def pod(workload: dict[str, Any]) -> dict[str, Any]:
    template: dict[str, Any] = workload["spec"]["template"]
    return template


def container(workload: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = pod(workload)["spec"]["containers"]
    (found,) = containers
    return found


def invocation(container: dict[str, Any]) -> s.Invocation:
    # `command` would replace the image's entrypoint; `args` replaces its CMD.
    assert "command" not in container, "give the image's entrypoint its arguments with args"
    return s.parse_command(s.image_argv(container.get("args")))


def declared_environment(container: dict[str, Any]) -> dict[str, str]:
    """The container's own environment, a Secret's value standing in for each reference to one."""
    assert "envFrom" not in container, "name each variable, so that it can be checked"
    return {
        variable["name"]: str(variable["value"]) if "value" in variable else s.secret_value(variable["name"])
        for variable in container.get("env", [])
    }


def environment(container: dict[str, Any]) -> dict[str, str]:
    """What the container finds in its environment: the image's ENV, then its own."""
    return {**s.runtime_stage().env(), **declared_environment(container)}


def server_port(container: dict[str, Any]) -> int:
    return s.serve_address(invocation(container), environment(container))[1]


def resolved_port(container: dict[str, Any], port: int | str) -> int:
    """A port by number, or by the name of one of the container's ports."""
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in container["ports"] if p.get("name") == port]
    assert isinstance(number, int)
    return number
