"""Options of ``spark.readStream.format("pubsub")``: parsed and checked once, on the driver.

Spark hands options over as a case-insensitive map of strings. :func:`parse_options` turns
them into one immutable :class:`PubSubOptions`; every error names the option at fault, says
what was expected and what was found. Unknown options are refused, so a typo such as
``maxRecordPerTrigger`` fails loudly instead of silently reading without a limit.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from connectors.pubsub.decoding import check_reference
from connectors.pubsub.errors import PubSubOptionError
from connectors.pubsub.records import UnpackMode

EMULATOR_HOST_VARIABLE = "PUBSUB_EMULATOR_HOST"
STORAGE_EMULATOR_VARIABLE = "STORAGE_EMULATOR_HOST"

# Pub/Sub accepts ack deadlines from 10 to 600 seconds (ModifyAckDeadlineRequest docs).
MIN_ACK_DEADLINE_SECONDS = 10
MAX_ACK_DEADLINE_SECONDS = 600
# A PullRequest returns at most 1,000 messages whatever max_messages asks for.
MAX_PULL_MESSAGES = 1000
# A micro-batch is bounded by default, so a backlog (or an availableNow run over one) is cut
# into batches instead of being staged, read and replayed whole. 1,000,000 events is the batch
# size measured end to end (docs/connectors/pubsub.md#performance: 9.2 s in local[2]).
DEFAULT_MAX_RECORDS_PER_TRIGGER = 1_000_000
# Payload bytes of a batch as pulled (what staging writes and a replay reads back): the
# measured batch of 1,000,000 events is ~280 MB of messages; 1 GiB also bounds a batch of
# 10 MB messages (uncompressible payloads) to ~100 of them.
DEFAULT_MAX_BYTES_PER_TRIGGER = 1024 * 1024 * 1024

_SUBSCRIPTION_PATH = re.compile(r"^projects/(?P<project>[^/]+)/subscriptions/(?P<name>[^/]+)$")
_RESOURCE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9._~+%-]{2,254}$")
# Cloud Storage bucket names: 3-63 lowercase letters, digits, - _ . (dotted names up to 222).
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
_PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$|^[a-z0-9.:-]{1,100}$")


@dataclass(frozen=True)
class PubSubOptions:
    """Checked options of one Pub/Sub source (the table in ``PubSubDataSource``'s docstring)."""

    subscription_path: str
    staging_location: str
    emulator_host: str | None = None
    max_records_per_trigger: int = DEFAULT_MAX_RECORDS_PER_TRIGGER
    max_bytes_per_trigger: int = DEFAULT_MAX_BYTES_PER_TRIGGER
    num_partitions: int = 1
    unpack: UnpackMode = "envelope"
    ack_deadline_seconds: int = 60
    max_lease_seconds: int = 3600
    pull_max_messages: int = MAX_PULL_MESSAGES
    pull_concurrency: int = 8
    pull_wait_seconds: float = 0.0
    pull_timeout_seconds: float = 30.0
    max_pull_seconds_per_trigger: float = 20.0
    decoder: str | None = None
    decoded_row_attributes: bool = True
    staging_endpoint: str | None = None
    staging_timeout_seconds: float = 60.0
    staging_retry_seconds: float = 300.0

    @property
    def project(self) -> str:
        match = _SUBSCRIPTION_PATH.match(self.subscription_path)
        assert match is not None  # checked by parse_options
        return match["project"]


_KNOWN_OPTIONS = {
    "project",
    "subscription",
    "staginglocation",
    "emulatorhost",
    "maxrecordspertrigger",
    "maxbytespertrigger",
    "numpartitions",
    "unpack",
    "ackdeadlineseconds",
    "maxleaseseconds",
    "pullmaxmessages",
    "pullconcurrency",
    "pullwaitseconds",
    "pulltimeoutseconds",
    "maxpullsecondspertrigger",
    "decoder",
    "decodedrowattributes",
    "stagingendpoint",
    "stagingtimeoutseconds",
    "stagingretryseconds",
}
# Spark adds these itself (e.g. "path" when .load(path) is used); they are not ours to check.
_IGNORED_OPTIONS = {"path"}


def parse_options(raw: Mapping[str, str]) -> PubSubOptions:
    """Check the options Spark passed to the data source and return them typed.

    ``emulatorHost`` falls back to the ``PUBSUB_EMULATOR_HOST`` environment variable of the
    driver process, as Google's client libraries do.
    """
    options = {key.lower(): value for key, value in raw.items()}
    unknown = sorted(set(options) - _KNOWN_OPTIONS - _IGNORED_OPTIONS)
    if unknown:
        raise PubSubOptionError(
            unknown[0],
            f"unknown option (expected one of {', '.join(sorted(_KNOWN_OPTIONS))}); "
            "check the spelling",
        )
    defaults = PubSubOptions(subscription_path="", staging_location="")
    emulator_host = options.get("emulatorhost") or os.environ.get(EMULATOR_HOST_VARIABLE) or None
    if emulator_host is not None and not re.match(r"^[^\s/:]+:\d{1,5}$", emulator_host):
        raise PubSubOptionError(
            "emulatorHost", f"expected host:port such as localhost:8085, found {emulator_host!r}"
        )
    unpack = _unpack_mode(options.get("unpack", defaults.unpack))
    decoder = options.get("decoder") or None
    decoded_row_attributes = _boolean(options, "decodedRowAttributes", default=True)
    if not decoded_row_attributes and decoder is None:
        raise PubSubOptionError(
            "decodedRowAttributes", "only applies to decoded rows: set option 'decoder' too"
        )
    staging_location = _staging_location(options)
    staging_endpoint = (
        options.get("stagingendpoint") or os.environ.get(STORAGE_EMULATOR_VARIABLE) or None
    )
    if staging_endpoint is not None and not re.match(r"^https?://[^\s/]+/?$", staging_endpoint):
        raise PubSubOptionError(
            "stagingEndpoint",
            f"expected a URL such as http://localhost:4443, found {staging_endpoint!r}",
        )
    return PubSubOptions(
        subscription_path=_subscription_path(options),
        staging_location=staging_location,
        staging_endpoint=staging_endpoint if staging_location.startswith("gs://") else None,
        staging_timeout_seconds=_seconds(
            options, "stagingTimeoutSeconds", defaults.staging_timeout_seconds, maximum=3600.0
        ),
        staging_retry_seconds=_seconds(
            options, "stagingRetrySeconds", defaults.staging_retry_seconds, maximum=86400.0
        ),
        emulator_host=emulator_host,
        max_records_per_trigger=_integer(
            options, "maxRecordsPerTrigger", defaults.max_records_per_trigger, minimum=1
        ),
        max_bytes_per_trigger=_integer(
            options, "maxBytesPerTrigger", defaults.max_bytes_per_trigger, minimum=1
        ),
        num_partitions=_integer(options, "numPartitions", os.cpu_count() or 1, minimum=1),
        unpack=unpack,
        ack_deadline_seconds=_integer(
            options,
            "ackDeadlineSeconds",
            defaults.ack_deadline_seconds,
            minimum=MIN_ACK_DEADLINE_SECONDS,
            maximum=MAX_ACK_DEADLINE_SECONDS,
        ),
        max_lease_seconds=_integer(
            options, "maxLeaseSeconds", defaults.max_lease_seconds, minimum=MIN_ACK_DEADLINE_SECONDS
        ),
        pull_max_messages=_integer(
            options,
            "pullMaxMessages",
            defaults.pull_max_messages,
            minimum=1,
            maximum=MAX_PULL_MESSAGES,
        ),
        pull_concurrency=_integer(
            options, "pullConcurrency", defaults.pull_concurrency, minimum=1, maximum=64
        ),
        pull_wait_seconds=_seconds(
            options, "pullWaitSeconds", defaults.pull_wait_seconds, maximum=60.0, allow_zero=True
        ),
        pull_timeout_seconds=_seconds(
            options, "pullTimeoutSeconds", defaults.pull_timeout_seconds, maximum=600.0
        ),
        max_pull_seconds_per_trigger=_seconds(
            options,
            "maxPullSecondsPerTrigger",
            defaults.max_pull_seconds_per_trigger,
            maximum=3600.0,
        ),
        decoder=None if decoder is None else check_reference(decoder),
        decoded_row_attributes=decoded_row_attributes,
    )


def _unpack_mode(value: str) -> UnpackMode:
    if value == "envelope":
        return "envelope"
    if value == "none":
        return "none"
    raise PubSubOptionError("unpack", f"expected 'envelope' or 'none', found {value!r}")


def _boolean(options: Mapping[str, str], name: str, default: bool) -> bool:
    raw = options.get(name.lower())
    if raw is None:
        return default
    value = raw.strip().lower()
    if value not in ("true", "false"):
        raise PubSubOptionError(name, f"expected 'true' or 'false', found {raw!r}")
    return value == "true"


def _subscription_path(options: Mapping[str, str]) -> str:
    subscription = options.get("subscription")
    project = options.get("project")
    if not subscription:
        raise PubSubOptionError(
            "subscription",
            "is required: give projects/<project>/subscriptions/<name>, "
            "or the subscription name together with option 'project'",
        )
    match = _SUBSCRIPTION_PATH.match(subscription)
    if match is not None:
        if project and project != match["project"]:
            raise PubSubOptionError(
                "project",
                f"{project!r} disagrees with the project {match['project']!r} "
                f"in subscription {subscription!r}; drop one of them",
            )
        name, project = match["name"], match["project"]
    else:
        if "/" in subscription:
            raise PubSubOptionError(
                "subscription",
                f"expected projects/<project>/subscriptions/<name> or a bare name, "
                f"found {subscription!r}",
            )
        if not project:
            raise PubSubOptionError(
                "project",
                f"is required when subscription is a bare name ({subscription!r})",
            )
        name = subscription
    if not _RESOURCE_NAME.match(name):
        raise PubSubOptionError(
            "subscription",
            "expected 3-255 characters starting with a letter "
            f"(letters, digits, - _ . ~ + %), found {name!r}",
        )
    if not _PROJECT_ID.match(project):
        raise PubSubOptionError("project", f"{project!r} is not a valid project id")
    return f"projects/{project}/subscriptions/{name}"


def _staging_location(options: Mapping[str, str]) -> str:
    location = options.get("staginglocation")
    if not location:
        raise PubSubOptionError(
            "stagingLocation",
            "is required: a directory on storage every executor can read, one per query, "
            "e.g. next to the checkpoint (<checkpointLocation>/../pubsub-staging), "
            "or gs://bucket/prefix",
        )
    if location.startswith("gs://"):
        bucket, _, prefix = location.removeprefix("gs://").partition("/")
        if not _BUCKET_NAME.match(bucket):
            raise PubSubOptionError(
                "stagingLocation",
                f"expected gs://<bucket>/<prefix> with a valid bucket name, found {location!r}",
            )
        prefix = prefix.strip("/")
        return f"gs://{bucket}/{prefix}" if prefix else f"gs://{bucket}"
    if "://" in location and not location.startswith("file://"):
        raise PubSubOptionError(
            "stagingLocation",
            f"expected a filesystem path or gs://bucket/prefix, found {location!r}",
        )
    return os.path.abspath(location.removeprefix("file://"))


def _integer(
    options: Mapping[str, str],
    name: str,
    default: int | None,
    *,
    minimum: int,
    maximum: int | None = None,
) -> int:
    text = options.get(name.lower())
    if text is None:
        assert default is not None
        return default
    try:
        value = int(text.strip())
    except ValueError:
        raise PubSubOptionError(name, f"expected an integer, found {text!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise PubSubOptionError(name, f"expected an integer {bounds}, found {value}")
    return value


def _seconds(
    options: Mapping[str, str],
    name: str,
    default: float,
    *,
    maximum: float,
    allow_zero: bool = False,
) -> float:
    text = options.get(name.lower())
    if text is None:
        return default
    try:
        value = float(text.strip())
    except ValueError:
        raise PubSubOptionError(name, f"expected a number of seconds, found {text!r}") from None
    if not (value >= 0 if allow_zero else value > 0) or value > maximum:
        interval = f"[0, {maximum:g}]" if allow_zero else f"(0, {maximum:g}]"
        raise PubSubOptionError(name, f"expected seconds in {interval}, found {value:g}")
    return value
