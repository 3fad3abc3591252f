"""From ``config.alerts`` to Airflow notifiers, and sending one alert to all of them.

Each configured destination becomes an Airflow notifier: Slack through the Slack
provider's ``SlackWebhookNotifier`` (the webhook URL is a secret and lives only in an
Airflow connection), email through the SMTP provider's ``SmtpNotifier``, and a generic
JSON webhook through :class:`pipeline.alerts.webhook.JsonWebhookNotifier`. Connections
are read the way Airflow reads them everywhere: from ``AIRFLOW_CONN_<ID>`` environment
variables, a secrets backend, or Airflow's metadata database.

An alert never fails a run or hides its error: a destination that cannot be reached
is logged (at ERROR, with its error) and the others still get the alert. Airflow and
its providers are imported only when an alert is sent (they are the ``airflow`` extra,
absent from a plain install); :func:`check` says up front when they are missing.
"""

from __future__ import annotations

import dataclasses
import html
import importlib
import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pipeline.alerts.messages import Alert
from pipeline.config import AlertsConfig, ConfigError, PipelineConfig

if TYPE_CHECKING:
    from airflow.notifications.basenotifier import BaseNotifier

LOG = logging.getLogger(__name__)

# Airflow exports the task context (AIRFLOW_CTX_DAG_ID, ...) into every task's
# environment; there its database is configured and reachable.
ENV_AIRFLOW_TASK = "AIRFLOW_CTX_DAG_ID"
# A secrets backend configured through the environment (Airflow's [secrets] backend).
ENV_SECRETS_BACKEND = "AIRFLOW__SECRETS__BACKEND"

# What each destination needs importable: (config key, module, the package that has it).
_NOTIFIER = ("airflow.notifications.basenotifier", "apache-airflow")
_NEEDS = {
    "slack_connection": [
        _NOTIFIER,
        ("airflow.providers.slack.notifications.slack_webhook", "apache-airflow-providers-slack"),
    ],
    "webhook_url": [_NOTIFIER, ("requests", "requests")],
    "webhook_connection": [_NOTIFIER, ("airflow.providers.http.hooks.http", "apache-airflow")],
    "email": [
        _NOTIFIER,
        ("airflow.providers.smtp.notifications.smtp", "apache-airflow-providers-smtp"),
    ],
}


@dataclasses.dataclass(frozen=True)
class Delivery:
    """Whether one destination took an alert.

    Attributes:
        destination: The destination, e.g. ``slack (connection 'slack_alerts')``.
        error: Why it was not delivered; None when it was.
    """

    destination: str
    error: str | None = None

    @property
    def delivered(self) -> bool:
        """Whether the destination accepted the alert."""
        return self.error is None


def check(config: PipelineConfig, environ: Mapping[str, str] | None = None) -> None:
    """Raises if alerts are configured but cannot be sent from this process.

    Runners call it before a run starts, so a missing extra or connection is
    reported at once rather than when the first alert is due. Outside an Airflow
    task (``python -m pipeline run``), a named connection must come from its
    ``AIRFLOW_CONN_<ID>`` variable or a secrets backend: Airflow's own lookup would
    otherwise fall through to its database, creating an empty ``airflow.db``.

    Args:
        config: The pipeline config.
        environ: The process's environment (default ``os.environ``), which Airflow
            reads connections from.

    Raises:
        ConfigError: Naming the key, and the missing module and what to install, or
            the missing connection and how to give it.
    """
    _check_providers(config)
    env = os.environ if environ is None else environ
    if env.get(ENV_AIRFLOW_TASK):
        return  # Airflow's full lookup, its database included, is there to answer
    for key, conn_id in _connections(config.alerts):
        variable = f"AIRFLOW_CONN_{conn_id.upper()}"
        if env.get(variable) or _in_secrets_backend(conn_id):
            continue
        raise ConfigError(
            f"config file {config.source}: alerts.{key} names the Airflow connection "
            f"{conn_id!r}, but neither {variable} nor a secrets backend "
            f"({ENV_SECRETS_BACKEND}) has it; outside Airflow the connection is read only "
            f"from those. Set {variable} to the connection as Airflow takes it (a URI or "
            "its JSON form; see docs/production.md, Alerts)"
        )


def _check_providers(config: PipelineConfig) -> None:
    for key, modules in _NEEDS.items():
        if getattr(config.alerts, key) is None:
            continue
        for module, package in modules:
            try:
                importlib.import_module(module)
            except ImportError as error:
                raise ConfigError(
                    f"config file {config.source}: alerts.{key} is set, but {module} cannot "
                    f"be imported ({error}); alerts are sent through Airflow's notifiers: "
                    f"install the pipeline's airflow extra, which brings {package} "
                    "(pip install 'tfx-clicks-pipeline[airflow]'; in a checkout, make venv)"
                ) from None


def _connections(alerts: AlertsConfig) -> list[tuple[str, str]]:
    """``(config key, connection id)`` of every Airflow connection the alerts use."""
    found = [
        ("slack_connection", alerts.slack_connection),
        ("webhook_connection", alerts.webhook_connection),
        ("email.connection", alerts.email.connection if alerts.email else None),
    ]
    return [(key, conn_id) for key, conn_id in found if conn_id is not None]


def _in_secrets_backend(conn_id: str) -> bool:
    from airflow.configuration import get_custom_secret_backend

    backend = get_custom_secret_backend()
    return backend is not None and backend.get_connection(conn_id=conn_id) is not None


def notifiers(config: PipelineConfig, alert: Alert) -> list[tuple[str, BaseNotifier]]:
    """Builds one Airflow notifier per configured destination, carrying ``alert``.

    Args:
        config: The pipeline config (``config.alerts``).
        alert: The alert every notifier sends.

    Returns:
        ``(destination, notifier)`` pairs; empty when no destination is set.

    Raises:
        ConfigError: If a configured destination's provider is not installed.
    """
    _check_providers(config)
    alerts = config.alerts
    built: list[tuple[str, BaseNotifier]] = []
    if alerts.slack_connection is not None:
        from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

        built.append(
            (
                f"slack (connection {alerts.slack_connection!r})",
                SlackWebhookNotifier(
                    slack_webhook_conn_id=alerts.slack_connection,
                    text=slack_text(alert),
                    timeout=max(1, round(alerts.timeout_seconds)),
                ),
            )
        )
    if alerts.webhook_url is not None or alerts.webhook_connection is not None:
        from pipeline.alerts.webhook import JsonWebhookNotifier

        where = (
            f"webhook {alerts.webhook_url}"
            if alerts.webhook_url is not None
            else f"webhook (connection {alerts.webhook_connection!r})"
        )
        built.append(
            (
                where,
                JsonWebhookNotifier(
                    payload=alert.as_json(),
                    url=alerts.webhook_url,
                    http_conn_id=alerts.webhook_connection,
                    timeout_seconds=alerts.timeout_seconds,
                ),
            )
        )
    if alerts.email is not None:
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        email = alerts.email
        built.append(
            (
                f"email to {', '.join(email.to)} (connection {email.connection!r})",
                SmtpNotifier(
                    to=list(email.to),
                    from_email=email.sender,
                    subject=alert.title,
                    html_content=email_html(alert),
                    smtp_conn_id=email.connection,
                ),
            )
        )
    return built


def send(
    config: PipelineConfig, alert: Alert, context: dict[str, Any] | None = None
) -> list[Delivery]:
    """Sends ``alert`` to every configured destination; never raises for a destination.

    The notifiers are called with ``notify`` directly, not through Airflow's
    ``__call__``, which would render the message as a Jinja template (an error
    message may hold braces) and swallow a failure without telling us which
    destination failed.

    Args:
        config: The pipeline config (``config.alerts``).
        alert: The alert.
        context: Airflow's task context when called from a callback; the alert is
            added to it as ``alert`` (a plain context is built otherwise).

    Returns:
        One delivery per destination, in config order; empty when none is set.
    """
    if not config.alerts.configured:
        return []
    try:
        built = notifiers(config, alert)
    except ConfigError as error:
        LOG.error("Alert %r was not sent: %s", alert.title, error)
        return [Delivery("every destination", str(error))]
    notify_context: dict[str, Any] = {**(context or {}), "alert": alert.as_json()}
    notify_context.setdefault("dag", None)
    deliveries = []
    for destination, notifier in built:
        try:
            notifier.notify(notify_context)  # type: ignore[arg-type]
        except Exception as error:  # noqa: BLE001 - logged; the other destinations still get it
            LOG.error(
                "Alert %r could not be sent to %s: %s: %s",
                alert.title,
                destination,
                type(error).__name__,
                error,
                exc_info=LOG.isEnabledFor(logging.DEBUG),
            )
            deliveries.append(Delivery(destination, f"{type(error).__name__}: {error}"))
        else:
            LOG.info("Alert %r sent to %s", alert.title, destination)
            deliveries.append(Delivery(destination))
    return deliveries


def slack_text(alert: Alert) -> str:
    """The alert as a Slack message: the title in bold, then the text.

    Slack reads ``&``, ``<`` and ``>`` as markup (links, mentions), so they are
    escaped as its message formatting guide asks.

    Args:
        alert: The alert.

    Returns:
        The ``text`` field of the incoming webhook's JSON body.
    """

    def escape(text: str) -> str:
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    return f"*{escape(alert.title)}*\n{escape(alert.text)}"


def email_html(alert: Alert) -> str:
    """The alert as an email's HTML body: the text, its lines kept.

    Args:
        alert: The alert.

    Returns:
        The HTML.
    """
    return (
        '<pre style="white-space: pre-wrap; font-family: sans-serif">'
        f"{html.escape(alert.text, quote=False)}</pre>"
    )
