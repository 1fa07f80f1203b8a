"""report.html in a real browser: renders a run's report with the current code, opens it in
headless Chromium at desktop and phone width, saves screenshots, and fails on anything a reader
would meet as a fault.

    python bench/report_render.py RUN_DIR [RUN_DIR ...]        # screenshots under /tmp/report_render
    python bench/report_render.py RUN_DIR --out DIR --chromium /usr/bin/chromium

Each RUN_DIR's report.html is rendered again from its metrics.json, predictions.jsonl and
config.yaml (so a run from before a change of the report shows the change), written to --out
(never into git), and checked at 1280 and 390 CSS pixels wide. It fails when the browser logs a
console error, an exception or a failed load; when the page asks for anything but data: or
file: URLs; when an image does not decode; when a section the summary calls for is missing or
the verdict is not first; or when the phone-width page scrolls sideways (tables may scroll
inside their own box). Last line `RESULT failures=<count>`.

Debian's chromium (`apt-get install -y chromium`) runs headless as root with --no-sandbox.
The browser is driven over the DevTools protocol on a pipe (--remote-debugging-pipe), a few
JSON messages, so the check needs no browser-automation package and no network port.
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import json
import os
import select
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

WIDTHS = {"desktop": (1280, 900, False), "phone": (390, 844, True)}
TIMEOUT_SECONDS = 60

PAGE_FACTS = """JSON.stringify({
  sections: [...document.querySelectorAll("main > section")].map(s => s.id),
  pageWidth: document.documentElement.scrollWidth,
  brokenImages: [...document.images].filter(i => !i.complete || i.naturalWidth === 0).length,
  images: document.images.length,
  verdict: (document.querySelector("#verdict .headline") || {}).textContent || "",
})"""


class Browser:
    """Headless Chromium over the DevTools protocol on fds 3 (commands in) and 4 (replies out)."""

    def __init__(self, executable: str) -> None:
        commands_read, self._commands = os.pipe()
        self._replies, replies_write = os.pipe()

        def map_pipes() -> None:  # in the child: the fds Chromium reads and writes
            # Copies above 9 first, so that moving one onto 3 or 4 cannot overwrite the other.
            commands = fcntl.fcntl(commands_read, fcntl.F_DUPFD, 10)
            replies = fcntl.fcntl(replies_write, fcntl.F_DUPFD, 10)
            os.dup2(commands, 3)
            os.dup2(replies, 4)

        self.process = subprocess.Popen(
            [executable, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--remote-debugging-pipe", "--no-first-run", "about:blank"],
            # Python's own fds are close-on-exec (PEP 446); the two dup2'd ones are not.
            preexec_fn=map_pipes, close_fds=False,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(commands_read)
        os.close(replies_write)
        self._next_id, self._buffer = 0, b""
        self.events: list[dict[str, Any]] = []

    def _message(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._replies], [], [], TIMEOUT_SECONDS)
            chunk = os.read(self._replies, 1 << 20) if ready else b""
            if not chunk:
                raise RuntimeError("Chromium stopped answering")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        request: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            request["sessionId"] = session
        os.write(self._commands, json.dumps(request).encode() + b"\0")
        while True:
            message = self._message()
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, method: str) -> None:
        while not any(event.get("method") == method for event in self.events):
            self.events.append(self._message())

    def close(self) -> None:
        try:
            self.call("Browser.close")
        finally:
            self.process.wait(timeout=TIMEOUT_SECONDS)


def faults(events: list[dict[str, Any]]) -> list[str]:
    """Console errors, exceptions, failed loads and requests that leave the file."""
    found = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            found.append(f"console {params['type']}: {params['args']}")
        elif method == "Runtime.exceptionThrown":
            found.append(f"exception: {params['exceptionDetails'].get('text')}")
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            found.append(f"log error: {params['entry']['text']}")
        elif method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if not url.startswith(("data:", "file:")):
                found.append(f"request to {url}")
        elif method == "Network.loadingFailed":
            found.append(f"failed load: {params.get('errorText')}")
    return found


def expected_sections(summary: dict[str, Any], predictions: list[dict[str, Any]]) -> list[str]:
    expected = ["verdict", "metrics"]
    if summary.get("task_type") == "classification" and predictions:
        expected.append("confusion")
    if any(summary.get("by_group", {}).values()):
        expected.append("groups")
    if summary.get("train"):
        expected.append("training")
    return expected + ["examples", "safety", "data", "config"]


def render(run_dir: Path, out: Path) -> tuple[Path, dict[str, Any], list[dict[str, Any]]]:
    from domaintune.report import render_html

    summary = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    predictions_file = run_dir / "predictions.jsonl"
    predictions = [
        json.loads(line) for line in predictions_file.read_text(encoding="utf-8").splitlines() if line.strip()
    ] if predictions_file.is_file() else []
    config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")) or {}
    page = out / f"{run_dir.name}.html"
    page.write_text(render_html(summary, config, predictions), encoding="utf-8")
    return page, summary, predictions


def check(browser: Browser, page: Path, expected: list[str], out: Path) -> list[str]:
    problems = []
    for name, (width, height, mobile) in WIDTHS.items():
        target = browser.call("Target.createTarget", url="about:blank")["targetId"]
        session = browser.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        browser.events.clear()
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.call(f"{domain}.enable", session)
        browser.call("Emulation.setDeviceMetricsOverride", session, width=width, height=height,
                     deviceScaleFactor=1, mobile=mobile)
        browser.call("Page.navigate", session, url=page.resolve().as_uri())
        browser.wait_for("Page.loadEventFired")
        facts = json.loads(browser.call("Runtime.evaluate", session, expression=PAGE_FACTS,
                                        returnByValue=True)["result"]["value"])
        shot = browser.call("Page.captureScreenshot", session, format="png", captureBeyondViewport=True)
        screenshot = out / f"{page.stem}-{name}.png"
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        browser.call("Target.closeTarget", targetId=target)
        here = [f"{name}: {fault}" for fault in faults(browser.events)]
        if facts["sections"][:1] != ["verdict"]:
            here.append(f"{name}: the page does not open with the verdict: {facts['sections']}")
        missing = [section for section in expected if section not in facts["sections"]]
        if missing:
            here.append(f"{name}: missing sections {missing}")
        if facts["brokenImages"]:
            here.append(f"{name}: {facts['brokenImages']} of {facts['images']} images did not decode")
        # Against the emulated width: a phone's viewport zooms out to fit a page that is too wide.
        if facts["pageWidth"] > width:
            here.append(f"{name}: the page is {facts['pageWidth']} px wide on a {width} px screen")
        print(f"{page.stem} {name}: {len(facts['sections'])} sections, {facts['images']} images, "
              f"page width {facts['pageWidth']} px on {width} px, screenshot {screenshot}")
        print(f"  verdict: {facts['verdict']}")
        problems += here
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dirs", nargs="+", type=Path, help="finished run folders")
    parser.add_argument("--out", type=Path, default=Path("/tmp/report_render"))
    parser.add_argument("--chromium", default="chromium")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    browser = Browser(args.chromium)
    problems = []
    try:
        for run_dir in args.run_dirs:
            page, summary, predictions = render(run_dir, args.out)
            problems += check(browser, page, expected_sections(summary, predictions), args.out)
    finally:
        browser.close()
    for problem in problems:
        print(f"FAIL {problem}")
    print(f"RESULT failures={len(problems)}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
