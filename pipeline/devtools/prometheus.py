"""Real Prometheus and Alertmanager on loopback, for the alerting e2e test.

Debian's ``prometheus`` and ``prometheus-alertmanager`` packages are installed on demand
(as root), and each server runs in a throw-away directory on a free port of 127.0.0.1,
is waited for at ``/-/ready`` and stopped by its pid, like the databases in
:mod:`pipeline.devtools.services`. :func:`local_prometheus_config` and
:func:`local_alertmanager_config` turn the shipped configs (``deploy/``) into ones that
point at local ports, so the test runs the project's own rules and routes.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from pipeline.devtools.services import ensure_debian_package, free_ports, stop_process

READY_TIMEOUT_SECONDS = 60


def local_prometheus_config(
    shipped: Path,
    targets: Mapping[str, str | None],
    alertmanager: str,
    interval: str = "1s",
) -> dict[str, Any]:
    """The shipped Prometheus config, with local targets and short intervals.

    Args:
        shipped: ``deploy/prometheus/prometheus.yml``; its rule files are kept (made
            absolute), so the shipped rules are the ones evaluated.
        targets: Shipped target (``metrics:9108``) -> local ``host:port``, or None to
            drop the scrape job (a service that is not running here).
        alertmanager: The local Alertmanager's ``host:port``.
        interval: Scrape and evaluation interval.

    Returns:
        The config, ready for :class:`Prometheus`.

    Raises:
        ValueError: If a shipped target is not in ``targets`` (the test would scrape
            a host that does not exist here).
    """
    config = yaml.safe_load(shipped.read_text(encoding="utf-8"))
    # A scrape may take as long as the interval: the exporter reads ML Metadata.
    config["global"] = {
        **config.get("global", {}),
        "scrape_interval": interval,
        "scrape_timeout": interval,
        "evaluation_interval": interval,
    }
    config["rule_files"] = [str((shipped.parent / rule).resolve()) for rule in config["rule_files"]]
    config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    jobs = []
    for job in config["scrape_configs"]:
        job.pop("scrape_interval", None)  # the global short interval and timeout apply
        job.pop("scrape_timeout", None)
        local = []
        for static in job["static_configs"]:
            for target in static["targets"]:
                if target not in targets:
                    raise ValueError(
                        f"{shipped}: scrape job {job['job_name']!r} targets {target!r}, which "
                        "has no local address; pass it in targets (None drops the job)"
                    )
                if targets[target] is not None:
                    local.append(targets[target])
        if local:
            jobs.append({**job, "static_configs": [{"targets": local}]})
    config["scrape_configs"] = jobs
    return config


def local_alertmanager_config(
    shipped: Path, webhook_url: str, token_file: Path, wait: str = "1s"
) -> dict[str, Any]:
    """The shipped Alertmanager config, sending to ``webhook_url`` without delay.

    Args:
        shipped: ``deploy/alertmanager/alertmanager.yml``.
        webhook_url: The local receiver's URL, in place of the production receiver's.
        token_file: The file holding the bearer token, in place of the mounted secret.
        wait: ``group_wait`` and ``group_interval``.

    Returns:
        The config, ready for :class:`Alertmanager`.
    """
    config = yaml.safe_load(shipped.read_text(encoding="utf-8"))
    config["route"].update(group_wait=wait, group_interval=wait)
    for receiver in config["receivers"]:
        for webhook in receiver.get("webhook_configs", []):
            webhook["url"] = webhook_url
            webhook["http_config"]["authorization"]["credentials_file"] = str(token_file)
    return config


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


class _Server:
    """A server binary started with a YAML config in its own directory, on a free port."""

    name = ""

    def __init__(self, root: Path, config: Mapping[str, Any]) -> None:
        self.root = root
        [self.port] = free_ports(1)
        self.config = config
        self.log = root / f"{self.name}.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The server's pid once started (None before)."""
        return self._process.pid if self._process else None

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self.address}"

    def _command(self, config_file: Path) -> list[str]:
        raise NotImplementedError

    def start(self) -> _Server:
        """Writes the config, starts the server and waits until ``/-/ready`` answers.

        Returns:
            self, running.

        Raises:
            RuntimeError: If it exits or is not ready within
                :data:`READY_TIMEOUT_SECONDS` (with its log's tail).
        """
        self.root.mkdir(parents=True, exist_ok=True)
        config_file = self.root / f"{self.name}.yml"
        config_file.write_text(yaml.safe_dump(dict(self.config), sort_keys=False))
        with self.log.open("wb") as log:
            self._process = subprocess.Popen(
                self._command(config_file), stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if self._process.poll() is not None or time.monotonic() > deadline:
                tail = self.log.read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"{self.name} did not become ready: {tail}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Stops the server (SIGTERM by pid, then SIGKILL after 30 s)."""
        stop_process(self._process, signal.SIGTERM, 30)

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Prometheus(_Server):
    """Debian's Prometheus on 127.0.0.1, its TSDB in ``root/data``.

    Attributes:
        root: Its directory (config, data, log).
        port: The web port (``/-/ready``, ``/api/v1/...``).
        config: The config it runs with (see :func:`local_prometheus_config`).
    """

    name = "prometheus"

    def _command(self, config_file: Path) -> list[str]:
        binary = ensure_debian_package("prometheus", "prometheus")
        return [
            binary,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={self.root / 'data'}",
            f"--web.listen-address={self.address}",
        ]

    def __enter__(self) -> Prometheus:
        self.start()
        return self

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts its rules hold now (pending and firing), from ``/api/v1/alerts``.

        Returns:
            Each alert's ``labels``, ``annotations`` and ``state``.
        """
        return list(_get_json(f"{self.url}/api/v1/alerts")["data"]["alerts"])

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Evaluates an instant PromQL query.

        Args:
            expr: The expression.

        Returns:
            The result vector (``metric`` labels and ``value``).
        """
        query = urllib.parse.urlencode({"query": expr})
        return list(_get_json(f"{self.url}/api/v1/query?{query}")["data"]["result"])


class Alertmanager(_Server):
    """Debian's Alertmanager on 127.0.0.1, clustering off, its state in ``root/data``.

    Attributes:
        root: Its directory (config, data, log).
        port: The web port (``/-/ready``, ``/api/v2/...``).
        config: The config it runs with (see :func:`local_alertmanager_config`).
    """

    name = "alertmanager"

    def _command(self, config_file: Path) -> list[str]:
        binary = ensure_debian_package("prometheus-alertmanager", "prometheus-alertmanager")
        return [
            binary,
            f"--config.file={config_file}",
            f"--storage.path={self.root / 'data'}",
            f"--web.listen-address={self.address}",
            # An empty address turns the gossip cluster off: one local instance.
            "--cluster.listen-address=",
        ]

    def __enter__(self) -> Alertmanager:
        self.start()
        return self
