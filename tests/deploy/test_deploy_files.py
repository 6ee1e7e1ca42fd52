"""The deployment files parse and pass schema checks, with no container engine or network."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S_FILES = sorted((DEPLOY / "k8s").rglob("*.yaml"))
KUBERNETES_VERSION = "1.30.0"


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def k8s_documents() -> list[tuple[str, dict]]:
    return [
        (f"{path.relative_to(DEPLOY)}:{doc['kind']}/{doc['metadata']['name']}", doc)
        for path in K8S_FILES
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def test_compose_file_matches_the_compose_specification():
    schema = json.loads((Path(__file__).parent / "schemas" / "compose-spec.json").read_text())
    errors = [
        f"{'/'.join(map(str, error.path))}: {error.message}"
        for error in jsonschema.Draft201909Validator(schema).iter_errors(compose())
    ]
    assert errors == []


def test_compose_runs_migrations_before_web_worker_and_beat():
    services = compose()["services"]

    assert set(services) == {"db", "redis", "migrate", "web", "worker", "beat"}
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
    for name in ("db", "redis", "web", "worker"):
        assert "healthcheck" in services[name], name
    assert "--appendonly" in services["redis"]["command"]


@pytest.mark.parametrize(("name", "document"), k8s_documents(), ids=lambda v: v)
def test_kubernetes_manifest_matches_the_api_schema(name, document):
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_kubernetes_schema_check_rejects_a_misspelt_field():
    _, deployment = next(d for d in k8s_documents() if d[1]["kind"] == "Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replicaz": 2}}

    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_kubernetes_has_one_beat_a_scaled_worker_and_a_wildcard_ingress():
    by_kind_name = {(doc["kind"], doc["metadata"]["name"]): doc for _, doc in k8s_documents()}

    assert by_kind_name[("Deployment", "portal-beat")]["spec"]["replicas"] == 1
    assert by_kind_name[("Deployment", "portal-beat")]["spec"]["strategy"] == {"type": "Recreate"}
    hpa = by_kind_name[("HorizontalPodAutoscaler", "portal-worker")]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "portal-worker"
    hosts = [rule["host"] for rule in by_kind_name[("Ingress", "portal")]["spec"]["rules"]]
    assert hosts == ["portal.example.com", "*.portal.example.com"]
    job = by_kind_name[("Job", "portal-migrate")]
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "manage.py", "migrate", "--noinput"]
    web = by_kind_name[("Deployment", "portal-web")]["spec"]["template"]["spec"]
    [web_container] = web["containers"]
    assert web_container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert web_container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert web["securityContext"]["runAsNonRoot"] is True


def test_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run(
        [hadolint, "--no-color", str(DEPLOY / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_runs_as_a_non_root_user():
    lines = (DEPLOY / "Dockerfile").read_text().splitlines()
    users = [line.split()[1] for line in lines if line.startswith("USER ")]

    assert users == ["10001:10001"]
    assert sum(line.startswith("FROM ") for line in lines) == 2  # build and runtime stages


def test_env_example_documents_every_setting_read_from_the_environment():
    settings_source = (ROOT / "portal" / "settings" / "base.py").read_text()
    read = set(re.findall(r'env_[a-z]+\(\s*"([A-Z0-9_]+)"', settings_source))
    documented = set(
        re.findall(r"^([A-Z0-9_]+)=", (DEPLOY / "env.example").read_text(), re.MULTILINE)
    )

    assert read, "no env_* reader found in the settings"
    assert sorted(read - documented) == []
