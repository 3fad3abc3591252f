# The image of docker-compose.yml's Airflow services and metrics exporter (and the
# Helm values' images.airflow): Airflow 2.11 + TFX 1.16 + this package, installed from
# uv.lock exactly as `make` does locally. deploy/docker-entrypoint.sh runs `airflow ...`,
# `pipeline ...` (python -m pipeline) or `airflow-init`.
FROM python:3.10-slim-bookworm

# A fixed, non-root UID/GID (the official Airflow image's 50000), so files on the
# named volumes and on a Kubernetes PVC (fsGroup) have a known owner.
ARG PIPELINE_UID=50000
ARG PIPELINE_GID=50000

ENV PYTHONUNBUFFERED=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/pipeline/.venv \
    AIRFLOW_HOME=/opt/airflow

# curl: the webserver's healthcheck (GET /health). The directories are the mount
# points of docker-compose.yml's named volumes: an empty named volume takes the owner
# of the directory it is mounted on, so they must exist here, owned by the user.
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid "${PIPELINE_GID}" pipeline \
    && useradd --uid "${PIPELINE_UID}" --gid "${PIPELINE_GID}" --home-dir /opt/airflow \
        --create-home --shell /bin/bash pipeline \
    && mkdir -p /opt/airflow/logs /var/lib/pipeline /models \
    && chown -R pipeline:pipeline /opt/airflow /var/lib/pipeline /models

WORKDIR /opt/pipeline
RUN pip install --no-cache-dir uv==0.13.8
COPY pyproject.toml uv.lock README.md ./
# Dependencies first (cached layer), then the project itself; the airflow and
# postgres extras are what these services add to a local install.
RUN uv sync --locked --no-dev --extra airflow --extra postgres --no-install-project
COPY pipeline/ pipeline/
COPY components/ components/
COPY dags/ dags/
COPY schemas/ schemas/
RUN uv sync --locked --no-dev --extra airflow --extra postgres
COPY --chmod=0755 deploy/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh

ENV PATH=/opt/pipeline/.venv/bin:$PATH
USER ${PIPELINE_UID}:${PIPELINE_GID}
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["--help"]
