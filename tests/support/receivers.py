"""Real local receivers for alerts: an HTTP server recording JSON bodies, an SMTP server.

Both listen on 127.0.0.1 on a free port and record what arrives, so a test asserts on
the bytes a destination really received (a Slack incoming webhook or a JSON webhook
stands in as the HTTP receiver; aiosmtpd is a real SMTP server).
"""

from __future__ import annotations

import email
import email.policy
import json
import threading
from collections.abc import Callable
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from pipeline.devtools.services import free_ports


class HttpReceiver:
    """An HTTP server on 127.0.0.1 that records each POST's path and JSON body.

    It answers ``200 ok`` (what Slack's incoming webhooks answer), or ``status``
    when set, to test a failing destination. With ``reply``, it answers what ``reply``
    returns for the path and body instead, as JSON (a server's API, e.g. TF Serving's).

    Attributes:
        requests: ``(path, parsed JSON body, headers)`` per POST, in arrival order.
        status: The status code every POST is answered with.
    """

    def __init__(
        self, status: int = 200, reply: Callable[[str, Any], tuple[int, Any]] | None = None
    ) -> None:
        self.requests: list[tuple[str, Any, dict[str, str]]] = []
        self.status = status
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                receiver.requests.append(
                    (self.path, json.loads(body.decode("utf-8")), dict(self.headers.items()))
                )
                status, content_type = receiver.status, "text/plain"
                text = b"ok" if receiver.status == 200 else b"invalid_payload"
                if reply is not None:
                    status, answer = reply(self.path, receiver.requests[-1][1])
                    text, content_type = json.dumps(answer).encode("utf-8"), "application/json"
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # pytest shows failures; request lines are noise

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def bodies(self) -> list[Any]:
        """The JSON bodies received, in order."""
        return [body for _, body, _ in self.requests]

    def __enter__(self) -> HttpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _Recorder:
    """aiosmtpd's handler: keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[tuple[Envelope, EmailMessage]] = []

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        content = envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode("utf-8")
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append((envelope, message))
        return "250 Message accepted for delivery"


class SmtpReceiver:
    """An aiosmtpd SMTP server on 127.0.0.1 (no TLS, no login) recording each message.

    Attributes:
        port: The port it listens on.
    """

    def __init__(self) -> None:
        self._recorder = _Recorder()
        # aiosmtpd connects to its own port to check that it started: it needs a real one.
        (self.port,) = free_ports(1)
        self._controller = Controller(self._recorder, hostname="127.0.0.1", port=self.port)

    @property
    def messages(self) -> list[EmailMessage]:
        """The messages received, in order."""
        return [message for _, message in self._recorder.messages]

    @property
    def recipients(self) -> list[list[str]]:
        """Each message's envelope recipients (RCPT TO)."""
        return [list(envelope.rcpt_tos) for envelope, _ in self._recorder.messages]

    def airflow_connection(self) -> str:
        """This server as an Airflow SMTP connection (JSON, for ``AIRFLOW_CONN_<ID>``).

        Returns:
            The connection: host, port, and plain SMTP (no SSL, no STARTTLS).
        """
        return json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": self.port,
                "extra": {"disable_ssl": True, "disable_tls": True, "retry_limit": 0},
            }
        )

    def __enter__(self) -> SmtpReceiver:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


def text_of(message: EmailMessage) -> str:
    """The decoded text of a message's body (HTML included), whatever its encoding.

    Args:
        message: A received message.

    Returns:
        The body parts' text, joined.
    """
    parts = []
    for part in message.walk():
        if part.get_content_maintype() == "text":
            parts.append(part.get_content())
    return "\n".join(parts)
