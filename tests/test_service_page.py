"""The page at / in headless Chromium (Debian's package) driven by Playwright: upload a
file, see a failing claim, filter, download the CSV; the screenshot docs/img/service.png is
refreshed with PAYER_RULES_SCREENSHOT=1.
Skipped without playwright or /usr/bin/chromium (nothing is downloaded at test time)."""

from __future__ import annotations

import csv
import io
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("starlette")
sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):
    pytest.skip("no /usr/bin/chromium (apt-get install chromium)", allow_module_level=True)

import httpx  # noqa: E402

ROOT = Path(__file__).parents[1]
EXAMPLES = ROOT / "docs" / "examples" / "claims.jsonl"


@pytest.fixture(scope="module")
def server():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "payer_rules.cli", "serve", "--no-auth", "--port", str(port),
                             "--log-level", "warning"], cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(url + "/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def test_upload_see_failing_claim_download_csv(server, tmp_path):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-background-networking"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900}, accept_downloads=True)
            outside: list[str] = []
            page.on("request", lambda r: None if r.url.startswith(server) else outside.append(r.url))
            page.goto(server + "/")
            page.get_by_label("Claim file").set_input_files(str(EXAMPLES))
            page.wait_for_function("document.getElementById('claims').value.length > 0")
            page.keyboard.press("Tab")
            page.get_by_role("button", name="Check claims").click()
            page.get_by_role("status").filter(has_text="Checked").wait_for()
            failing = page.locator("article.claim", has=page.locator(".badge.fail"))
            assert failing.count() >= 1
            assert "FAIL" in failing.first.inner_text() and "Bill " in failing.first.inner_text()
            all_cards = page.locator("article.claim").count()
            page.get_by_label("Show failing claims only").check()
            assert page.locator("article.claim").count() == failing.count() < all_cards
            with page.expect_download() as dl:
                page.get_by_role("button", name="Download CSV").click()
            path = tmp_path / "results.csv"
            dl.value.save_as(path)
            rows = list(csv.DictReader(io.StringIO(path.read_text())))
            assert any(r["status"] == "fail" and r["fix"].startswith("Bill ") for r in rows)
            with page.expect_download() as dl:
                page.get_by_role("button", name="Download JSON lines").click()
            jl = tmp_path / "results.jsonl"
            dl.value.save_as(jl)
            want = subprocess.run([sys.executable, "-m", "payer_rules.cli", "check", str(EXAMPLES)],
                                  capture_output=True, cwd=ROOT).stdout
            assert jl.read_bytes() == want
            page.get_by_label("Show failing claims only").uncheck()
            # docs/img/service.png is refreshed only when asked, so a test run leaves the tree clean
            shot = ROOT / "docs" / "img" / "service.png" if os.environ.get("PAYER_RULES_SCREENSHOT") \
                else tmp_path / "service.png"
            shot.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(shot), full_page=False)
            assert shot.stat().st_size > 10_000
            assert not outside, outside
        finally:
            browser.close()
