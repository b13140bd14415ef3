"""The supervisor of background tasks, in one event loop (no servers needed):
a crash is counted, logged by class and restarted; a finished job is done; a
stop ends everything; readiness names the task that is down."""

from __future__ import annotations

import asyncio

import pytest
import structlog

from shared import metrics
from shared.supervisor import Supervisor, TaskDown, task_name
from tests.helpers import eventually


def crashes(name: str) -> float:
    value = metrics.REGISTRY.get_sample_value("passaparola_task_crashes_total", {"task": name})
    return value or 0.0


def up(name: str) -> float | None:
    return metrics.REGISTRY.get_sample_value("passaparola_task_up", {"task": name})


async def test_a_crashing_job_is_logged_counted_and_restarted_with_back_off():
    stop = asyncio.Event()
    runs: list[int] = []
    secret = "Maria Rossi <maria@example.org>"

    async def job(stop: asyncio.Event) -> None:
        runs.append(1)
        if len(runs) <= 2:
            raise ValueError(secret)  # a message quoting a record
        await stop.wait()

    supervisor = Supervisor(stop, (10, 20))
    with structlog.testing.capture_logs() as logged:
        supervisor.start("sup_crash", job)
        await eventually(lambda: _true(len(runs) == 3), what="the third run")
        await eventually(lambda: _true(up("sup_crash") == 1.0), what="the task up again")
    assert supervisor.crashes("sup_crash") == 2
    assert crashes("sup_crash") == 2
    crashed = [e for e in logged if e["event"] == "task crashed"]
    assert [e["restart_in_ms"] for e in crashed] == [10, 20]
    assert {e["task"] for e in crashed} == {"sup_crash"}
    assert {e["error"] for e in crashed} == {"ValueError"}
    assert secret not in repr(logged)
    stop.set()
    await asyncio.wait_for(supervisor.wait(), 10)


async def test_a_task_down_fails_its_readiness_check_until_it_runs_again():
    stop = asyncio.Event()
    healthy = asyncio.Event()
    attempts: list[int] = []

    async def job(stop: asyncio.Event) -> None:
        attempts.append(1)
        if not healthy.is_set():
            raise RuntimeError("down")
        await stop.wait()

    supervisor = Supervisor(stop, (50,))
    supervisor.start("sup_down", job)
    check = supervisor.check("sup_down")
    await eventually(lambda: _true(bool(attempts) and supervisor.down() == ["sup_down"]))
    with pytest.raises(TaskDown, match="sup_down"):
        await check()
    assert up("sup_down") == 0.0
    healthy.set()

    async def passes() -> bool:
        try:
            await check()
        except TaskDown:
            return False
        return True

    await eventually(passes, what="the task to run again")
    assert supervisor.down() == []
    stop.set()
    await asyncio.wait_for(supervisor.wait(), 10)


async def test_an_injected_crash_restarts_a_healthy_task():
    stop = asyncio.Event()
    runs: list[int] = []

    async def job(stop: asyncio.Event) -> None:
        runs.append(1)
        await stop.wait()

    supervisor = Supervisor(stop, (10,))
    supervisor.start("sup_drill", job)
    await eventually(lambda: _true(len(runs) == 1))
    with structlog.testing.capture_logs() as logged:
        assert supervisor.crash("sup_drill") == ["sup_drill"]
        await eventually(lambda: _true(len(runs) == 2), what="the restart")
    assert supervisor.crashes("sup_drill") == 1
    assert [e["error"] for e in logged if e["event"] == "task crashed"] == ["InjectedCrash"]
    stop.set()
    await asyncio.wait_for(supervisor.wait(), 10)


async def test_a_one_shot_job_that_returns_is_done_not_down():
    stop = asyncio.Event()

    async def job(stop: asyncio.Event) -> None:
        return None

    supervisor = Supervisor(stop, (10,))
    supervisor.start("sup_once", job)
    await eventually(lambda: _true(up("sup_once") == 1.0 and supervisor.down() == []))
    await supervisor.check("sup_once")()
    await asyncio.wait_for(supervisor.wait(), 10)  # ended without a stop
    assert supervisor.crashes("sup_once") == 0


async def test_stop_ends_a_task_waiting_for_its_restart_at_once():
    stop = asyncio.Event()
    started = asyncio.Event()

    async def job(stop: asyncio.Event) -> None:
        started.set()
        raise RuntimeError("always")

    supervisor = Supervisor(stop, (3_600_000,))  # an hour: only the stop can end the wait
    supervisor.start("sup_stop", job)
    await started.wait()
    stop.set()
    await asyncio.wait_for(supervisor.wait(), 10)


async def test_cancel_reaches_a_job_that_ignores_the_stop():
    stop = asyncio.Event()
    cancelled = asyncio.Event()

    async def job(stop: asyncio.Event) -> None:
        try:
            await asyncio.Event().wait()  # never looks at stop
        finally:
            cancelled.set()

    supervisor = Supervisor(stop, (10,))
    supervisor.start("sup_stuck", job)
    await eventually(lambda: _true(up("sup_stuck") == 1.0))
    stop.set()
    supervisor.cancel()
    await asyncio.wait_for(supervisor.wait(), 10)
    assert cancelled.is_set()
    assert supervisor.crashes("sup_stuck") == 0


def test_names_are_code_names():
    supervisor = Supervisor(asyncio.Event(), (10,))
    with pytest.raises(ValueError, match="code name"):
        supervisor.start("Maria Rossi", _never)


async def test_a_name_is_supervised_once():
    stop = asyncio.Event()
    supervisor = Supervisor(stop, (10,))
    supervisor.start("sup_twice", _never)
    with pytest.raises(ValueError, match="already"):
        supervisor.start("sup_twice", _never)
    stop.set()
    await asyncio.wait_for(supervisor.wait(), 10)


def test_task_names_of_the_services_jobs():
    from services.console.views import sample_throughput
    from services.ingest.service import SPEC as INGEST
    from services.matcher.service import SPEC as MATCHER
    from services.notifier.service import SPEC as NOTIFIER
    from shared.retention import scheduled

    assert task_name(scheduled(lambda conn, settings: _nothing())) == "retention"
    assert task_name(sample_throughput) == "sample_throughput"
    for spec in (INGEST, MATCHER, NOTIFIER):
        names = [task_name(job) for job in spec.background]
        assert len(set(names)) == len(names), spec.name
        for name in names:
            metrics.code_name(name)


async def _never(stop: asyncio.Event) -> None:
    await stop.wait()


async def _nothing() -> dict[str, int]:
    return {}


async def _true(value: bool) -> bool:
    return value
