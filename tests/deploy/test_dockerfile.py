"""The Dockerfile against the code: its default command is a real command line that serves on the port it
exposes, its health check asks a real route, and every setting it sets exists."""

from __future__ import annotations

from tests.deploy import sources as s


def test_the_default_command_serves_on_every_interface_and_the_exposed_port() -> None:
    stage = s.runtime_stage()
    invocation = s.parse_command(s.image_argv())
    host, port = s.serve_address(invocation, stage.env())
    assert invocation.command == "serve"
    assert host == "0.0.0.0", "inside a container the server must listen beyond loopback"
    assert stage.exposed_ports() == [port]


def test_the_entrypoint_runs_any_subcommand() -> None:
    # `docker run IMAGE migrate`: the arguments after the image replace CMD and go to the entrypoint.
    assert s.parse_command(s.image_argv(["migrate"])).command == "migrate"
    assert s.parse_command(s.image_argv(["serve", "--no-migrate"])).args.no_migrate


def test_the_health_check_asks_a_route_of_the_app() -> None:
    stage = s.runtime_stage()
    command = " ".join(stage.healthcheck_command())
    paths = s.url_paths(command)
    assert paths == ["/healthz"], command
    routes = s.app_routes(stage.env())
    assert s.routes_get(routes, paths[0])
    # The port it asks is the one the server binds: read from the same setting.
    assert "INCIDENTDESK_PORT" in command


def test_every_setting_it_names_exists() -> None:
    stage = s.runtime_stage()
    assert s.unknown_settings(stage.env()) == []
    named = {word for rest in stage.all("HEALTHCHECK") for word in s.setting_mentions(rest)}
    assert named <= s.setting_names(), named - s.setting_names()


def test_it_runs_as_an_unprivileged_user() -> None:
    assert s.runtime_stage().user_id() >= 1000
