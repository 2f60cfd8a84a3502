"""The Kubernetes manifests: both overlays render, validate against the schemas and follow the rules."""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from slm_shared.cli import DRAIN_SECONDS

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "k8s"
DOCKER = ROOT / "deploy" / "docker"
SERVICES = ("catalog", "agreements", "measurement", "notifier")
SPLIT = ("measurement", "notifier")  # their workers run in their own Deployment
OVERLAYS = ("dev", "prod")
KUBERNETES_VERSION = "1.32.0"
STANDARD_ENV = re.compile(r"^(OTEL_|PYTHON)")


def kubectl() -> str:
    """kubectl, installed from Debian's packages when missing and possible; else a visible skip."""
    found = shutil.which("kubectl")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=300)
        for package in ("kubectl", "kubernetes-client"):
            subprocess.run(["apt-get", "install", "-y", "-qq", package], env=env, capture_output=True, timeout=300)
            if found := shutil.which("kubectl"):
                return found
    pytest.skip("kubectl is not installed and could not be installed from Debian's packages (needs root and apt-get)")


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    overlay = request.param
    result = subprocess.run(
        [kubectl(), "kustomize", str(K8S / "overlays" / overlay)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return overlay, [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def named(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in of_kind(objects, kind) if o["metadata"]["name"] == name]
    assert found, f"no {kind} {name}"
    return found[0]


def service_workloads(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(service, Deployment or Job) for each of the four services."""
    for obj in objects:
        if obj["kind"] in ("Deployment", "Job"):
            service = obj["metadata"]["labels"].get("app.kubernetes.io/name")
            if service in SERVICES:
                yield service, obj


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def test_every_object_is_valid_for_kubernetes(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    _, objects = rendered
    errors = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {exc.message} at {list(exc.path)}")
    assert not errors, "\n".join(errors)


def test_the_schema_check_catches_a_broken_object() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    broken = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}, "spec": {"replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def settings_variables(service: str) -> set[str]:
    """Every environment variable the service's Settings class reads (aliases and prefixed names)."""
    settings = importlib.import_module(f"slm_{service}.config").Settings
    prefix = settings.model_config.get("env_prefix", "")
    names = set()
    for field_name, field in settings.model_fields.items():
        alias = field.validation_alias
        names.add((alias if isinstance(alias, str) else prefix + field_name).upper())
    return names


def environment_of(container: dict[str, Any], objects: list[dict[str, Any]]) -> set[str]:
    """Names set through env and through envFrom ConfigMaps/Secrets present in the rendering."""
    names = {entry["name"] for entry in container.get("env", [])}
    for source in container.get("envFrom", []):
        kind, ref = (
            ("ConfigMap", source["configMapRef"]) if "configMapRef" in source else ("Secret", source["secretRef"])
        )
        found = named(objects, kind, ref["name"])  # an envFrom we cannot see could set anything
        names |= set(found.get("data", {}) or {}) | set(found.get("stringData", {}) or {})
    return names


def test_every_environment_variable_is_read_by_the_service(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = rendered
    unknown = []
    for service, workload in service_workloads(objects):
        readable = settings_variables(service)
        for container in pod_spec(workload)["containers"]:
            for name in sorted(environment_of(container, objects)):
                if name.upper() not in readable and not STANDARD_ENV.match(name):
                    unknown.append(f"{workload['kind']}/{workload['metadata']['name']}: {name}")
    assert not unknown, f"variables no Settings class reads: {unknown}"


def test_the_environment_check_knows_the_settings() -> None:
    assert {"CATALOG_DATABASE_URL", "SLM_NATS_URL", "SLM_JWT_SECRET", "CATALOG_PORT"} <= settings_variables("catalog")
    assert "AGREEMENTS_CATALOG_URL" in settings_variables("agreements")
    assert "CATALOG_CATALOG_URL" not in settings_variables("catalog")


def test_each_service_has_its_objects(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    overlay, objects = rendered
    for service in SERVICES:
        deployment = named(objects, "Deployment", service)
        named(objects, "Service", service)
        named(objects, "NetworkPolicy", service)
        job = named(objects, "Job", f"{service}-migrate")
        assert pod_spec(job)["containers"][0]["args"] == ["migrate"]
        assert pod_spec(deployment)["containers"][0]["args"] == ["serve", "--no-migrate"]
        for workload in (deployment, job):
            account = named(objects, "ServiceAccount", pod_spec(workload)["serviceAccountName"])
            assert account["automountServiceAccountToken"] is False
            assert pod_spec(workload)["automountServiceAccountToken"] is False
        if overlay == "prod":
            hpa = named(objects, "HorizontalPodAutoscaler", service)
            assert hpa["spec"]["scaleTargetRef"]["name"] == service
            assert deployment["spec"]["replicas"] == hpa["spec"]["minReplicas"] >= 2
            budget = named(objects, "PodDisruptionBudget", service)
            assert budget["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
        else:
            assert deployment["spec"]["replicas"] == 1
            assert not of_kind(objects, "HorizontalPodAutoscaler")


def test_workers_run_in_their_own_deployments(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    overlay, objects = rendered
    for service in SPLIT:
        api, worker = named(objects, "Deployment", service), named(objects, "Deployment", f"{service}-worker")
        api_env = {e["name"]: e.get("value") for e in pod_spec(api)["containers"][0].get("env", [])}
        assert api_env[f"{service.upper()}_RUN_WORKERS"] == "false"
        container = pod_spec(worker)["containers"][0]
        assert container["args"] == ["worker", "--no-migrate"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert pod_spec(worker)["terminationGracePeriodSeconds"] >= DRAIN_SECONDS + 12
        labels = worker["spec"]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/component"] == "worker"
        selector = named(objects, "Service", service)["spec"]["selector"]
        assert not set(selector.items()) <= set(labels.items()), "the Service must not send API traffic to workers"
        if overlay == "prod":
            assert worker["spec"]["replicas"] >= 2
            budget = named(objects, "PodDisruptionBudget", f"{service}-worker")
            assert budget["spec"]["selector"]["matchLabels"] == worker["spec"]["selector"]["matchLabels"]
    for service in set(SERVICES) - set(SPLIT):
        env = {e["name"] for e in pod_spec(named(objects, "Deployment", service))["containers"][0].get("env", [])}
        assert f"{service.upper()}_RUN_WORKERS" not in env


def test_pods_are_locked_down(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = rendered
    workloads = [o for o in objects if o["kind"] in ("Deployment", "StatefulSet", "Job")]
    for workload in workloads:
        spec = pod_spec(workload)
        where = f"{workload['kind']}/{workload['metadata']['name']}"
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", where
        assert spec["automountServiceAccountToken"] is False, where
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["capabilities"]["drop"] == ["ALL"], where
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), where
            assert "memory" in container["resources"]["limits"], where


def test_probes_and_graceful_shutdown(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = rendered
    for service in SERVICES:
        spec = pod_spec(named(objects, "Deployment", service))
        container = spec["containers"][0]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        # The pod must outlive the pause, the HTTP drain and the workers' shutdown.
        assert spec["terminationGracePeriodSeconds"] >= pause + DRAIN_SECONDS + 12
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        own = next(s["configMapRef"]["name"] for s in container["envFrom"] if f"{service}-config" in str(s))
        assert named(objects, "ConfigMap", own)["data"][f"{service.upper()}_PORT"] == str(ports["http"])


def test_secrets_are_referenced_not_written_in_prod(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    overlay, objects = rendered
    referenced = {
        env["valueFrom"]["secretKeyRef"]["name"]
        for _, workload in service_workloads(objects)
        for container in pod_spec(workload)["containers"]
        for env in container.get("env", [])
        if "secretKeyRef" in env.get("valueFrom", {})
    }
    secrets = {s["metadata"]["name"] for s in of_kind(objects, "Secret")}
    if overlay == "prod":
        assert not secrets, "production secrets come from outside the repository"
        assert referenced == {"slm-auth", "notifier-keys", "nats-users"} | {f"{s}-database" for s in SERVICES}
    else:
        assert referenced <= secrets, referenced - secrets


@pytest.mark.parametrize("overlay", ["base", "prod"])
def test_nats_config_has_each_services_user_with_the_generated_permissions(overlay: str) -> None:
    from slm_shared.bus.auth import render_authorization, service_user

    path = ROOT / "deploy/k8s" / ("base/nats" if overlay == "base" else "overlays/prod") / "nats.conf"
    users = [service_user(s, "unused") for s in SERVICES]
    expected = render_authorization(users, password_env={s: f"{s.upper()}_NATS_PASSWORD" for s in SERVICES})
    text = path.read_text()
    assert expected in text
    if overlay == "prod":
        assert "tls {" in text and "/etc/nats/tls/tls.crt" in text


def egress_targets(policy: dict[str, Any]) -> Iterator[tuple[dict[str, Any], set[Any]]]:
    """(peer, ports) per egress peer; a rule without `to` allows every destination, without ports every port."""
    for rule in policy["spec"].get("egress", []):
        ports = {p["port"] for p in rule.get("ports", [])} or {"any"}
        for peer in rule.get("to", [{}]):
            yield peer, ports


def test_only_the_notifier_leaves_the_cluster(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    overlay, objects = rendered
    named(objects, "NetworkPolicy", "default-deny")
    leaving = set()
    for policy in of_kind(objects, "NetworkPolicy"):
        selected = policy["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name")
        for peer, ports in egress_targets(policy):
            assert peer, f"{policy['metadata']['name']} allows egress anywhere"
            block = peer.get("ipBlock")
            if block is None:
                continue
            if selected == "notifier":
                assert ports <= {80, 443}
                leaving.add(block["cidr"])
            else:  # only the production database network, and only PostgreSQL's port
                assert overlay == "prod" and policy["metadata"]["name"] == "database-egress", policy
                assert block["cidr"] not in ("0.0.0.0/0", "::/0") and ports == {5432}
    assert leaving == {"0.0.0.0/0", "::/0"}


def test_nats_acknowledges_only_what_is_on_disk(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    overlay, objects = rendered
    nats = named(objects, "StatefulSet", "nats")
    config = next(c for c in of_kind(objects, "ConfigMap") if c["metadata"]["name"].startswith("nats-config"))
    text = config["data"]["nats.conf"]
    assert re.search(r"sync_interval:\s*always", text)
    assert nats["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
    if overlay == "prod":
        assert nats["spec"]["replicas"] == 3
        routes = re.findall(r"nats://(nats-\d)\.nats-headless:6222", text)
        assert routes == ["nats-0", "nats-1", "nats-2"]
        named(objects, "PodDisruptionBudget", "nats")
    else:
        assert nats["spec"]["replicas"] == 1 and "cluster" not in text
        named(objects, "StatefulSet", "postgres")


def dockerfile(service: str) -> str:
    return (DOCKER / f"{service}.Dockerfile").read_text()


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_rules(service: str) -> None:
    text = dockerfile(service)
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\w+))?", text, flags=re.MULTILINE | re.IGNORECASE)
    assert len(stages) >= 2, "multi-stage"
    final = text[text.rfind("\nFROM ") :]
    assert "-slim" in text and re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", text, re.MULTILINE)
    assert "-c constraints.txt" in text and "COPY constraints.txt" in text
    assert f"./shared ./services/{service}" in text
    user = re.findall(r"^USER\s+(\S+)", final, flags=re.MULTILINE)
    assert user and not user[-1].startswith(("root", "0")), "runs as a non-root user"
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", final, flags=re.MULTILINE)
    assert "COPY --from=build /opt/venv /opt/venv" in final
    assert not re.search(r"(apt-get|apk) .*install|gcc|build-essential", final), "no build tools in the final image"
    assert "pip uninstall" in final
    script = re.search(r'^ENTRYPOINT \["([^"]+)"\]', final, flags=re.MULTILINE)
    pyproject = (ROOT / "services" / service / "pyproject.toml").read_text()
    assert script and f"{script.group(1)} = " in pyproject
    assert "EXPOSE 8080" in final and f"{service.upper()}_PORT=8080" in final


def test_every_workload_would_start_in_production(
    rendered: tuple[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The settings each workload gets (ConfigMaps, plus a stand-in for each Secret it references) pass
    the production checks: audience, service key, the notifier's link and storage keys."""
    from cryptography.fernet import Fernet

    overlay, objects = rendered
    for service, workload in service_workloads(objects):
        container = pod_spec(workload)["containers"][0]
        values: dict[str, str] = {}
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                values.update(named(objects, "ConfigMap", source["configMapRef"]["name"]).get("data", {}))
        for env in container.get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref is None:
                values[env["name"]] = env.get("value", "")
            elif ref["key"] == "secret-keys":
                values[env["name"]] = Fernet.generate_key().decode()
            else:
                values[env["name"]] = f"stand-in-{ref['name']}-{ref['key']}-0123456789abcdef"
        with monkeypatch.context() as patch:
            for name in [n for n in os.environ if n.startswith(("SLM_", f"{service.upper()}_"))]:
                patch.delenv(name)
            for name, value in values.items():
                patch.setenv(name, value)
            settings = importlib.import_module(f"slm_{service}.config").Settings()
        assert settings.environment == ("production" if overlay == "prod" else "development")
        if overlay == "prod":
            assert settings.jwt_audience and settings.service_token_secret is not None, workload["metadata"]["name"]
