"""Headless Chromium for the tests of the offline HTML reports: load a page with no network and
return the DOM after its scripts ran."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ALERT_HOOK = (
    "<script>window.alert=function(){document.documentElement.dataset.pwned='alert'}</script>"
)
"""Put in a page's <head>: any alert() the page would call marks the DOM instead."""


def chromium() -> str:
    """The browser on PATH; skips the test (saying how to install one) when there is none."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    pytest.skip("no chromium, chromium-browser or google-chrome on PATH (apt-get install chromium)")


def rendered_dom(page: str, workdir: Path) -> tuple[str, str]:
    """The DOM of ``page`` (with :data:`ALERT_HOOK`) after Chromium ran it offline, and
    Chromium's log."""
    browser = chromium()
    path = workdir / "page.html"
    path.write_text(page.replace("<head>", "<head>" + ALERT_HOOK, 1), encoding="utf-8")
    run = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={workdir / 'profile'}",
            "--host-resolver-rules=MAP * ~NOTFOUND",  # offline: no name resolves
            "--enable-logging=stderr",
            "--virtual-time-budget=10000",
            "--dump-dom",
            path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout, run.stderr
