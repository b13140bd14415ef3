"""``passaparola status`` against the real broker, and its named error."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from shared.topology import MATCHER

pytestmark = pytest.mark.real


def status(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "status", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_status_shows_queues_consumers_and_dead_letters(service_env, amqp, topology):
    channel = await amqp.channel()
    await topology.declare_queue(channel, MATCHER)
    result = status(service_env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"{topology.queue(MATCHER)} " in out
    assert "<- no consumer" in out
    assert f"  {topology.dead_letter_queue(MATCHER)} " in out
    assert "outbox:" in out

    machine = json.loads(status(service_env, "--json").stdout)
    names = {q["name"]: q for q in machine["queues"]}
    assert names[topology.queue(MATCHER)]["consumers"] == 0
    assert names[topology.dead_letter_queue(MATCHER)]["kind"] == "dlq"
    assert machine["dead_letters"] == 0


def test_an_unreachable_management_api_is_a_named_error_with_exit_69(service_env):
    from tests.helpers import free_port

    env = {
        **service_env,
        "PASSAPAROLA_RABBITMQ_MANAGEMENT_URL": f"http://127.0.0.1:{free_port()}",
    }
    result = status(env)
    assert result.returncode == 69
    assert result.stderr.startswith("passaparola: BrokerUnavailable: cannot reach RabbitMQ")
    assert "Traceback" not in result.stderr


def test_the_console_refuses_to_start_without_its_password(service_env):
    env = {k: v for k, v in service_env.items() if k != "PASSAPAROLA_CONSOLE_PASSWORD"}
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", "console"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 78
    assert "PASSAPAROLA_CONSOLE_PASSWORD is missing" in result.stderr
