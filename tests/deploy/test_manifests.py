"""The rendered k3s manifests say what the code does: settings, commands, probes, references.

Each test reads every variant (both overlays as committed, and each overlay with each
streaming component) and would fail on a manifest that is valid YAML but wrong; the tests
named ``..._catches_...`` prove that on a manifest broken on purpose.
"""

from __future__ import annotations

import asyncio
import copy
import re
import tomllib
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from olist_cli.main import app as olist
from tests.deploy.manifests import (
    PROJECT_IMAGES,
    REPOSITORY_ROOT,
    SECRET,
    STREAM_JOB,
    Container,
    by_kind,
    environment,
    pod_template,
    pods,
    process_of,
    settings_from,
    spark_defaults,
    unknown_variables,
)
from tests.fixtures.deploy import VARIANTS

Objects = list[dict[str, Any]]
RUNBOOK = REPOSITORY_ROOT / "docs" / "operations" / "deploy.md"
VERSION = tomllib.loads((REPOSITORY_ROOT / "pyproject.toml").read_text())["project"]["version"]
NAMESPACED_REFERENCES = ("ConfigMap", "Secret", "PersistentVolumeClaim", "ServiceAccount")

variants = pytest.mark.parametrize("variant", VARIANTS)


def olist_containers(objects: Objects) -> list[tuple[Container, str]]:
    found = []
    for container in pods(objects):
        process = process_of(container)
        if process is not None:
            found.append((container, process))
    return found


def settings_problems(objects: Objects) -> list[str]:
    problems = []
    for container, process in olist_containers(objects):
        if process.startswith("unknown"):
            problems.append(f"{container.workload}: {process}")
            continue
        variables = environment(container, objects)
        for name in sorted(unknown_variables(process, variables)):
            problems.append(f"{container.workload}: {name} is read by nothing in `{process}`")
        try:
            settings_from(process, variables)
        except ValueError as error:
            problems.append(f"{container.workload}: settings refuse the manifest: {error}")
    return problems


@variants
def test_every_variable_is_a_setting_of_its_process_and_the_settings_accept_the_values(
    rendered: dict[str, Objects], variant: str
) -> None:
    assert settings_problems(rendered[variant]) == []


def test_settings_check_catches_a_misspelt_variable_and_a_bad_value(
    rendered: dict[str, Objects],
) -> None:
    objects = copy.deepcopy(rendered["local"])
    api_config = by_kind(objects, "ConfigMap")["olist-api"]["data"]
    api_config["OLIST_API_PROT"] = api_config.pop("OLIST_API_PORT")
    stream_config = by_kind(objects, "ConfigMap")["olist-stream"]["data"]
    stream_config["OLIST_TRIGGER_INTERVAL"] = "5 fortnights"

    problems = "\n".join(settings_problems(objects))

    assert "OLIST_API_PROT is read by nothing in `api`" in problems
    assert "trigger_interval" in problems


@pytest.mark.parametrize("variant", ["local", "gcp"])
def test_processes_reach_the_services_of_their_overlay(
    rendered: dict[str, Objects], variant: str
) -> None:
    objects = rendered[variant]
    services = set(by_kind(objects, "Service"))
    producer = next(c for c, p in olist_containers(objects) if p == "produce")
    api_url = environment(producer, objects)["OLIST_API_URL"]
    assert re.fullmatch(r"http://([a-z0-9-]+):(\d+)", api_url)
    host, port = api_url.removeprefix("http://").split(":")
    assert host in services
    assert int(port) in {p["port"] for p in by_kind(objects, "Service")[host]["spec"]["ports"]}
    emulator_variables = (
        "PUBSUB_EMULATOR_HOST", "STORAGE_EMULATOR_HOST", "OLIST_BIGQUERY_API_ENDPOINT",
    )  # fmt: skip
    for container, _ in olist_containers(objects):
        variables = environment(container, objects)
        for name in emulator_variables:
            if name in variables:
                assert variant == "local", f"{container.workload}: an emulator on GCP ({name})"
                host = variables[name].removeprefix("http://").split(":")[0]
                assert host in services, f"{container.workload}: {name} -> no Service {host}"


@pytest.mark.parametrize("variant", ["local", "gcp"])
def test_every_olist_command_in_the_manifests_is_a_real_subcommand_whose_help_runs(
    rendered: dict[str, Objects], variant: str
) -> None:
    runner = CliRunner()
    commands = set()
    for container, process in olist_containers(rendered[variant]):
        assert not process.startswith("unknown"), f"{container.workload}: {process}"
        if container.workload.startswith(("SparkApplication/", "SparkSubmit/")):
            continue  # the operator's spark-submit, the executors: see the job-file test
        commands.add(tuple(container.argv[1:] if process == "stream" else container.spec["args"]))
    assert commands
    for args in sorted(commands):
        result = runner.invoke(olist, [*args, "--help"])
        assert result.exit_code == 0, f"olist {' '.join(args)} --help: {result.output}"
        assert "Usage: " in result.output


@variants
def test_the_spark_job_file_is_streaming_job_in_the_stream_image(
    rendered: dict[str, Objects], variant: str
) -> None:
    dockerfile = (REPOSITORY_ROOT / "Dockerfile").read_text()
    python = re.search(r"ARG PYTHON_STANDALONE=(\d+\.\d+)", dockerfile)
    assert python is not None
    assert f"/python{python.group(1)}/" in STREAM_JOB
    assert (REPOSITORY_ROOT / "streaming" / "job.py").exists()
    for application in by_kind(rendered[variant], "SparkApplication").values():
        assert application["spec"]["mainApplicationFile"] == f"local://{STREAM_JOB}"
        pinned = re.search(r"^pyspark==([^ ;]+)", (REPOSITORY_ROOT / "requirements" /
                                                  "stream.lock").read_text(), re.M)  # fmt: skip
        assert pinned is not None
        assert application["spec"]["sparkVersion"] == pinned.group(1)


def served_paths(process: str) -> set[str]:
    """What each process answers on its probe port (asked from the real servers)."""
    if process == "api":
        from source_api.app import create_app
        from source_api.settings import ApiSettings

        # The app's routes as it publishes them (included routers are resolved there).
        return set(create_app(ApiSettings(api_auth_disabled=True)).openapi()["paths"])
    candidates = {"/healthz", "/readyz", "/status", "/metrics", "/nothing-here"}
    if process == "produce":
        from producer.metrics import MetricsServer, ProducerMetrics

        async def ask() -> set[str]:
            server = await MetricsServer(ProducerMetrics(), "127.0.0.1", 0).start()
            try:
                return {p for p in candidates if await asyncio.to_thread(answers, server.port, p)}
            finally:
                await server.stop()

        return asyncio.run(ask())
    if process == "dashboard":
        import tempfile
        import threading

        from analytics.dashboard.serve import dashboard_server

        with tempfile.TemporaryDirectory() as folder:
            server = dashboard_server(Path(folder), "127.0.0.1", 0)
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            try:
                return {p for p in candidates if answers(server.server_address[1], p)}
            finally:
                server.shutdown()
                server.server_close()
    if process == "stream":
        from streaming.metrics import StreamStatus
        from streaming.status_server import StatusServer

        status_server = StatusServer(StreamStatus(), "127.0.0.1", 0).start()
        try:
            return {p for p in candidates if answers(status_server.port, p)}
        finally:
            status_server.stop()
    return set()


def answers(port: int, path: str) -> bool:
    """True unless the server says 404 (a 503 from a probe endpoint is still that endpoint)."""
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30).close()
    except urllib.error.HTTPError as error:
        return error.code != 404
    return True


PORT_SETTING = {
    "api": "api_port",
    "produce": "metrics_port",
    "stream": "metrics_port",
    "dashboard": "dashboard_port",
}


@pytest.mark.parametrize("variant", ["local", "gcp", "local+spark-operator", "gcp+spark-submit"])
def test_probes_ask_the_port_and_paths_each_process_serves_with_its_settings(
    rendered: dict[str, Objects], variant: str
) -> None:
    objects = rendered[variant]
    paths: dict[str, set[str]] = {}
    probed = set()
    for container, process in olist_containers(objects):
        probes = [container.spec[k] for k in ("livenessProbe", "readinessProbe", "startupProbe")
                  if k in container.spec]  # fmt: skip
        if container.workload.endswith("executor") or process in {
            "db init",
            "pubsub init",
            "setup",
            "health",
            "generate",
            "simulate",
            "export-dimensions",
        }:
            assert probes == [], f"{container.workload} serves nothing to probe"
            continue
        assert {"livenessProbe", "readinessProbe"} <= set(container.spec), container.workload
        settings = settings_from(process, environment(container, objects))
        port = getattr(settings, PORT_SETTING[process])
        named = {p["name"]: p["containerPort"] for p in container.spec.get("ports", [])}
        assert port in named.values(), f"{container.workload}: port {port} not declared"
        if process not in paths:
            paths[process] = served_paths(process)
        for probe in probes:
            get = probe["httpGet"]
            assert named.get(get["port"], get["port"]) == port, container.workload
            assert get["path"] in paths[process], f"{container.workload}: {get['path']}"
        probed.add(process)
    assert probed == {"api", "produce", "stream", "dashboard"}


def test_probe_check_catches_a_path_the_api_does_not_serve(rendered: dict[str, Objects]) -> None:
    assert "/readyz" in served_paths("api")
    assert "/ready" not in served_paths("api")
    assert "/status" in served_paths("stream")
    assert "/readyz" in served_paths("stream")  # 503 while a batch is stuck
    assert "/ready" not in served_paths("stream")


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


@variants
def test_selectors_match_the_labels_of_the_pods_they_mean(
    rendered: dict[str, Objects], variant: str
) -> None:
    objects = rendered[variant]
    pod_labels = {c.workload: c.labels for c in pods(objects)}
    for o in objects:
        if o["kind"] in ("Deployment", "StatefulSet"):
            selector = o["spec"]["selector"]["matchLabels"]
            assert selects(selector, o["spec"]["template"]["metadata"]["labels"]), o["metadata"]
    for name, service in by_kind(objects, "Service").items():
        selector = service["spec"]["selector"]
        assert any(selects(selector, labels) for labels in pod_labels.values()), name
    for name, budget in by_kind(objects, "PodDisruptionBudget").items():
        selector = budget["spec"]["selector"]["matchLabels"]
        matched = [w for w, labels in pod_labels.items() if selects(selector, labels)]
        assert matched == ["Deployment/olist-api"], name
    for name, policy in by_kind(objects, "NetworkPolicy").items():
        selector = policy["spec"]["podSelector"]
        labels_expected = selector.get("matchLabels", {})
        values = [e["values"] for e in selector.get("matchExpressions", [])]
        if not labels_expected and not values:
            continue  # every pod
        for wanted in values[0] if values else [None]:
            want = {**labels_expected}
            if wanted is not None:
                want["app.kubernetes.io/name"] = wanted
            assert any(selects(want, labels) for labels in pod_labels.values()), (name, want)


def runbook_created_by_hand() -> set[str]:
    """Names in the runbook's table of objects created by hand (``| `name` | kind | ...``)."""
    text = RUNBOOK.read_text()
    section = text.split("## Created by hand", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z0-9-]+)` \|", section, re.M))


def references(container: Container) -> set[tuple[str, str]]:
    found = set()
    for source in container.spec.get("envFrom", []):
        if "configMapRef" in source:
            found.add(("ConfigMap", source["configMapRef"]["name"]))
        if "secretRef" in source:
            found.add(("Secret", source["secretRef"]["name"]))
    for variable in container.spec.get("env", []):
        value_from = variable.get("valueFrom", {})
        if "secretKeyRef" in value_from:
            found.add(("Secret", value_from["secretKeyRef"]["name"]))
        if "configMapKeyRef" in value_from:
            found.add(("ConfigMap", value_from["configMapKeyRef"]["name"]))
    for volume in container.pod.get("volumes", []):
        if "configMap" in volume:
            found.add(("ConfigMap", volume["configMap"]["name"]))
        if "secret" in volume:
            found.add(("Secret", volume["secret"]["secretName"]))
        if "persistentVolumeClaim" in volume:
            found.add(("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"]))
    found.add(("ServiceAccount", container.pod.get("serviceAccountName", "default")))
    return found


@variants
def test_every_referenced_object_exists_or_the_runbook_says_who_creates_it(
    rendered: dict[str, Objects], variant: str
) -> None:
    objects = rendered[variant]
    existing = {(o["kind"], o["metadata"]["name"]) for o in objects}
    existing.add(("ServiceAccount", "default"))  # every namespace has it
    for o in objects:
        for claim in o.get("spec", {}).get("volumeClaimTemplates", []):
            existing.add(("PersistentVolumeClaim", claim["metadata"]["name"]))
    by_hand = runbook_created_by_hand()
    missing = set()
    for container in pods(objects):
        for kind, name in references(container) - existing:
            if name not in by_hand:
                missing.add(f"{container.workload}: {kind} {name}")
    assert missing == set()
    if variant.startswith("local"):
        assert ("Secret", "olist-database") in existing  # one command, no hand-made Secret


@variants
def test_every_object_is_in_the_namespace_spark_is_told(
    rendered: dict[str, Objects], variant: str
) -> None:
    objects = rendered[variant]
    for o in objects:
        if o["kind"] != "Namespace":
            assert o["metadata"].get("namespace") == "olist", f"{o['kind']}/{o['metadata']}"
    properties = spark_defaults(objects)
    if properties:
        assert properties["spark.kubernetes.namespace"] == "olist"
        assert properties["spark.driver.host"] == "olist-stream-driver.olist.svc"
        assert "olist-stream-driver" in by_kind(objects, "Service")
        assert properties["spark.kubernetes.authenticate.driver.serviceAccountName"] in by_kind(
            objects, "ServiceAccount"
        )
        driver = by_kind(objects, "Deployment")["olist-stream"]["spec"]["template"]["spec"]
        mount = next(m for m in driver["containers"][0]["volumeMounts"]
                     if m["name"] == "spark-conf")  # fmt: skip
        variables = {v["name"]: v.get("value") for v in driver["containers"][0]["env"]}
        assert variables["SPARK_CONF_DIR"] == mount["mountPath"]
        assert "spark-defaults.conf" in by_kind(objects, "ConfigMap")["olist-spark-submit"]["data"]
        assert variables["PYSPARK_SUBMIT_ARGS"].endswith(" pyspark-shell")
        template_path = properties["spark.kubernetes.executor.podTemplateFile"]
        assert template_path.startswith(mount["mountPath"] + "/")
        assert template_path.rsplit("/", 1)[1] in by_kind(objects, "ConfigMap")[
            "olist-spark-submit"]["data"]  # fmt: skip


@variants
def test_images_are_pinned_and_the_projects_carry_its_version(
    rendered: dict[str, Objects], variant: str
) -> None:
    for container in pods(rendered[variant]):
        image = container.image
        assert "@sha256:" in image or re.search(r":[^/:]*\d[^/:]*$", image), image
        assert not image.endswith(":latest"), image
        name, tag = image.rsplit(":", 1)
        if name in PROJECT_IMAGES:
            assert tag == VERSION, f"{container.workload}: {image}, project version {VERSION}"


@variants
def test_every_container_is_sized_and_locked_down(
    rendered: dict[str, Objects], variant: str
) -> None:
    for o in rendered[variant]:
        if o["kind"] not in ("Deployment", "StatefulSet", "Job", "CronJob"):
            continue
        pod = pod_template(o)["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert "terminationGracePeriodSeconds" in pod, o["metadata"]["name"]
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            resources = container["resources"]
            assert set(resources["requests"]) == {"cpu", "memory"}, container["name"]
            assert set(resources["limits"]) == {"cpu", "memory"}, container["name"]
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"] == {"drop": ["ALL"]}
            mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
            if container["image"].split(":")[0] in PROJECT_IMAGES and not container.get("command"):
                assert "/tmp" in mounts, f"{o['metadata']['name']}: /tmp must be writable"


@variants
def test_the_stream_job_gets_longer_to_stop_than_a_batch_may_take(
    rendered: dict[str, Objects], variant: str
) -> None:
    objects = rendered[variant]
    for container, process in olist_containers(objects):
        if process == "stream" and not container.workload.endswith("executor"):
            settings = settings_from(process, environment(container, objects))
            grace = settings.stop_grace_seconds  # type: ignore[attr-defined]
            assert container.pod["terminationGracePeriodSeconds"] > grace


@pytest.mark.parametrize("variant", ["local", "gcp"])
def test_one_producer_per_cursor_and_one_driver_per_checkpoint_by_construction(
    rendered: dict[str, Objects], variant: str
) -> None:
    deployments = by_kind(rendered[variant], "Deployment")
    for name in ("olist-producer", "olist-stream"):
        if name in deployments:
            assert deployments[name]["spec"]["replicas"] == 1
            assert deployments[name]["spec"]["strategy"] == {"type": "Recreate"}
    assert deployments["olist-api"]["spec"]["replicas"] == 2
    policies = by_kind(rendered[variant], "NetworkPolicy")
    assert policies["default-deny"]["spec"] == {
        "podSelector": {},
        "policyTypes": ["Ingress", "Egress"],
    }


@variants
def test_setup_runs_before_the_job_and_creates_the_names_every_process_uses(
    rendered: dict[str, Objects], variant: str
) -> None:
    # The job exits with code 3 until the resources exist (streaming.preflight): olist setup
    # must be a Job of every variant, configured with the producer's and the job's names.
    objects = rendered[variant]
    processes: dict[str, list[Container]] = {}
    for container, process in olist_containers(objects):
        processes.setdefault(process, []).append(container)
    assert "pubsub init" not in processes  # olist setup does what it did, and the sinks
    (setup,) = processes["setup"]
    assert setup.workload == "Job/olist-setup"
    created = environment(setup, objects)
    names = ("OLIST_GCP_PROJECT", "OLIST_PUBSUB_SUBSCRIPTION", "OLIST_LAKE_BUCKET",
             "OLIST_BIGQUERY_DATASET", "PUBSUB_EMULATOR_HOST", "STORAGE_EMULATOR_HOST",
             "OLIST_BIGQUERY_API_ENDPOINT")  # fmt: skip
    for process in ("stream", "health"):
        for container in processes[process]:
            if container.workload.endswith("executor"):
                continue
            used = environment(container, objects)
            for name in names:
                assert used.get(name) == created.get(name), (container.workload, name)
    producer = environment(processes["produce"][0], objects)
    for name in ("OLIST_GCP_PROJECT", "OLIST_PUBSUB_TOPIC", "PUBSUB_EMULATOR_HOST"):
        assert producer.get(name) == created.get(name), name


@variants
def test_health_runs_every_5_minutes_and_reaches_what_it_checks(
    rendered: dict[str, Objects], variant: str
) -> None:
    objects = rendered[variant]
    cronjob = by_kind(objects, "CronJob")["olist-health"]
    assert cronjob["spec"]["schedule"] == "*/5 * * * *"
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    (health,) = [c for c, p in olist_containers(objects) if p == "health"]
    variables = environment(health, objects)
    assert variables["OLIST_API_KEY"] == SECRET  # the head sequence needs the API's key
    stream = next(c for c, p in olist_containers(objects) if p == "stream")
    assert variables["OLIST_TRIGGER_INTERVAL"] == environment(stream, objects)[
        "OLIST_TRIGGER_INTERVAL"]  # fmt: skip
    services = by_kind(objects, "Service")
    policies = by_kind(objects, "NetworkPolicy").values()
    for name, target in (("OLIST_API_URL", "olist-api"),
                         ("OLIST_HEALTH_PRODUCER_METRICS_URL", "olist-producer"),
                         ("OLIST_HEALTH_STREAM_STATUS_URL", "olist-stream")):  # fmt: skip
        match = re.fullmatch(r"http://([a-z0-9-]+):(\d+)(/[a-z]*)?", variables[name])
        assert match, variables[name]
        host, port = match.group(1), int(match.group(2))
        service = services[host]["spec"]
        assert port in {p["port"] for p in service["ports"]}, name
        target_labels = next(c.labels for c in pods(objects)
                             if c.labels.get("app.kubernetes.io/name") == target)  # fmt: skip
        assert selects(service["selector"], target_labels), name
        assert admits(policies, "Egress", health.labels, target, port), f"egress to {target}"
        assert admits(policies, "Ingress", target_labels, "olist-health", port), target


def test_health_reachability_check_catches_a_missing_ingress_policy(
    rendered: dict[str, Objects],
) -> None:
    objects = [o for o in rendered["local"]
               if o["metadata"]["name"] != "producer-metrics-from-health"]  # fmt: skip
    policies = by_kind(objects, "NetworkPolicy").values()
    producer = {"app.kubernetes.io/name": "olist-producer"}
    assert admits(by_kind(rendered["local"], "NetworkPolicy").values(), "Ingress", producer,
                  "olist-health", 9102)  # fmt: skip
    assert not admits(policies, "Ingress", producer, "olist-health", 9102)


def selector_matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if not selects(selector.get("matchLabels", {}), labels):
        return False
    return all(labels.get(e["key"]) in e["values"] for e in selector.get("matchExpressions", []))


@variants
def test_analytics_read_the_dataset_setup_creates_and_reach_their_services(
    rendered: dict[str, Objects], variant: str
) -> None:
    objects = rendered[variant]
    processes = {p: c for c, p in olist_containers(objects)}
    export, dashboard = processes["export-dimensions"], processes["dashboard"]
    assert export.workload == "CronJob/olist-export-dimensions"
    assert export.spec["args"] == ["export-dimensions", "--create-views"]
    assert dashboard.workload == "Deployment/olist-dashboard"
    created = environment(processes["setup"], objects)
    for container in (export, dashboard):
        used = environment(container, objects)
        for name in ("OLIST_GCP_PROJECT", "OLIST_BIGQUERY_DATASET", "OLIST_BIGQUERY_API_ENDPOINT"):
            assert used.get(name) == created.get(name), (container.workload, name)
    exported = environment(export, objects)
    assert exported["OLIST_DATABASE_URL"] == SECRET
    assert exported["OLIST_LAKE_BUCKET"] == created["OLIST_LAKE_BUCKET"]
    assert exported.get("STORAGE_EMULATOR_HOST") == created.get("STORAGE_EMULATOR_HOST")
    policies = by_kind(objects, "NetworkPolicy").values()
    settings = settings_from("dashboard", environment(dashboard, objects))
    assert settings.dashboard_host == "0.0.0.0"  # type: ignore[attr-defined]
    port = settings.dashboard_port  # type: ignore[attr-defined]
    service = by_kind(objects, "Service")["olist-dashboard"]["spec"]
    assert selects(service["selector"], dashboard.labels)
    assert port in {p["containerPort"] for p in dashboard.spec["ports"]}
    assert admits(policies, "Ingress", dashboard.labels, "anyone", port)
    if variant.startswith("local"):
        services = by_kind(objects, "Service")
        reached = [
            (export, "postgres", 5432),
            (export, "gcs-emulator", 4443),
            (export, "bigquery-emulator", 9050),
            (dashboard, "bigquery-emulator", 9050),
        ]
        for client, service_name, target_port in reached:
            selector = services[service_name]["spec"]["selector"]
            target = next(c.labels for c in pods(objects) if selects(selector, c.labels))
            assert admits(policies, "Egress", client.labels, target, target_port), service_name
            assert admits(policies, "Ingress", target, client.labels, target_port), service_name


def admits(
    policies: Any, direction: str, labels: dict[str, str], peer: str | dict[str, str], port: int
) -> bool:
    """Some policy of ``direction`` on pods with ``labels`` lets pods named ``peer`` (or with
    those labels) on port."""
    peer_labels = {"app.kubernetes.io/name": peer} if isinstance(peer, str) else peer
    side = "to" if direction == "Egress" else "from"
    for policy in policies:
        spec = policy["spec"]
        if direction not in spec["policyTypes"] or not selector_matches(
            spec["podSelector"], labels
        ):
            continue
        for rule in spec.get(direction.lower(), []):
            peers = rule.get(side)
            ports = {p["port"] for p in rule.get("ports", [])}
            if ports and port not in ports:
                continue
            if peers is None or any(
                selector_matches(p.get("podSelector", {}), peer_labels)
                for p in peers
                if "namespaceSelector" not in p
            ):
                return True
    return False


def test_secrets_are_never_committed(rendered: dict[str, Objects]) -> None:
    # overlays/local's only Secrets are the password-less DSN of its in-cluster database and
    # the fixed, public API key of an emulator-only deployment; gcp commits none.
    import base64

    local_only = {"olist-database": "OLIST_DATABASE_URL", "olist-api-key": "OLIST_API_KEY"}
    for variant, objects in rendered.items():
        for name, secret in by_kind(objects, "Secret").items():
            assert variant.startswith("local") and name in local_only, (variant, name)
            assert secret["data"].keys() == {local_only[name]}
            if name == "olist-api-key":
                key = base64.b64decode(secret["data"]["OLIST_API_KEY"]).decode()
                assert key == "local-overlay-only-not-a-secret"
