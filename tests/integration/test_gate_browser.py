"""report.html in a real browser (Playwright driving Debian's chromium).

No console errors, every image decodes, sorting and the failing-only filter work, and the
verdict is visible without scrolling. Skipped only outside CI when chromium or Playwright is
missing; with CI=true their absence fails the test.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from driftmon.gate.run import GateOptions, run_gate
from tests.integration.test_gate import _directories
from tests.unit.gate_support import DrawnTextReader

CHROMIUM = "/usr/bin/chromium"


def _browser_or_skip() -> None:
    missing = []
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        missing.append("chromium (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright (pip install playwright)")
    if missing and os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"the browser test must run in CI; missing: {', '.join(missing)}")
    if missing:
        pytest.skip(f"missing: {', '.join(missing)}")


def test_report_html_in_chromium(tmp_path: Path) -> None:
    _browser_or_skip()
    from playwright.sync_api import sync_playwright

    manifest_dir, metadata_dir = _directories(tmp_path)
    out = tmp_path / "report"
    report = run_gate(GateOptions(str(manifest_dir), str(metadata_dir), out), DrawnTextReader(out))
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium") or CHROMIUM)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("request", lambda req: None if req.url.startswith("file://") else errors.append(req.url))
            page.goto((out / "report.html").as_uri())
            page.wait_for_load_state("load")

            verdict = page.locator("#verdict")
            assert "FAIL" in verdict.inner_text()
            box = verdict.bounding_box()
            assert box is not None and box["y"] + box["height"] <= 720

            sizes = page.eval_on_selector_all("img", "els => els.map(e => e.complete && e.naturalWidth)")
            assert sizes and all(isinstance(w, int) and w > 0 for w in sizes)

            order = lambda: page.eval_on_selector_all(  # noqa: E731
                "#pairs .pair", "els => els.map(e => parseFloat(e.dataset.regression))"
            )
            page.select_option("#sort", "regression")
            regressions = order()
            assert regressions == sorted(regressions) and len(regressions) == len(report.outcomes)
            page.select_option("#sort", "order")
            assert page.eval_on_selector_all("#pairs .pair", "els => els.map(e => +e.dataset.order)") == list(
                range(len(report.outcomes))
            )

            page.check("#failing-only")
            visible = page.eval_on_selector_all(
                "#pairs .pair", "els => els.filter(e => !e.hidden).map(e => e.dataset.failing)"
            )
            expected_failing = sum(1 for b, c in report.outcomes if b.failing or c.failing)
            assert visible == ["1"] * expected_failing
            page.uncheck("#failing-only")
            assert page.locator("#pairs .pair:visible").count() == len(report.outcomes)
        finally:
            browser.close()
    assert errors == []
