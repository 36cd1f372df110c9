# syntax=docker/dockerfile:1
# The pipeline's images: one Dockerfile, one final target per role (docs/operations/deploy.md).
#
#   docker build --target api       -t olist-api:0.1.0 .        olist api, db init, load-csv
#   docker build --target db        -t olist-db:0.1.0 .         olist generate, simulate
#   docker build --target producer  -t olist-producer:0.1.0 .   olist produce, pubsub init
#   docker build --target health    -t olist-health:0.1.0 .     olist health, olist setup
#   docker build --target analytics -t olist-analytics:0.1.0 .  export-dimensions, create-views, dashboard
#   docker build --target stream    -t olist-stream:0.1.0 .     the Spark job (driver + executors)
#   docker build --target emulators -t olist-emulators:0.1.0 .  bqemulator (overlays/local, compose)
#   docker build --target stream-gcs --build-arg GCS_CONNECTOR_SHA256=<sha256> \
#       -t olist-stream-gcs:0.1.0 .                              + the Cloud Storage connector jar
#
# A target per role, not one image: the roles' installed packages measure 53 MB (api), 234 MB
# (producer), 70 MB (health) and 330 MB plus a 1 GB Spark/JVM base (stream); one image for all
# would ship Spark and a JDK to the API. Each role installs its own requirements/<role>.lock (exact
# versions, hashes), then the project's wheel with --no-deps. Final stages: uid 10001 (Spark's
# 185 in the stream images), no compilers, no pip cache, `olist` as the entrypoint.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm
# Must be the Spark of the pinned pyspark (requirements/stream.lock); the build checks it.
ARG SPARK_IMAGE=apache/spark:4.3.0-scala2.13-java21-ubuntu
ARG UV_VERSION=0.13.8

# ---- build stages --------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS uv
ARG UV_VERSION
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
ENV UV_NO_CACHE=1 UV_LINK_MODE=copy UV_COMPILE_BYTECODE=1

# The project as a wheel (package data included), built once for every role.
FROM uv AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY schemas/ schemas/
COPY source_db/ source_db/
COPY source_api/ source_api/
COPY producer/ producer/
COPY connectors/ connectors/
COPY streaming/ streaming/
COPY emulators/ emulators/
COPY harness/ harness/
COPY olist_cli/ olist_cli/
COPY bench/ bench/
COPY health/ health/
COPY analytics/ analytics/
RUN uv build --wheel --out-dir /wheels .

FROM uv AS env-api
COPY requirements/api.lock /tmp/role.lock
COPY --from=wheel /wheels /wheels
RUN uv venv /opt/venv \
    && uv pip install --python /opt/venv/bin/python --require-hashes -r /tmp/role.lock \
    && uv pip install --python /opt/venv/bin/python --no-deps /wheels/*.whl

FROM uv AS env-db
COPY requirements/db.lock /tmp/role.lock
COPY --from=wheel /wheels /wheels
RUN uv venv /opt/venv \
    && uv pip install --python /opt/venv/bin/python --require-hashes -r /tmp/role.lock \
    && uv pip install --python /opt/venv/bin/python --no-deps /wheels/*.whl

FROM uv AS env-producer
COPY requirements/producer.lock /tmp/role.lock
COPY --from=wheel /wheels /wheels
RUN mkdir -p /var/lib/olist/producer \
    && uv venv /opt/venv \
    && uv pip install --python /opt/venv/bin/python --require-hashes -r /tmp/role.lock \
    && uv pip install --python /opt/venv/bin/python --no-deps /wheels/*.whl

# The Google clients (Pub/Sub, Cloud Storage, BigQuery) and nothing else: `olist health` reads
# every stage with them, `olist setup` creates the resources and the analytics views with the
# same three; the build fails if either command's code needs a package health.lock does not hold.
FROM uv AS env-health
COPY requirements/health.lock /tmp/role.lock
COPY --from=wheel /wheels /wheels
RUN uv venv /opt/venv \
    && uv pip install --python /opt/venv/bin/python --require-hashes -r /tmp/role.lock \
    && uv pip install --python /opt/venv/bin/python --no-deps /wheels/*.whl \
    && /opt/venv/bin/python -c "import health.run, health.checks, producer.pubsub_admin, streaming.resources, streaming.bigquery_loader, schemas.warehouse, analytics.views, google.cloud.bigquery, google.cloud.storage"

# Arrow, asyncpg and the BigQuery and Cloud Storage clients (requirements/analytics.lock):
# `olist export-dimensions` (PostgreSQL COPY -> Parquet -> Cloud Storage -> BigQuery),
# `olist create-views`, `olist dashboard`; no Spark, pandas or numpy (tests/packaging/).
FROM uv AS env-analytics
COPY requirements/analytics.lock /tmp/role.lock
COPY --from=wheel /wheels /wheels
RUN mkdir -p /var/lib/olist/dashboard \
    && uv venv /opt/venv \
    && uv pip install --python /opt/venv/bin/python --require-hashes -r /tmp/role.lock \
    && uv pip install --python /opt/venv/bin/python --no-deps /wheels/*.whl \
    && /opt/venv/bin/python -c "import analytics.export_dimensions, analytics.views, analytics.dashboard.serve, analytics.dashboard.build, pyarrow.parquet, asyncpg"

FROM uv AS env-emulators
COPY requirements/emulators.lock /tmp/role.lock
COPY --from=wheel /wheels /wheels
RUN uv venv /opt/venv \
    && uv pip install --python /opt/venv/bin/python --require-hashes -r /tmp/role.lock \
    && uv pip install --python /opt/venv/bin/python --no-deps /wheels/*.whl \
    && /opt/venv/bin/python -c "from pathlib import Path; from emulators.bigquery import prepare_home; prepare_home(Path('/opt/bqemulator-home'))"

# The Spark image is Ubuntu 22.04 (Python 3.10); the project needs 3.11: a relocatable CPython
# (python-build-standalone, built for glibc 2.17) in /opt/python, the venv on top of it. PySpark
# itself is not installed: the image's /opt/spark/python is the same version (checked below),
# and the wheel would add 450 MB of jars the image already has.
FROM uv AS env-stream
ARG PYTHON_STANDALONE=3.11.14
ENV UV_PYTHON_INSTALL_DIR=/opt/python
COPY requirements/stream.lock /tmp/stream.lock
COPY --from=wheel /wheels /wheels
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN uv python install "${PYTHON_STANDALONE}" \
    && uv venv --python "${PYTHON_STANDALONE}" --managed-python /opt/venv \
    && awk '/^pyspark==/ {skip = 1; next} skip && /^ / {next} {skip = 0; print}' \
        /tmp/stream.lock > /tmp/role.lock \
    && uv pip install --python /opt/venv/bin/python --require-hashes -r /tmp/role.lock \
    && uv pip install --python /opt/venv/bin/python --no-deps /wheels/*.whl \
    && sed -n 's/^pyspark==\([^ ;]*\).*/\1/p' /tmp/stream.lock > /opt/venv/pyspark-version

# ---- final stages --------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="olist-pipeline" \
      org.opencontainers.image.description="Olist orders: PostgreSQL -> API -> Pub/Sub -> Spark -> GCS + BigQuery" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"
RUN groupadd --system --gid 10001 olist \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin olist \
    && rm -rf /root/.cache
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
WORKDIR /tmp
USER 10001:10001
ENTRYPOINT ["olist"]
CMD ["--help"]
HEALTHCHECK NONE

FROM runtime AS api
LABEL org.opencontainers.image.title="olist-api"
COPY --from=env-api /opt/venv /opt/venv
EXPOSE 8000
CMD ["api"]

FROM runtime AS db
LABEL org.opencontainers.image.title="olist-db"
COPY --from=env-db /opt/venv /opt/venv
CMD ["db", "init"]

FROM runtime AS producer
LABEL org.opencontainers.image.title="olist-producer"
COPY --from=env-producer /opt/venv /opt/venv
# The cursor's volume mount point, owned by the user (a fresh named volume copies this).
COPY --chown=10001:10001 --from=env-producer /var/lib/olist/producer /var/lib/olist/producer
EXPOSE 9102
CMD ["produce"]

# `olist health` (the CronJob every 5 minutes) and `olist setup` (the one-off Job that creates
# the topic, subscriptions, bucket, dataset and tables before the streaming job starts).
FROM runtime AS health
LABEL org.opencontainers.image.title="olist-health"
COPY --from=env-health /opt/venv /opt/venv
CMD ["health"]

# The analytics CronJob (`olist export-dimensions --create-views`) and the dashboard
# Deployment (`olist dashboard --serve`, port 8050, page built into /var/lib/olist/dashboard).
FROM runtime AS analytics
LABEL org.opencontainers.image.title="olist-analytics"
COPY --from=env-analytics /opt/venv /opt/venv
# The page's folder (a volume in Kubernetes and compose; the root file system stays read-only).
COPY --chown=10001:10001 --from=env-analytics /var/lib/olist/dashboard /var/lib/olist/dashboard
ENV OLIST_DASHBOARD_DIR=/var/lib/olist/dashboard
EXPOSE 8050
CMD ["dashboard", "--serve"]

# The BigQuery emulator the tests use (bqemulator on DuckDB), its extensions in a read-only
# HOME prepared at build time; load jobs read gs:// objects from BQEMU_GCS_LOCAL_ROOT, the
# fake-gcs-server filesystem root it shares a volume with.
FROM runtime AS emulators
LABEL org.opencontainers.image.title="olist-emulators"
COPY --from=env-emulators /opt/venv /opt/venv
COPY --from=env-emulators /opt/bqemulator-home /opt/bqemulator-home
ENV HOME=/opt/bqemulator-home
EXPOSE 9050 9060
ENTRYPOINT ["python", "-m", "bqemulator"]
CMD ["start", "--help"]

# Driver and executors: the official image's /opt/entrypoint.sh stays the entrypoint (executor
# pods are started with `executor`, the operator's driver with `driver`); `olist` is on PATH.
FROM ${SPARK_IMAGE} AS stream
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="olist-stream" \
      org.opencontainers.image.description="The olist-pipeline streaming job on Apache Spark" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="${SPARK_IMAGE}"
USER 0
COPY --from=env-stream /opt/python /opt/python
COPY --from=env-stream /opt/venv /opt/venv
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# PySpark from the image's Spark; the build fails unless it is the version stream.lock pins.
RUN site="$(/opt/venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
    && printf '%s\n' /opt/spark/python /opt/spark/python/lib/py4j-*-src.zip > "$site/spark.pth" \
    && /opt/venv/bin/python -c "import pyspark, sys; want = open('/opt/venv/pyspark-version').read().strip(); sys.exit(0 if pyspark.__version__ == want else f'Spark image has pyspark {pyspark.__version__}, stream.lock pins {want}')" \
    && /opt/venv/bin/olist stream --help > /dev/null
ENV PATH=/opt/venv/bin:$PATH \
    PYSPARK_PYTHON=/opt/venv/bin/python \
    PYSPARK_DRIVER_PYTHON=/opt/venv/bin/python \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN install -d -o 185 -g 185 /var/lib/olist/stream
EXPOSE 9108
USER 185:185
HEALTHCHECK NONE

# gs:// checkpoints need Hadoop's Cloud Storage connector; the checksum is a required build
# argument (docs/operations/deploy.md, "The gcs image"), so a changed jar fails the build.
FROM stream AS stream-gcs
ARG GCS_CONNECTOR_VERSION=3.1.3
ARG GCS_CONNECTOR_SHA256
ADD --chown=185:185 \
    --checksum=sha256:${GCS_CONNECTOR_SHA256} \
    https://repo1.maven.org/maven2/com/google/cloud/bigdataoss/gcs-connector/${GCS_CONNECTOR_VERSION}/gcs-connector-${GCS_CONNECTOR_VERSION}-shaded.jar \
    /opt/spark/jars/gcs-connector-${GCS_CONNECTOR_VERSION}-shaded.jar
LABEL org.opencontainers.image.title="olist-stream-gcs"
