"""A headless Chromium driven through ChromeDriver's W3C WebDriver protocol (plain HTTP + JSON).

Debian's `chromium` and `chromium-driver` packages (`.ci/run` installs them); the client is these
few lines over httpx, so the tests need no browser-automation package. `Browser.find` and
`Element.click/text` are the protocol's own commands; `run_js` evaluates a script in the page.
"""

from __future__ import annotations

import base64
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C key of an element reference


def available() -> str | None:
    """None when both are installed, else what is missing and how to install it."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).is_file()]
    return (f"{', '.join(missing)} not installed (apt-get install chromium chromium-driver)"
            if missing else None)


class Element:
    def __init__(self, browser: Browser, ref: str) -> None:
        self.browser, self.ref = browser, ref

    def click(self) -> None:
        self.browser.command("POST", f"/element/{self.ref}/click", {})

    @property
    def text(self) -> str:
        return self.browser.command("GET", f"/element/{self.ref}/text")

    def attribute(self, name: str) -> str | None:
        return self.browser.command("GET", f"/element/{self.ref}/attribute/{name}")


class Browser:
    """`with Browser() as b: b.open(url)`; a fresh ChromeDriver and Chromium per instance."""

    def __enter__(self) -> Browser:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.driver = subprocess.Popen([CHROMEDRIVER, f"--port={port}"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.http.get("/status")
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        caps = {"browserName": "chrome", "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"]}}
        reply = self.http.post("/session", json={"capabilities": {"alwaysMatch": caps}}).json()
        self.session = reply["value"]["sessionId"]
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.http.delete(f"/session/{self.session}")
        finally:
            self.http.close()
            self.driver.kill()
            self.driver.wait()

    def command(self, method: str, path: str, body: dict | None = None) -> Any:
        reply = self.http.request(method, f"/session/{self.session}{path}", json=body).json()
        value = reply["value"]
        if isinstance(value, dict) and "error" in value:
            raise RuntimeError(f"webdriver {path}: {value['error']}: {value.get('message')}")
        return value

    def open(self, url: str) -> None:
        self.command("POST", "/url", {"url": url})

    def find(self, css: str) -> Element:
        found = self.command("POST", "/element", {"using": "css selector", "value": css})
        return Element(self, found[ELEMENT])

    def find_all(self, css: str) -> list[Element]:
        found = self.command("POST", "/elements", {"using": "css selector", "value": css})
        return [Element(self, f[ELEMENT]) for f in found]

    def run_js(self, script: str, *args: Any) -> Any:
        return self.command("POST", "/execute/sync", {"script": script, "args": list(args)})

    def select(self, css: str, value: str) -> None:
        """Choose an <option> of a <select> as a user does: the option is clicked."""
        self.find(f"{css} option[value='{value}']").click()

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self.command("GET", "/screenshot")))
        return path
