"""Headless Chromium driven over the Chrome DevTools Protocol, with nothing but the ``websockets`` client.

Chromium is Debian's ``chromium`` package (``make chromium`` installs it); no browser is downloaded.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from tests.waiting import PATIENCE

CHROMIUM = os.environ.get("INCIDENTDESK_CHROMIUM", "/usr/bin/chromium")

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
]


class Page:
    """One tab: navigate it and evaluate expressions in it."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self._ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self._ids)
        await self.connection.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(await asyncio.wait_for(self.connection.recv(), PATIENCE))
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result

    async def navigate(self, url: str) -> None:
        await self.call("Page.navigate", url=url)

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def screenshot(self, path: Path, width: int = 1024) -> Path:
        """A PNG of the whole page (not only what fits the window) at ``width`` CSS pixels, written to
        ``path`` (its folder made if missing)."""
        height = await self.evaluate("Math.ceil(document.documentElement.scrollHeight)")
        await self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=max(int(height), 1),
            deviceScaleFactor=1,
            mobile=False,
        )
        shot = await self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        await asyncio.to_thread(_write, path, base64.b64decode(shot["data"]))
        return path

    async def wait_for(self, expression: str, within: float = PATIENCE, interval: float = 0.02) -> None:
        """Poll until ``expression`` is truthy; ``within`` only bounds a hang."""
        deadline = time.monotonic() + within
        while not await self.evaluate(expression):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{expression!r} stayed false for {within:g}s")
            await asyncio.sleep(interval)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _devtools_port(profile: Path, process: subprocess.Popen[bytes], within: float = PATIENCE) -> int:
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"chromium exited with {process.returncode}")
        if marker.exists():
            lines = marker.read_text().split()
            if lines:
                return int(lines[0])
        time.sleep(0.05)
    raise TimeoutError("chromium did not open its DevTools port")


def _launch(profile: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@asynccontextmanager
async def chromium() -> AsyncIterator[Page]:
    """A fresh headless Chromium (its own empty profile) and its first tab."""
    if not os.access(CHROMIUM, os.X_OK):
        raise RuntimeError(f"{CHROMIUM} is missing: run `make chromium` (Debian's chromium package)")
    profile = Path(tempfile.mkdtemp(prefix="chromium-"))
    process = _launch(profile)
    try:
        port = await asyncio.to_thread(_devtools_port, profile, process)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            targets = (await client.get("/json/list")).json()
        [target] = [t for t in targets if t.get("type") == "page"][:1]
        async with connect(
            target["webSocketDebuggerUrl"], max_size=None, open_timeout=PATIENCE
        ) as connection:
            page = Page(connection)
            await page.call("Page.enable")
            await page.call("Runtime.enable")
            yield page
    finally:
        process.terminate()
        try:
            await asyncio.to_thread(process.wait, 10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(profile, ignore_errors=True)
