# Image for the Airflow services of docker-compose.yml: Airflow 2.11 + TFX 1.16 +
# this package, installed from uv.lock exactly as `make` does locally.
FROM python:3.10-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/pipeline/.venv \
    AIRFLOW_HOME=/opt/airflow
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

ENV PATH=/opt/pipeline/.venv/bin:$PATH
ENTRYPOINT ["airflow"]
