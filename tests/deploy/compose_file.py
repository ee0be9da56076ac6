"""deploy/compose.yaml, read: its services and what each runs, as tests/deploy/ needs them."""

from __future__ import annotations

from typing import Any

from tests.deploy import sources as s

COMPOSE = s.DEPLOY / "compose.yaml"
Services = dict[str, dict[str, Any]]


def load() -> dict[str, Any]:
    (document,) = s.load_yaml(COMPOSE)
    return document


def ours(services: Services) -> Services:
    """The services that run the image of this repository."""
    return {name: service for name, service in services.items() if "build" in service}


def declared_environment(service: dict[str, Any]) -> dict[str, str]:
    """The service's own environment, its ${...} replaced by what they stand for."""
    return {name: s.interpolated(str(value)) for name, value in service.get("environment", {}).items()}


def environment(service: dict[str, Any]) -> dict[str, str]:
    """What a container of the service finds in its environment: the image's ENV, then the service's."""
    return {**s.runtime_stage().env(), **declared_environment(service)}


def invocation(service: dict[str, Any]) -> s.Invocation:
    return s.parse_command(s.image_argv(service.get("command")))


def by_command(services: Services, command: str) -> Services:
    return {name: svc for name, svc in ours(services).items() if invocation(svc).command == command}


def replicas(services: Services) -> Services:
    return by_command(services, "serve")


def the_migration(services: Services) -> str:
    (name,) = by_command(services, "migrate")
    return name


def the_service(services: Services, image: str) -> str:
    (name,) = [name for name, svc in services.items() if str(svc.get("image", "")).startswith(image + ":")]
    return name
