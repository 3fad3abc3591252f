#!/usr/bin/env bash
# The image's entrypoint (Dockerfile, docker-compose.yml): one image runs Airflow, the
# pipeline's own commands and the one-off database set-up.
#
#   pipeline ARGS...   python -m pipeline ARGS...  (e.g. `pipeline metrics --serve`)
#   airflow-init       migrate Airflow's database, then create the admin user
#                      (AIRFLOW_ADMIN_USER / AIRFLOW_ADMIN_PASSWORD) unless it exists
#   airflow ARGS...    airflow ARGS...
#   bash|sh|python ... that program, for debugging (`docker compose run --rm IMAGE bash`)
#   ARGS...            airflow ARGS...  (so `command: scheduler` works)
set -euo pipefail

airflow_init() {
    # `set -e`: a failed migration exits non-zero before any user is created, so the
    # airflow-init service fails and the webserver and scheduler, which wait for it to
    # complete successfully, never start on an empty database.
    : "${AIRFLOW_ADMIN_USER:?airflow-init needs AIRFLOW_ADMIN_USER (set it in .env)}"
    : "${AIRFLOW_ADMIN_PASSWORD:?airflow-init needs AIRFLOW_ADMIN_PASSWORD (set it in .env)}"
    airflow db migrate
    # Idempotent on its own: for an existing username, `users create` prints
    # "... already exist in the db" and exits 0; any other failure exits non-zero.
    airflow users create --role Admin --username "$AIRFLOW_ADMIN_USER" \
        --password "$AIRFLOW_ADMIN_PASSWORD" --firstname Admin --lastname User \
        --email "${AIRFLOW_ADMIN_EMAIL:-admin@example.invalid}"
}

command="${1:-}"
case "$command" in
    pipeline)
        shift
        exec python -m pipeline "$@"
        ;;
    airflow-init)
        airflow_init
        ;;
    airflow)
        shift
        exec airflow "$@"
        ;;
    bash | sh | python)
        exec "$@"
        ;;
    *)
        exec airflow "$@"
        ;;
esac
