"""Headless Chromium for the page tests: the DOM it builds and its screenshots."""

from __future__ import annotations

import html
import re
import subprocess
from pathlib import Path

# Chromium refuses to run as root with its sandbox (tests run as root in CI); the
# pages are local, script-free files, so the sandbox protects nothing here.
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def chromium(binary: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Runs headless Chromium and asserts it succeeded.

    Args:
        binary: The chromium executable.
        *args: Its arguments after the headless flags.

    Returns:
        The finished process.
    """
    result = subprocess.run(
        [binary, *CHROMIUM_FLAGS, *args], capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def dom(binary: str, page: Path) -> str:
    """The DOM Chromium builds from a page (what the browser shows).

    Args:
        binary: The chromium executable.
        page: The HTML file.

    Returns:
        The serialized DOM.
    """
    built = chromium(binary, "--dump-dom", page.as_uri()).stdout
    assert "<body" in built
    return built


def screenshot(binary: str, page: Path, png: Path, window: str) -> bytes:
    """Screenshots a page and checks the PNG has the window's size.

    Args:
        binary: The chromium executable.
        page: The HTML file.
        png: Where the screenshot goes.
        window: ``WIDTHxHEIGHT`` as ``"1200,2400"``.

    Returns:
        The PNG's bytes.
    """
    chromium(binary, f"--window-size={window}", f"--screenshot={png}", page.as_uri())
    data = png.read_bytes()
    assert data.startswith(PNG_MAGIC)
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == tuple(int(v) for v in window.split(","))
    return data


def text(fragment: str) -> str:
    """A DOM fragment's text, tags removed and entities decoded.

    Args:
        fragment: HTML.

    Returns:
        The text.
    """
    return html.unescape(re.sub(r"<[^>]+>", " ", fragment))


def row(page_dom: str, row_id: str) -> str:
    """The text of the table row with ``id="row_id"``.

    Args:
        page_dom: The DOM.
        row_id: The row's id.

    Returns:
        The row's text.
    """
    match = re.search(
        rf'<tr[^>]*\bid="{re.escape(html.escape(row_id))}"[^>]*>(.*?)</tr>', page_dom, re.S
    )
    assert match, f"no row {row_id!r} on the page"
    return text(match.group(1))
