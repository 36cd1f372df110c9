"""Reading rendered k3s manifests as the cluster would run them: pods, containers, environment.

``kubectl kustomize`` output is a list of objects; :func:`pods` turns every workload into the
pod specs Kubernetes (or the Spark Operator, or spark-submit) would create: Deployments,
StatefulSets and Jobs by their template, a ``SparkApplication`` as its driver and executor, and
spark-submit's executors from the pod template in its ConfigMap. :func:`process_of` says which
``olist`` process a container runs, :data:`SETTINGS` which settings class configures it, and
:func:`environment` what its environment holds (Secrets' values replaced by ``SECRET``).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic_settings import BaseSettings

from analytics.settings import AnalyticsSettings
from health.settings import HealthSettings
from producer.settings import ProducerSettings, PubSubSettings
from source_api.settings import ApiSettings
from source_db.settings import DatabaseSettings
from streaming.settings import StreamSettings

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
K3S = REPOSITORY_ROOT / "deploy" / "k3s"
SECRET = "<secret>"
PROJECT_IMAGES = (
    "olist-api", "olist-db", "olist-producer", "olist-health", "olist-stream", "olist-emulators",
    "olist-analytics",
)  # fmt: skip
OLIST_ENTRYPOINT_IMAGES = (
    "olist-api", "olist-db", "olist-producer", "olist-health", "olist-analytics",
)  # fmt: skip
"""Images whose entrypoint is ``olist`` (the Dockerfile's runtime stages): args = subcommand."""
STREAM_JOB = "/opt/venv/lib/python3.11/site-packages/streaming/job.py"
"""Where the stream image installs streaming/job.py (Dockerfile: Python 3.11 venv)."""

SETTINGS: dict[str, tuple[type[BaseSettings], ...]] = {
    "api": (ApiSettings,),
    "db init": (DatabaseSettings,),
    "generate": (DatabaseSettings,),
    "simulate": (DatabaseSettings,),
    "load-csv": (DatabaseSettings,),
    "pubsub init": (PubSubSettings,),
    # olist_cli/setup.py builds all three (the views: AnalyticsSettings, the same variables).
    "setup": (PubSubSettings, StreamSettings, AnalyticsSettings),
    "produce": (ProducerSettings,),
    "stream": (StreamSettings,),
    "health": (HealthSettings,),
    "export-dimensions": (AnalyticsSettings,),
    "create-views": (AnalyticsSettings,),
    "dashboard": (AnalyticsSettings,),
}
"""The settings classes of each process (the command that runs it): all read one environment."""

PLATFORM_VARIABLES = {
    "stream": {
        "POD_NAME",
        "STORAGE_EMULATOR_HOST",
        "SPARK_CONF_DIR",
        "PYSPARK_SUBMIT_ARGS",
        "GOOGLE_APPLICATION_CREDENTIALS",
    },
    "produce": {"PUBSUB_EMULATOR_HOST", "STORAGE_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS"},
    "pubsub init": {"PUBSUB_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS"},
    "setup": {"STORAGE_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS"},
    "health": {"GOOGLE_APPLICATION_CREDENTIALS"},
    "export-dimensions": {"STORAGE_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS"},
    "create-views": {"GOOGLE_APPLICATION_CREDENTIALS"},
    "dashboard": {"GOOGLE_APPLICATION_CREDENTIALS"},
}
"""Variables besides the settings fields a process may get: the Google clients' conventions
(emulators, a service-account key file), and Spark's own (its configuration folder, the
arguments PySpark gives spark-submit, the pod name they carry)."""


@dataclass
class Container:
    """One container of one pod, with the objects it came from."""

    workload: str  # Kind/name of the object, plus /driver or /executor for Spark
    pod: dict[str, Any]
    spec: dict[str, Any]
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def image(self) -> str:
        return str(self.spec.get("image", ""))

    @property
    def argv(self) -> list[str]:
        return [*self.spec.get("command", []), *self.spec.get("args", [])]


def render(kustomization: Path) -> list[dict[str, Any]]:
    """``kubectl kustomize`` of a directory, as objects."""
    result = subprocess.run(
        ["kubectl", "kustomize", str(kustomization)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [document for document in yaml.safe_load_all(result.stdout) if document]


def variant_kustomization(overlay: str, components: list[str], directory: Path) -> Path:
    """A kustomization: the overlay's, with ``components`` instead of its streaming one."""
    original = yaml.safe_load((K3S / "overlays" / overlay / "kustomization.yaml").read_text())
    relative = Path("../" * len(directory.relative_to(REPOSITORY_ROOT).parts))
    original["resources"] = [str(relative / "deploy/k3s/base")]
    original["components"] = [
        str(relative / f"deploy/k3s/overlays/{overlay}/env"),
        *(str(relative / f"deploy/k3s/components/{component}") for component in components),
    ]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(original))
    return directory


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def spark_defaults(objects: list[dict[str, Any]]) -> dict[str, str]:
    """spark-submit's properties file, from the olist-spark-submit ConfigMap ({} if none)."""
    config = by_kind(objects, "ConfigMap").get("olist-spark-submit")
    if config is None:
        return {}
    properties = {}
    for line in config["data"]["spark-defaults.conf"].splitlines():
        if line.strip() and not line.startswith("#"):
            key, value = line.split(None, 1)
            properties[key] = value.strip()
    return properties


def _spark_application_pods(application: dict[str, Any]) -> list[Container]:
    spec = application["spec"]
    found = []
    for role in ("driver", "executor"):
        part = spec[role]
        template = (part.get("template") or {}).get("spec", {}).get("containers", [{}])[0]
        container = {
            "name": f"spark-kubernetes-{role}",
            "image": part.get("image", spec["image"]),
            "envFrom": part.get("envFrom", []),
            "env": part.get("env", []),
            "ports": part.get("ports", []),
            "volumeMounts": part.get("volumeMounts", []),
            "securityContext": part.get("securityContext"),
            **{k: v for k, v in template.items() if k.endswith("Probe")},
        }
        pod = {
            "serviceAccountName": part.get("serviceAccount", "default"),
            "securityContext": part.get("podSecurityContext"),
            "volumes": spec.get("volumes", []),
            "terminationGracePeriodSeconds": part.get("terminationGracePeriodSeconds", 30),
            "containers": [container],
        }
        name = f"SparkApplication/{application['metadata']['name']}/{role}"
        found.append(Container(name, pod, container, dict(part.get("labels", {}))))
    return found


def pod_template(workload: dict[str, Any]) -> dict[str, Any]:
    """The pod template of a Deployment, StatefulSet, Job or CronJob."""
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return dict(spec["template"])


def pods(objects: list[dict[str, Any]]) -> list[Container]:
    """Every container the cluster would run for these objects (init containers included)."""
    found: list[Container] = []
    for o in objects:
        name = f"{o['kind']}/{o['metadata']['name']}"
        if o["kind"] in ("Deployment", "StatefulSet", "Job", "CronJob"):
            template = pod_template(o)
            pod = template["spec"]
            for spec in [*pod.get("initContainers", []), *pod["containers"]]:
                found.append(Container(name, pod, spec, template["metadata"].get("labels", {})))
        elif o["kind"] == "SparkApplication":
            found.extend(_spark_application_pods(o))
    properties = spark_defaults(objects)
    if properties:
        config = by_kind(objects, "ConfigMap")["olist-spark-submit"]
        template = yaml.safe_load(config["data"]["executor-pod-template.yaml"])
        pod = template["spec"]
        for spec in pod["containers"]:
            spec = {**spec, "image": properties["spark.kubernetes.container.image"]}
            found.append(
                Container("SparkSubmit/executor", pod, spec, template["metadata"]["labels"])
            )
    return found


def process_of(container: Container) -> str | None:
    """The olist process a container runs (a key of :data:`SETTINGS`), or None (third party)."""
    if container.workload.startswith(("SparkApplication/", "SparkSubmit/")):
        return "stream"
    argv = container.argv
    image = container.image.split(":")[0]
    if image == "olist-stream":
        return "stream" if argv == ["olist", "stream"] else "unknown: " + " ".join(argv)
    if image not in OLIST_ENTRYPOINT_IMAGES or container.spec.get("command"):
        return None
    words = [a for a in argv if not a.startswith("-")][:2]
    for candidate in (" ".join(words), words[0] if words else ""):
        if candidate in SETTINGS:
            return candidate
    return "unknown: " + " ".join(argv)


def environment(container: Container, objects: list[dict[str, Any]]) -> dict[str, str]:
    """The container's environment: its ConfigMaps (envFrom), then env (Secrets as SECRET)."""
    config_maps = by_kind(objects, "ConfigMap")
    values: dict[str, str] = {}
    for source in container.spec.get("envFrom", []):
        if "configMapRef" in source:
            values.update(config_maps[source["configMapRef"]["name"]].get("data", {}))
    for variable in container.spec.get("env", []):
        if "value" in variable:
            values[variable["name"]] = str(variable["value"])
        elif "secretKeyRef" in variable.get("valueFrom", {}):
            values[variable["name"]] = SECRET
        elif "configMapKeyRef" in variable.get("valueFrom", {}):
            reference = variable["valueFrom"]["configMapKeyRef"]
            values[variable["name"]] = config_maps[reference["name"]]["data"][reference["key"]]
        else:
            values[variable["name"]] = "<downward API>"
    return values


def variable_names(settings: type[BaseSettings]) -> set[str]:
    """The environment variables a settings class reads (prefix + field, or its alias)."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    names = set()
    for name, info in settings.model_fields.items():
        alias = info.validation_alias
        names.add(alias.upper() if isinstance(alias, str) else f"{prefix}{name}".upper())
    return names


def unknown_variables(process: str, variables: dict[str, str]) -> set[str]:
    """Variables a process is given that neither its settings nor its platform read."""
    allowed = PLATFORM_VARIABLES.get(process, set()).union(
        *(variable_names(settings) for settings in SETTINGS[process])
    )
    return {name for name in variables if name not in allowed}


def settings_from(process: str, variables: dict[str, str]) -> BaseSettings:
    """The process's settings as it would build them from this environment (no .env file).

    Secrets are stood in for by values of the right shape: a DSN, a key. A process with several
    settings classes gets each built (any may refuse the values); the first is returned.
    """
    stand_ins = {"OLIST_DATABASE_URL": "postgresql://olist:password@db:5432/olist"}
    values = {
        name: stand_ins.get(name, "key") if value == SECRET else value
        for name, value in variables.items()
    }
    built = [_settings(settings, values) for settings in SETTINGS[process]]
    return built[0]


def _settings(settings: type[BaseSettings], values: dict[str, str]) -> BaseSettings:
    fields = {}
    prefix = str(settings.model_config.get("env_prefix", ""))
    for name, info in settings.model_fields.items():
        alias = info.validation_alias
        variable = alias.upper() if isinstance(alias, str) else f"{prefix}{name}".upper()
        if variable in values:
            fields[alias if isinstance(alias, str) else name] = values[variable]
    return settings.model_validate(fields)
