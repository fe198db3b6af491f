"""docker/: the compose file describes the whole production topology and holds no secret."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from pipeline.config import PROJECT_ROOT

DOCKER = PROJECT_ROOT / "docker"
COMPOSE = DOCKER / "docker-compose.yaml"
MINIO = DOCKER / "docker-compose.minio.yaml"
AIRFLOW_COMPONENTS = {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
                      "airflow-worker-1", "airflow-worker-2"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def example_env() -> dict[str, str]:
    lines = (DOCKER / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


def test_every_component_of_the_topology_is_a_service(compose):
    services = compose["services"]
    assert {"postgres", "redis", "mlflow", "airflow-init"} | AIRFLOW_COMPONENTS <= set(services)
    for name in AIRFLOW_COMPONENTS | {"airflow-init", "mlflow"}:
        assert services[name]["image"] == "ridership:latest", name
        assert services[name]["build"]["dockerfile"] == "docker/Dockerfile", name
    assert (DOCKER / "Dockerfile").exists()
    for name in AIRFLOW_COMPONENTS:
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:")
        assert env["RIDERSHIP_MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
        assert services[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
        # No disk shared between containers: what a task hands on goes through the object store.
        assert not any(v.split(":")[0] == "shared" for v in services[name]["volumes"])
        assert env["RIDERSHIP_ARTIFACT_ROOT"].endswith(":-s3://ridership/pipeline}")
        assert "AWS_ENDPOINT_URL" not in env  # S3 itself unless the MinIO override says otherwise
    assert "shared" not in compose["volumes"]
    assert "--artifacts-destination ${MLFLOW_ARTIFACTS_DESTINATION:-s3://ridership/mlflow}" in services["mlflow"]["command"]


def test_the_minio_override_points_every_client_at_its_bucket(compose):
    minio = yaml.safe_load(MINIO.read_text())["services"]
    assert "mb --ignore-existing store/ridership" in str(minio["object-store-init"]["entrypoint"])
    assert minio["mlflow"]["environment"]["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    for name in AIRFLOW_COMPONENTS | {"airflow-init", "mlflow"}:
        assert minio[name]["depends_on"]["object-store-init"]["condition"] == "service_completed_successfully"
        assert name in compose["services"]  # an override of a service the base file defines
    for name in AIRFLOW_COMPONENTS | {"airflow-init"}:
        assert minio[name]["environment"]["AWS_ENDPOINT_URL"] == "http://minio:9000"


def test_dependencies_name_existing_services(compose):
    services = compose["services"]
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown service {dependency}"


def test_no_secret_in_the_repository_only_variables_from_env_example(compose):
    text = COMPOSE.read_text() + MINIO.read_text()
    used = set(re.findall(r"\$\{(\w+)", text))
    defined = example_env()
    missing = {v for v in used if v not in defined and not re.search(rf"\$\{{{v}:-", text)}
    assert not missing, f"variables used by the compose file but not in .env.example: {missing}"
    assert all(value == "change-me" for key, value in defined.items() if "PASSWORD" in key or "SECRET" in key)
    for name, service in compose["services"].items():
        for key, value in service.get("environment", {}).items():
            if re.search("PASSWORD|SECRET", key) and not key.endswith("_FILE"):
                assert str(value).startswith("${"), f"{name}: {key} is a literal, not a variable"
    assert "docker/.env" in (PROJECT_ROOT / ".gitignore").read_text().split()


def test_a_compose_client_accepts_the_file_when_one_is_installed(tmp_path):
    """The structural tests above always run; a real client validates too wherever one exists."""
    env_file = tmp_path / ".env"
    env_file.write_text((DOCKER / ".env.example").read_text())
    if shutil.which("docker-compose"):
        command = ["docker-compose"]
    elif shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        command = ["docker", "compose"]
    else:
        command = None
    if command is None:
        # No client: the YAML must still load with every anchor and merge key resolved.
        loaded = yaml.safe_load(COMPOSE.read_text())
        assert loaded["services"]["airflow-worker-2"]["command"].startswith("airflow celery worker")
        assert yaml.safe_load(MINIO.read_text())["services"]["airflow-worker-2"]["environment"]
        return
    done = subprocess.run([*command, "-f", str(COMPOSE), "-f", str(MINIO), "--env-file", str(env_file), "config", "-q"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
