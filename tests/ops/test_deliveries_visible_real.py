"""A failed delivery is visible to an operator everywhere they look: the
notifier's /metrics (the gauge the alert reads), ``passaparola status`` and
the console's Deliveries page, all from a real notifier process."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid

import aiohttp
import pytest

from tests.helpers import ServiceProcess, eventually, free_port
from tests.notifier.real import base_env

pytestmark = pytest.mark.real

PASSWORD = "console-test-password"


async def _status(env: dict[str, str], *args: str) -> tuple[int | None, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli",
        "status",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode, out.decode(), err.decode()


async def test_a_failed_email_shows_in_metrics_status_and_the_console(service_env, pool, tmp_path):
    await pool.execute(
        "INSERT INTO notifier.emails (id, member_id, kind, state, attempts, reason,"
        " failing_since) VALUES ($1, 'm-x', 'instant', 'failed', 1, 'smtp refused', now())",
        uuid.uuid4(),
    )
    port = free_port()
    notifier = ServiceProcess(
        ["-m", "services.notifier"], base_env(service_env, port), port, tmp_path / "n.log"
    )
    await notifier.start()
    console_port = free_port()
    targets = f"notifier=http://127.0.0.1:{notifier.operator_port}"
    console = ServiceProcess(
        ["-m", "services.console"],
        {
            **service_env,
            "PASSAPAROLA_CONSOLE_PORT": str(console_port),
            "PASSAPAROLA_CONSOLE_PASSWORD": PASSWORD,
            "PASSAPAROLA_CONSOLE_TARGETS": targets,
        },
        console_port,
        tmp_path / "console.log",
        operator_port=console_port,  # the console is operator-only: one port
    )
    try:
        async with aiohttp.ClientSession() as http:

            async def measured() -> bool:
                async with http.get(f"http://127.0.0.1:{notifier.operator_port}/metrics") as resp:
                    text = await resp.text()
                return 'passaparola_deliveries{kind="email",state="failed"} 1.0' in text

            await eventually(measured, timeout=30, what="the failed email in the gauge")

        env = {**service_env, "PASSAPAROLA_CONSOLE_TARGETS": targets}
        code, out, err = await _status(env)
        assert code == 0, err
        assert "  notifier     email     failed      1" in out
        code, out, err = await _status(env, "--json")
        assert code == 0, err
        shown = json.loads(out)["deliveries"]
        assert {"service": "notifier", "kind": "email", "state": "failed", "count": 1} in shown

        await console.start()
        base = f"http://127.0.0.1:{console_port}"
        # unsafe: the default jar keeps no cookie for an IP address host.
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.get(f"{base}/deliveries", allow_redirects=False) as resp:
                assert resp.status == 303, "the page is for signed-in operators only"
            async with http.post(f"{base}/login", data={"password": PASSWORD}) as resp:
                assert resp.status == 200
            async with http.get(f"{base}/deliveries") as resp:
                assert resp.status == 200
                page = await resp.text()
        assert "<td>notifier</td><td>email</td>" in page
        assert '<span class="badge bad">1</span>' in page
    finally:
        console.kill()
        notifier.kill()
