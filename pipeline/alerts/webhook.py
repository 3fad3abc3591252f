"""A generic JSON webhook as an Airflow notifier: each alert is POSTed as one JSON body.

Airflow ships notifiers for Slack and SMTP but none for "POST this JSON to a URL";
this one is a small :class:`~airflow.notifications.basenotifier.BaseNotifier`, so it is
called the same way as theirs (``notifier.notify(context)``, or as an operator
callback). The URL comes from the config (``alerts.webhook_url``) or from an Airflow
``http`` connection (``alerts.webhook_connection``), whose host is the URL and whose
extras may add headers (an auth token kept in Airflow's secrets backend).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests
from airflow.notifications.basenotifier import BaseNotifier


class JsonWebhookNotifier(BaseNotifier):
    """POSTs a JSON body to a URL or an Airflow http connection.

    Attributes:
        payload: The JSON body.
        url: The URL to POST to (or None with ``http_conn_id``).
        http_conn_id: The Airflow http connection to POST to (or None with ``url``).
        timeout_seconds: How long the receiver may take to answer.
    """

    # Nothing is rendered with Jinja: the body is data (an error message may hold
    # braces), not a template.
    template_fields = ()

    def __init__(
        self,
        *,
        payload: Mapping[str, Any],
        url: str | None = None,
        http_conn_id: str | None = None,
        timeout_seconds: float = 10.0,
    ) -> None:
        super().__init__()
        if (url is None) == (http_conn_id is None):
            raise ValueError("JsonWebhookNotifier needs exactly one of url and http_conn_id")
        self.payload = dict(payload)
        self.url = url
        self.http_conn_id = http_conn_id
        self.timeout_seconds = timeout_seconds

    def notify(self, context: Any) -> None:
        """POSTs the payload; raises if the receiver does not answer 2xx.

        Args:
            context: Airflow's context (unused: the payload is built beforehand).

        Raises:
            requests.HTTPError: If the URL answered with an error status.
            airflow.exceptions.AirflowException: If the connection's URL did.
        """
        if self.http_conn_id is None:
            response = requests.post(str(self.url), json=self.payload, timeout=self.timeout_seconds)
            response.raise_for_status()
            return
        from airflow.providers.http.hooks.http import HttpHook

        hook = HttpHook(method="POST", http_conn_id=self.http_conn_id)
        # HttpHook.run raises AirflowException on a non-2xx answer (check_response).
        hook.run(endpoint=None, json=self.payload, extra_options={"timeout": self.timeout_seconds})
