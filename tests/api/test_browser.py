"""The web page in headless Chromium (Debian's): submit, watch, approve in the inbox, result."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import async_playwright, expect

from tests.api.conftest import Gw

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


async def test_submit_watch_approve_and_see_the_result(
    gw: Gw, admin_key: str, tmp_path: Path
) -> None:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = await browser.new_page()
        await page.goto(gw.url + "/")
        await page.fill("#apikey", admin_key)
        await page.press("#apikey", "Tab")  # change event: the page loads policies
        await expect(page.locator("#policy option[value=approve_plan]")).to_have_count(1)
        await page.fill("#prompt", "What is six times seven? (browser)")
        await page.select_option("#policy", "approve_plan")
        await page.click("#generate")
        await expect(page.locator("#status")).to_contain_text("waiting for plan approval")
        await expect(page.locator("#phases span.now")).to_have_text("approve")
        approve = page.locator("#inbox .item .approve").first
        await expect(approve).to_be_visible(timeout=15_000)
        await approve.click()
        await expect(page.locator("#answer")).to_have_text("The answer is 42.", timeout=30_000)
        await expect(page.locator("#outcome")).to_have_text("succeeded")
        await expect(page.locator("#confidence")).to_have_text("0.90")
        page.once("dialog", lambda dialog: dialog.accept("wrong number"))
        await page.click("#report")
        await expect(page.locator("#note")).to_contain_text("recorded for task-")
        await page.screenshot(path=str(tmp_path / "naestro-web.png"), full_page=True)
        await browser.close()
    assert (tmp_path / "naestro-web.png").stat().st_size > 10_000
