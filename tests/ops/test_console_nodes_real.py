"""Node health in the console: RabbitMQ's alarms, memory, disk and open
connections, read from the real management API; said, not fatal, when the
API will not tell."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlsplit

import aiohttp
import pytest
from markupsafe import escape

from services.console import overview
from services.console.assets import environment
from services.console.overview import NodeHealth
from tests.helpers import eventually

pytestmark = pytest.mark.real


def live(**values: object) -> str:
    base: dict[str, object] = {
        "error": None, "namespace": "t", "updated": "00:00:00", "refresh_ms": 5000,
        "queues": [], "dead_letter_queues": [], "browsable": set(), "services": [],
        "throughput": {}, "window": "last hour", "nodes": [], "connections": None,
        "nodes_error": None,
    }  # fmt: skip
    return environment().get_template("live").render(**{**base, **values})


async def test_the_nodes_and_connections_come_from_the_management_api(settings, amqp):
    seen: list[tuple[list[NodeHealth], int | None, str | None]] = []

    async def counted() -> bool:
        # The management API lists a connection once its statistics were
        # collected (every few seconds), not the moment it opens.
        async with aiohttp.ClientSession() as http:
            seen.append(await overview.health(http, settings))
        return (seen[-1][1] or 0) >= 1

    await eventually(counted, timeout=60, what="this test's connection in the management API")
    nodes, connections, error = seen[-1]
    assert error is None
    assert nodes and all(n.running for n in nodes)
    assert not any(n.mem_alarm or n.disk_alarm for n in nodes)
    assert all(0 < n.mem_used < n.mem_limit for n in nodes)
    assert connections is not None and connections >= 1  # this test's own connection
    page = live(nodes=nodes, connections=connections)
    assert nodes[0].name in page
    assert f"{connections} connection(s)" in page
    assert "publishers blocked" not in page


async def test_a_refusing_api_is_said_and_the_rest_of_the_page_stands(settings):
    parts = urlsplit(settings.amqp_url)
    netloc = f"nobody:wrong@{parts.hostname}:{parts.port}"
    wrong = replace(settings, amqp_url=parts._replace(netloc=netloc).geturl())
    async with aiohttp.ClientSession() as http:
        nodes, connections, error = await overview.health(http, wrong)
    assert (nodes, connections) == ([], None)
    assert error is not None and "monitoring tag" in error
    assert str(escape(error)) in live(nodes_error=error)


def test_an_alarm_is_shown_as_blocking_publishers():
    node = NodeHealth("rabbit@a", True, True, False, 9_000_000_000, 8_000_000_000, 10**9, 5 * 10**7)
    page = live(nodes=[node])
    assert 'role="alert"' in page
    assert "memory alarm" in page and "disk alarm" not in page
    assert "9.0 GB of 8.0 GB" in page
