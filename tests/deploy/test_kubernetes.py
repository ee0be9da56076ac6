"""deploy/kubernetes/ against the code: the containers run real command lines with settings that exist
and suffice for production, the probes ask real routes on the port the server binds, the Service, the
PodDisruptionBudget, the autoscaler and the NetworkPolicy select the server's pods and their port, the
migration runs as a Job before a new server takes traffic, and every secret comes from a Secret."""

from __future__ import annotations

import pytest

from tests.deploy import sources as s
from tests.deploy.kubernetes_files import (
    Resources,
    container,
    environment,
    invocation,
    one,
    pod,
    resolved_port,
    server_port,
)

# Settings that carry credentials: they come from a Secret, never from a literal in a manifest.
SECRET_SETTINGS = {
    "INCIDENTDESK_DATABASE_URL",
    "INCIDENTDESK_APP_DATABASE_URL",
    "INCIDENTDESK_KEY_ENCRYPTION_KEY",
    "INCIDENTDESK_RATE_LIMIT_STORAGE",
    "INCIDENTDESK_OIDC_ISSUERS",
}


@pytest.fixture(scope="module")
def resources() -> Resources:
    return s.kubernetes_resources()


def test_the_kustomization_applies_every_manifest() -> None:
    (kustomization,) = s.load_yaml(s.KUBERNETES / "kustomization.yaml")
    files = {path.name for path in s.KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(files)


def test_every_setting_exists_and_every_secret_comes_from_a_secret(resources: Resources) -> None:
    assert not [key for key in resources if key[0] in ("Secret", "ConfigMap")], "secrets are referenced"
    for kind in ("Deployment", "Job"):
        workload = one(resources, kind)
        for each in pod(workload)["spec"]["containers"]:
            assert s.unknown_settings(environment(each)) == [], kind
            for variable in each.get("env", []):
                if variable["name"] in SECRET_SETTINGS:
                    reference = variable.get("valueFrom", {}).get("secretKeyRef", {})
                    assert reference.get("name") and reference.get("key"), variable["name"]
                    assert "value" not in variable, variable["name"]


def test_the_server_serves_production_with_every_setting_it_requires(resources: Resources) -> None:
    server = container(one(resources, "Deployment"))
    assert invocation(server).command == "serve"
    with s.settings_from(environment(server)) as settings:
        assert settings.is_production
        assert settings.production_problems() == []
    # create_app refuses what must not serve production: building it is the last word.
    s.app_routes(environment(server))


def test_the_probes_ask_real_routes_on_the_port_the_server_binds(resources: Resources) -> None:
    server = container(one(resources, "Deployment"))
    host, port = s.serve_address(invocation(server), environment(server))
    assert host == "0.0.0.0", "the kubelet probes the pod's address, not its loopback"
    assert [p["containerPort"] for p in server["ports"]] == [port]
    routes = s.app_routes(environment(server))
    probes = {name: server[name]["httpGet"] for name in ("readinessProbe", "livenessProbe", "startupProbe")}
    # Ready only when the database answers and its schema is current; alive while the process runs.
    assert probes["readinessProbe"]["path"] == "/readyz"
    assert probes["livenessProbe"]["path"] == "/healthz"
    for name, probe in probes.items():
        assert s.routes_get(routes, probe["path"]), name
        assert resolved_port(server, probe["port"]) == port, name


def test_the_migration_runs_as_a_job_before_new_servers_take_traffic(resources: Resources) -> None:
    job = one(resources, "Job")
    migrate = container(job)
    assert invocation(migrate).command == "migrate"
    assert pod(job)["spec"]["restartPolicy"] in ("OnFailure", "Never")
    owner = {v["name"]: v for v in migrate["env"]}["INCIDENTDESK_DATABASE_URL"]
    # The servers never migrate and never see the owner's credentials: /readyz answers 503 until the
    # Job has brought the schema to every head, so a server of a new release takes no traffic before.
    server = container(one(resources, "Deployment"))
    assert invocation(server).args.no_migrate
    assert "INCIDENTDESK_DATABASE_URL" not in environment(server)
    server_secrets = {v["valueFrom"]["secretKeyRef"]["name"] for v in server["env"] if "valueFrom" in v}
    assert owner["valueFrom"]["secretKeyRef"]["name"] not in server_secrets
    assert server["readinessProbe"]["httpGet"]["path"] == "/readyz"
    strategy = one(resources, "Deployment")["spec"]["strategy"]
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0, "old servers keep serving meanwhile"


def test_both_run_as_the_images_unprivileged_user(resources: Resources) -> None:
    for kind in ("Deployment", "Job"):
        context = pod(one(resources, kind))["spec"]["securityContext"]
        assert context["runAsNonRoot"] is True, kind
        assert context["runAsUser"] == s.runtime_stage().user_id(), kind


def test_the_service_sends_requests_to_the_servers_port(resources: Resources) -> None:
    deployment = one(resources, "Deployment")
    server = container(deployment)
    labels = pod(deployment)["metadata"]["labels"]
    assert s.selects(deployment["spec"]["selector"], labels)
    service = one(resources, "Service")
    assert s.selects(service["spec"]["selector"], labels)
    for port in service["spec"]["ports"]:
        assert resolved_port(server, port["targetPort"]) == server_port(server)


def test_disruptions_and_scaling_keep_a_server_up(resources: Resources) -> None:
    deployment = one(resources, "Deployment")
    labels = pod(deployment)["metadata"]["labels"]
    budget = one(resources, "PodDisruptionBudget")
    assert s.selects(budget["spec"]["selector"], labels)
    autoscaler = one(resources, "HorizontalPodAutoscaler")
    target = autoscaler["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert "replicas" not in deployment["spec"], "the autoscaler owns the replica count"
    # A drain can always evict one server and still keep the budget.
    assert (
        1
        <= budget["spec"]["minAvailable"]
        < autoscaler["spec"]["minReplicas"]
        <= autoscaler["spec"]["maxReplicas"]
    )
    # Utilization is measured against the container's request: it must have one.
    (metric,) = autoscaler["spec"]["metrics"]
    assert container(deployment)["resources"]["requests"][metric["resource"]["name"]]


def test_a_stopping_server_finishes_its_requests_before_it_is_killed(resources: Resources) -> None:
    spec = pod(one(resources, "Deployment"))["spec"]
    server = container(one(resources, "Deployment"))
    with s.settings_from(environment(server)) as settings:
        grace = settings.shutdown_grace_seconds
    command = server["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    assert spec["terminationGracePeriodSeconds"] > int(command[1]) + grace


def test_the_network_policy_admits_the_servers_port_from_the_ingress_only(resources: Resources) -> None:
    deployment = one(resources, "Deployment")
    server = container(deployment)
    policy = one(resources, "NetworkPolicy")
    assert s.selects(policy["spec"]["podSelector"], pod(deployment)["metadata"]["labels"])
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    for rule in policy["spec"]["ingress"]:
        # The servers believe X-Forwarded-For from anyone who reaches them: only named peers may.
        if environment(server).get("FORWARDED_ALLOW_IPS") == "*":
            assert rule.get("from"), "an ingress rule open to every peer"
        assert [resolved_port(server, p["port"]) for p in rule["ports"]] == [server_port(server)]
