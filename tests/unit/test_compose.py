"""docker-compose.yml is a valid Compose file and says what the code says (no Docker engine needed).

Validated against the Compose Specification's JSON Schema (tests/fixtures/compose-spec.json, its
origin in compose-spec.SOURCE.txt); then its topics, partitions, compaction, replication and
environment are compared with streams/topics.py and streams/settings.py, and the monitoring services
with what they mount from deploy/: Prometheus scrapes the workers' web port, Grafana gets the
datasource and the dashboard.
"""

from __future__ import annotations

import json
import re
import shlex
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft201909Validator

from streams import topics
from streams.settings import Settings
from tests.grafana import DASHBOARD

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "tests" / "fixtures" / "compose-spec.json"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def worker_env(compose: dict[str, Any]) -> dict[str, str]:
    env = compose["services"]["worker"]["environment"]
    assert isinstance(env, dict)
    return {str(k): str(v) for k, v in env.items()}


def _binds(service: dict[str, Any]) -> dict[str, Path]:
    """A service's bind mounts (``./source:target:ro``): container path -> the repository's file or folder."""
    out = {}
    for volume in service.get("volumes", []):
        source, target, *_ = str(volume).split(":")
        if source.startswith("./"):
            out[target] = ROOT / source
    return out


def _container_port(service: dict[str, Any]) -> int:
    (published,) = service["ports"]
    return int(str(published).rsplit(":", 1)[-1])


def _created_topics(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The topics the topic-init service creates: name -> partitions, replication, configs."""
    script = "\n".join(compose["services"]["topic-init"]["command"])
    out: dict[str, dict[str, Any]] = {}
    for line in script.splitlines():
        if "--topic" not in line or "--describe" in line:
            continue
        args = shlex.split(line)
        spec: dict[str, Any] = {"configs": {}}
        for flag, value in pairwise(args):
            if flag == "--topic":
                name = value
            elif flag == "--partitions":
                spec["partitions"] = int(value)
            elif flag == "--replication-factor":
                spec["replication"] = int(value)
            elif flag == "--config":
                key, _, val = value.partition("=")
                spec["configs"][key] = val
        out[name] = spec
    return out


def test_the_schema_fixture_is_the_compose_specification() -> None:
    schema = json.loads(SCHEMA.read_text())
    assert schema["title"] == "Compose Specification"
    Draft201909Validator.check_schema(schema)


def test_compose_file_is_valid_against_the_compose_specification(compose: dict[str, Any]) -> None:
    validator = Draft201909Validator(json.loads(SCHEMA.read_text()))
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_the_schema_rejects_a_broken_file(compose: dict[str, Any]) -> None:
    # the validation can fail: a misspelt key and a bad dependency condition are caught
    broken = json.loads(json.dumps(compose))
    broken["services"]["worker"]["depends_on"]["kafka"]["condition"] = "service_ready"
    broken["services"]["worker"]["helthcheck"] = {}
    validator = Draft201909Validator(json.loads(SCHEMA.read_text()))
    assert len(list(validator.iter_errors(broken))) >= 2


def test_images_are_pinned(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["kafka"]["image"] == "apache/kafka:3.9.1"  # the version the integration tests run
    assert services["topic-init"]["image"] == services["kafka"]["image"]
    assert re.fullmatch(r"postgres:\d+\.\d+", services["postgres"]["image"])
    assert re.fullmatch(r"prom/prometheus:v\d+\.\d+\.\d+", services["prometheus"]["image"])
    assert re.fullmatch(r"grafana/grafana:\d+\.\d+\.\d+", services["grafana"]["image"])
    assert "FROM python:3.11" in (ROOT / "Dockerfile").read_text()


def test_the_image_holds_every_package_the_install_finds() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    packages = re.search(r"include = \[(.*?)\]", (ROOT / "pyproject.toml").read_text())
    assert packages is not None
    for name in re.findall(r'"(\w+)\*"', packages.group(1)):
        assert f"COPY {name} {name}" in dockerfile, name


def test_init_creates_every_topic_and_changelog_of_the_code(
    compose: dict[str, Any], worker_env: dict[str, str]
) -> None:
    settings = Settings.from_env(worker_env)
    created = _created_topics(compose)
    wanted = {settings.topic(t.name) for t in topics.TOPICS}
    changelogs = {topics.changelog_topic(settings.app_id, table) for table in topics.TABLES}
    compacted = {settings.topic(t.name) for t in topics.TOPICS if t.compacted}
    assert set(created) == wanted | changelogs
    for name, spec in created.items():
        assert spec["partitions"] == settings.topic_partitions, name
        assert spec["replication"] == settings.kafka_replication_factor, name
        if name in changelogs or name in compacted:
            assert spec["configs"] == {"cleanup.policy": "compact"}, name
        else:
            assert int(spec["configs"]["retention.ms"]) >= 24 * 3600 * 1000, name
    # the history projection keeps 14 days by default: odds.changes keeps at least as long
    assert int(created[settings.topic("odds.changes")]["configs"]["retention.ms"]) >= 14 * 24 * 3600 * 1000


def test_worker_environment_is_read_by_the_settings(worker_env: dict[str, str]) -> None:
    assert all(name.startswith("ODDSTREAM_") for name in worker_env)
    settings = Settings.from_env(worker_env)
    # every variable the file sets is one the settings read and hand on (unknown names would vanish)
    child = settings.to_child_env()
    missing = sorted(set(worker_env) - set(child))
    assert not missing, f"variables the settings do not read: {missing}"
    # and read as the file means them: handing them on rebuilds the same settings
    assert Settings.from_env({k: child[k] for k in worker_env}) == settings
    assert settings.kafka_bootstrap == "kafka:9092"
    assert settings.web_host == "0.0.0.0" and settings.advertised_host != "0.0.0.0"
    assert settings.kafka_acks == "all"


def test_services_wire_up(compose: dict[str, Any], worker_env: dict[str, str]) -> None:
    services = compose["services"]
    worker = services["worker"]
    assert worker["depends_on"]["topic-init"] == {"condition": "service_completed_successfully"}
    assert worker["depends_on"]["kafka"] == {"condition": "service_healthy"}
    assert worker["depends_on"]["postgres"] == {"condition": "service_healthy"}
    # scalable: no fixed host port, no container_name
    assert "container_name" not in worker
    assert all(":" not in str(p) for p in worker["ports"])
    assert worker["ports"] == [worker_env["ODDSTREAM_WEB_PORT"]]
    for name in ("kafka", "postgres", "simulator", "worker", "prometheus", "grafana"):
        assert "healthcheck" in services[name], name
    assert {"kafka-data", "pg-data", "prometheus-data", "grafana-data"} <= set(compose["volumes"])
    kafka_env = services["kafka"]["environment"]
    assert kafka_env["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    advertised = kafka_env["KAFKA_ADVERTISED_LISTENERS"].removeprefix("PLAINTEXT://")
    assert Settings.from_env(worker_env).kafka_bootstrap == advertised
    sim_port = services["simulator"]["command"][-1]
    assert worker_env["ODDSTREAM_BETPAWA_URL"] == f"http://simulator:{sim_port}"


def test_the_production_database_runs_with_the_embedded_servers_settings(compose: dict[str, Any]) -> None:
    from oddstream.runtime.postgres import SERVER_SETTINGS

    command = compose["services"]["postgres"]["command"]
    given = dict(value.split("=", 1) for flag, value in pairwise(command) if flag == "-c")
    assert given == SERVER_SETTINGS


def test_mounts_are_files_of_the_repository_read_only_or_named_volumes(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source, _, *mode = str(volume).split(":")
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name}: {source} is not in the repository"
                assert mode == ["ro"], f"{name}: {volume} is not read-only"
            else:
                assert source in compose["volumes"], f"{name}: {volume} is neither ./file nor a named volume"


def test_prometheus_scrapes_every_worker_at_its_web_port(compose: dict[str, Any], worker_env: dict[str, str]) -> None:
    prometheus = compose["services"]["prometheus"]
    assert prometheus["depends_on"] == {"worker": {"condition": "service_started"}}
    # no command: the image's own flags read /etc/prometheus/prometheus.yml and keep data in /prometheus
    assert "command" not in prometheus
    assert "prometheus-data:/prometheus" in prometheus["volumes"]
    config = yaml.safe_load(_binds(prometheus)["/etc/prometheus/prometheus.yml"].read_text())
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "oddstream" and job["metrics_path"] == "/metrics"
    # every replica of the worker service, found by DNS (one A record each), at the workers' web port
    (found,) = job["dns_sd_configs"]
    assert found["names"] == ["worker"] and found["type"] == "A"
    assert found["port"] == Settings.from_env(worker_env).web_port == int(compose["services"]["worker"]["ports"][0])
    assert "static_configs" not in job


def test_grafana_is_provisioned_with_the_prometheus_and_the_dashboard(compose: dict[str, Any]) -> None:
    services = compose["services"]
    grafana = services["grafana"]
    binds = _binds(grafana)
    assert grafana["depends_on"] == {"prometheus": {"condition": "service_started"}}
    # the datasource is the compose service's Prometheus, at the port it listens on
    (datasource,) = yaml.safe_load((binds["/etc/grafana/provisioning/datasources"] / "prometheus.yml").read_text())[
        "datasources"
    ]
    assert datasource["url"] == f"http://prometheus:{_container_port(services['prometheus'])}"
    # the dashboard provider reads a mounted folder, and that folder is the one holding the dashboard
    (provider,) = yaml.safe_load((binds["/etc/grafana/provisioning/dashboards"] / "oddstream.yml").read_text())[
        "providers"
    ]
    assert provider["type"] == "file"
    assert binds[provider["options"]["path"]] == DASHBOARD.parent
    # and it opens as the home dashboard
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    folder, _, file = home.rpartition("/")
    assert binds[folder] / file == DASHBOARD and DASHBOARD.is_file()
    assert _container_port(grafana) == 3000


def test_grafana_keeps_no_password_beyond_the_documented_default(compose: dict[str, Any]) -> None:
    env = compose["services"]["grafana"]["environment"]
    assert env["GF_SECURITY_ADMIN_PASSWORD"] == "${GRAFANA_ADMIN_PASSWORD:-admin}"
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "true" and env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
