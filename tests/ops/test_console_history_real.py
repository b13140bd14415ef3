"""The console's history against a real Prometheus scraping the test stack's
RabbitMQ (per-queue metrics, every second), and without one; the charts,
the queues page, a 375 px screen and the keyboard focus in headless
Chromium. Screenshots are saved under var/screenshots/ for a person to look at.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path

import aiohttp
import pytest

from services.console import history, overview
from shared.publisher import Publisher
from tests.conftest import TEST_STACK
from tests.helpers import LOCAL, ROOT, ServiceProcess, eventually, free_port, publish_pings

pytestmark = pytest.mark.real

CHROMIUM = Path("/usr/bin/chromium")
HAVE_CHROMIUM = CHROMIUM.exists()
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
PASSWORD = "operator-test-password-7"
SHOTS = ROOT / "var" / "screenshots"
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 1000}


def _stack_value(name: str) -> str:
    """A port of the test stack, as deploy/local/env.sh computes it."""
    out = subprocess.run(
        ["bash", "-c", f'source "{LOCAL}/env.sh" && echo "${name}"'],
        env={**os.environ, "STACK": TEST_STACK},
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


@pytest.fixture
async def prometheus(tmp_path: Path) -> AsyncIterator[str]:
    """A Prometheus of this test's own, scraping the stack's RabbitMQ every
    second (the stack's Prometheus scrapes every 15 s: too slow to wait on)."""
    env = {**os.environ, "STACK": TEST_STACK}
    # Debian's package, as the local stack installs it (a no-op when present).
    await asyncio.to_thread(
        subprocess.run, [str(LOCAL / "prometheus.sh"), "install"], env=env, check=True
    )
    port = free_port()
    rabbit = _stack_value("RMQ_PROM_PORT")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: rabbitmq\n"
        "    metrics_path: /metrics/per-object\n"
        f"    static_configs: [{{ targets: ['127.0.0.1:{rabbit}'] }}]\n"
    )
    with (tmp_path / "prometheus.log").open("ab") as log:
        proc = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"

    async def ready() -> bool:
        assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()[-2000:]
        try:
            async with aiohttp.ClientSession() as http, http.get(f"{url}/-/ready") as resp:
                return resp.status == 200
        except aiohttp.ClientError:
            return False

    try:
        await eventually(ready, timeout=60, what="Prometheus ready")
        yield url
    finally:
        proc.kill()
        proc.wait()


@dataclass
class Waiting:
    """Events waiting in this namespace's queues, and a hand that takes one."""

    depth: float  # as the management API reports it
    take: Callable[[], Awaitable[int]]  # fetch and ack one; the depth left


@pytest.fixture
async def waiting(amqp, topology, settings) -> AsyncIterator[Waiting]:
    """Three events published; one fetched and acknowledged on a channel that
    stays open, so RabbitMQ exports its delivery counters (several per
    channel and queue)."""
    channel = await amqp.channel()
    await topology.declare_all(channel)
    await publish_pings(await Publisher.create(channel, topology), ["ok", "ok", "ok"])
    queue = await channel.get_queue(topology.queue(topology.service_queues()[0]))
    # Pings are system events: each lands in every queue bound to system.#.
    published = 3 * sum("system.#" in spec.bindings for spec in topology.service_queues())
    taken = 0
    depth: list[float] = []

    async def settled() -> bool:
        async with aiohttp.ClientSession() as http:
            rows = await overview.queues(http, settings)
        depth.append(sum(r.messages for r in rows if r.kind in ("main", "retry")))
        return depth[-1] == published - taken

    async def take() -> int:
        nonlocal taken
        message = await queue.get()
        await message.ack()
        taken += 1
        await eventually(settled, timeout=60, what="the queues' depth in the management API")
        return published - taken

    await take()
    yield Waiting(depth[-1], take)
    await channel.close()


def _closed_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


async def test_the_charts_come_from_prometheus_scraping_the_real_broker(
    prometheus, waiting, namespace
):
    async def scraped(query: str) -> bool:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{prometheus}/api/v1/query", params={"query": query}) as resp,
        ):
            return bool((await resp.json())["data"]["result"])

    # A counter's first sample is its baseline: a second delivery, once
    # Prometheus holds the first, is what its rate can see.
    delivered = f'rabbitmq_channel_get_ack_total{{queue=~"{namespace}\\\\..+"}}'
    await eventually(lambda: scraped(delivered), timeout=60, what="the first delivery scraped")
    depth = await waiting.take()
    seen: list[history.History] = []

    async def charted() -> bool:
        async with aiohttp.ClientSession() as http:
            seen.append(await history.fetch(http, prometheus, namespace, "15m"))
        if seen[-1].error is not None:
            return False
        found = {s.chart.key: s for s in seen[-1].series}
        moved = (found["deliver"].latest or 0) > 0 and (found["ack"].latest or 0) > 0
        return found["depth"].latest == depth and len(found["depth"].points) >= 2 and moved

    await eventually(charted, timeout=90, what="depth, deliveries and acks in Prometheus")
    found = {s.chart.key: s for s in seen[-1].series}
    assert found["dead"].latest == 0
    # Counters that never moved are a line at zero, not a missing chart.
    assert found["emails_sent"].latest == 0
    assert all(s.points for s in found.values())


async def test_without_prometheus_the_history_says_why():
    async with aiohttp.ClientSession() as http:
        none = await history.fetch(http, "", "t", "1h")
        down = await history.fetch(http, _closed_url(), "t", "1h")
    assert none.error == "history unavailable: no Prometheus configured"
    assert down.error is not None
    assert down.error.startswith("history unavailable: cannot reach Prometheus")
    assert none.series == down.series == []


async def _console(
    service_env: dict[str, str], tmp_path: Path, prometheus_url: str, **more: str
) -> tuple[ServiceProcess, str]:
    port = free_port()
    env = {
        **service_env,
        **more,
        "PASSAPAROLA_CONSOLE_PORT": str(port),
        "PASSAPAROLA_CONSOLE_PASSWORD": PASSWORD,
        "PASSAPAROLA_CONSOLE_TARGETS": f"ingest={_closed_url()}",
        "PASSAPAROLA_PROMETHEUS_URL": prometheus_url,
    }
    process = ServiceProcess(
        ["-m", "services.console"], env, port, tmp_path / "console.log", operator_port=port
    )
    await process.start()
    return process, f"http://127.0.0.1:{port}"


@pytest.fixture
async def browser():
    assert HAVE_CHROMIUM, "no /usr/bin/chromium (deploy/local/bootstrap.sh installs it)"
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        await browser.close()


async def _sign_in(browser, console: str, viewport: dict[str, int]):
    page = await browser.new_page(viewport=viewport)
    await page.goto(f"{console}/login")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    assert page.url == f"{console}/"
    return page


async def _fits(page) -> None:
    """Nothing makes the page itself scroll sideways (tables scroll in their box)."""
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= await page.evaluate("window.innerWidth"), width


async def test_an_operator_sees_the_last_minutes_as_charts_on_a_desktop_and_a_phone(
    browser, prometheus, waiting, service_env, tmp_path, namespace
):
    process, console = await _console(service_env, tmp_path, prometheus)
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        page = await _sign_in(browser, console, DESKTOP)
        depth = page.locator("figure[data-chart=depth]")
        expected = f"{waiting.depth:.0f} messages"

        async def drawn() -> bool:
            await page.goto(f"{console}/?window=15m")
            if await depth.count() == 0:
                return False
            latest = (await depth.locator(".latest").inner_text()).strip()
            return latest == expected and await depth.locator("polyline").count() == 1

        await eventually(drawn, timeout=90, what="the depth chart with a line")
        assert await page.locator("figure.chart-card").count() == 10
        svg = depth.locator("svg[role=img]")
        assert (await svg.locator("title").text_content()) == "Queue depth"
        assert f"now {expected}" in (await svg.locator("desc").text_content() or "")
        assert await page.locator("nav.windows a[aria-current=page]").inner_text() == "15m"
        await page.screenshot(path=SHOTS / "history-desktop.png", full_page=True)

        await page.set_viewport_size(PHONE)
        await page.reload()
        await _fits(page)
        await page.screenshot(path=SHOTS / "history-375.png", full_page=True)

        await page.locator("header nav").get_by_role("link", name="Queues").click()
        assert page.url == f"{console}/queues"
        table = page.locator("table.queues")
        assert f"{namespace}.matcher.dlq" in await table.inner_text()
        await _fits(page)
        await page.screenshot(path=SHOTS / "queues-375.png", full_page=True)
        await page.set_viewport_size(DESKTOP)
        await page.screenshot(path=SHOTS / "queues-desktop.png", full_page=True)
    finally:
        process.kill()


async def test_the_keyboard_focus_stays_on_its_link_across_a_live_refresh(
    browser, waiting, service_env, tmp_path
):
    process, console = await _console(service_env, tmp_path, "")
    try:
        page = await _sign_in(browser, console, DESKTOP)
        await page.goto(f"{console}/queues")
        link = page.locator('#live a[href="/dlq/matcher"]').first
        await link.focus()
        # Marks the element now on the page: a refresh replaces it.
        await link.evaluate("el => el.setAttribute('data-before-refresh', '')")

        async def refreshed() -> bool:
            return await page.locator("#live [data-before-refresh]").count() == 0

        await eventually(refreshed, timeout=30, what="a live refresh of the queues")
        focused = await page.evaluate(
            "[document.activeElement.getAttribute('href'),"
            " document.getElementById('live').contains(document.activeElement)]"
        )
        assert focused == ["/dlq/matcher", True]
    finally:
        process.kill()


async def test_without_prometheus_the_page_says_so_and_shows_current_values(
    browser, waiting, service_env, tmp_path
):
    process, console = await _console(service_env, tmp_path, _closed_url())
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        page = await _sign_in(browser, console, PHONE)
        note = page.locator("#live [role=status]", has_text="history unavailable")
        assert "cannot reach Prometheus" in await note.inner_text()
        assert await page.locator("figure.chart-card").count() == 0
        current = page.locator("table.current")
        assert (
            f"{waiting.depth:.0f} messages"
            in await current.locator("tr", has_text="Queue depth").inner_text()
        )
        assert "Emails sent" in await current.inner_text()
        await _fits(page)
        await page.screenshot(path=SHOTS / "history-unavailable-375.png", full_page=True)
    finally:
        process.kill()


async def test_with_matcher_shards_each_shard_queue_and_its_dead_letters_are_listed(
    amqp, topology, service_env, tmp_path, namespace
):
    sharded = replace(topology, matcher_shards=2)
    await sharded.declare_all(await amqp.channel())
    process, console = await _console(service_env, tmp_path, "", PASSAPAROLA_MATCHER_SHARDS="2")
    try:
        # unsafe: keep the session cookie of a console addressed by IP.
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.post(f"{console}/login", data={"password": PASSWORD}) as resp:
                assert resp.status == 200  # the overview, after the redirect
            async with http.get(f"{console}/fragment/queues") as resp:
                assert resp.status == 200
                page = await resp.text()
            for shard in ("matcher.shard-0", "matcher.shard-1"):
                assert f"<code>{namespace}.{shard}.dlq</code>" in page
                assert f'href="/dlq/{shard}"' in page
                async with http.get(f"{console}/dlq/{shard}") as resp:
                    assert resp.status == 200
                    assert f"{namespace}.{shard}.dlq" in await resp.text()
            async with http.get(f"{console}/dlq/matcher.shard-9") as resp:
                assert resp.status == 404
    finally:
        process.kill()
