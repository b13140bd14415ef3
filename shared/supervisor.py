"""One supervisor for every long-lived task of a process.

A service's background jobs (the outbox relay, the sender, the planners,
deliveries, retention, the index build) each run as a named task under a
``Supervisor``. What a job does when it fails is decided here, once:

- an unexpected exception is logged with the task's name and the error's
  class (never its message: a message can quote a record, and a record can
  hold a name or an address), counted in ``passaparola_task_crashes_total``,
  and the job is started again after a back-off taken from the settings
  (``PASSAPAROLA_TASK_RESTART_DELAYS_MS``; the last delay repeats);
- while a task is down, ``passaparola_task_up{task}`` is 0 and its readiness
  check fails, so ``/readyz`` names it and an alert fires;
- a job that returns while the process is not stopping is done (a one-shot
  start-up job such as the index build), not crashed;
- on stop, every job sees the stop event and ends on its own; the caller
  bounds how long it waits (``shared.service``).

A job that has run for longer than the longest delay without failing starts
its back-off from the first delay again: a crash a day is not a crash loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from shared import logs, metrics

log = logs.get_logger(__name__)

Job = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


class TaskDown(Exception):
    """A supervised task is not running (it crashed and waits for its restart)."""


class InjectedCrash(Exception):
    """A crash asked for by an operator or a test (``Supervisor.crash``), to
    prove that a task comes back; never raised by the code on its own."""


@dataclass
class _Task:
    name: str
    job: Job
    up: bool = False
    done: bool = False
    crashes: int = 0
    runner: asyncio.Task[None] | None = None
    current: asyncio.Task[None] | None = field(default=None, repr=False)
    injected: bool = False


class Supervisor:
    def __init__(
        self,
        stop: asyncio.Event,
        delays_ms: tuple[int, ...],
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if not delays_ms:
            raise ValueError("at least one restart delay is needed")
        self.stop = stop
        self.delays_ms = delays_ms
        self._clock = clock
        self._tasks: dict[str, _Task] = {}

    # --- starting and stopping ---

    def start(self, name: str, job: Job) -> None:
        """Run ``job(stop)`` as the task ``name``, restarted whenever it fails."""
        metrics.code_name(name)
        if name in self._tasks:
            raise ValueError(f"a task named {name!r} is already supervised")
        task = _Task(name, job)
        self._tasks[name] = task
        metrics.prepare_task(name)
        task.runner = asyncio.create_task(self._keep_running(task), name=f"supervised:{name}")

    async def wait(self) -> None:
        """Until every task has ended (after ``stop`` was set)."""
        runners = [t.runner for t in self._tasks.values() if t.runner is not None]
        await asyncio.gather(*runners, return_exceptions=True)

    def cancel(self) -> None:
        """Cancel what did not end in time on stop."""
        for task in self._tasks.values():
            if task.runner is not None:
                task.runner.cancel()

    # --- what the readiness checks and the operators see ---

    @property
    def names(self) -> list[str]:
        return list(self._tasks)

    def down(self) -> list[str]:
        """The tasks that are not running and should be."""
        return [t.name for t in self._tasks.values() if not t.up and not t.done]

    def check(self, name: str) -> Callable[[], Coroutine[Any, Any, None]]:
        """A readiness check that fails while the task ``name`` is down."""

        async def running() -> None:
            task = self._tasks[name]
            if not task.up and not task.done:
                raise TaskDown(name)

        return running

    def crashes(self, name: str) -> int:
        return self._tasks[name].crashes

    def crash(self, name: str | None = None) -> list[str]:
        """Make one task (or every running task) fail once, as a crash would:
        the chaos suite and an operator's drill use it to prove recovery."""
        hit: list[str] = []
        for task in self._tasks.values():
            current = task.current
            if (name is None or task.name == name) and current is not None and not current.done():
                task.injected = True
                current.cancel()
                hit.append(task.name)
        log.warning("tasks made to crash", tasks=hit)
        return hit

    # --- the loop around one job ---

    async def _keep_running(self, task: _Task) -> None:
        loop = asyncio.get_running_loop()
        clock = self._clock or loop.time
        failures = 0
        while not self.stop.is_set():
            started = clock()
            current = asyncio.create_task(task.job(self.stop), name=f"job:{task.name}")
            task.current = current
            self._mark(task, up=True)
            try:
                # Shielded: cancelling the job (an injected crash) must not
                # cancel this loop, which decides what the cancellation means.
                await asyncio.shield(current)
            except asyncio.CancelledError:
                this = asyncio.current_task()
                if this is not None and this.cancelling():
                    # The supervisor itself is cancelled: pass it on to the job.
                    current.cancel()
                    with contextlib.suppress(BaseException):
                        await current
                    self._mark(task, up=False)
                    raise
                error = InjectedCrash.__name__ if task.injected else "CancelledError"
                task.injected = False
            except Exception as exc:
                error = type(exc).__name__
            except BaseException:
                # SystemExit and the like end the process, not just this task:
                # it is down, said so, and the exception goes on its way.
                self._mark(task, up=False)
                raise
            else:
                if not self.stop.is_set():
                    log.info("task finished", task=task.name)
                task.done = True
                self._mark(task, up=False)
                return
            finally:
                task.current = None
            if self.stop.is_set():
                self._mark(task, up=False)
                return
            if clock() - started > max(self.delays_ms) / 1000:
                failures = 0
            delay_ms = self.delays_ms[min(failures, len(self.delays_ms) - 1)]
            failures += 1
            task.crashes += 1
            self._mark(task, up=False)
            metrics.observe_task_crash(task.name)
            # The class only: the message may quote the record that failed.
            log.error("task crashed", task=task.name, error=error, restart_in_ms=delay_ms)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout=delay_ms / 1000)
        self._mark(task, up=False)

    def _mark(self, task: _Task, *, up: bool) -> None:
        task.up = up
        metrics.set_task_up(task.name, up or task.done)


def task_name(job: Callable[..., Any]) -> str:
    """The name a background job is supervised under: its ``task_name``
    attribute if it has one, else its module's last part (``sender`` for
    ``services.notifier.sender.run``), else its function name without a
    leading ``run_`` (``forwards`` for ``consent.run_forwards``)."""
    given = getattr(job, "task_name", None)
    if isinstance(given, str):
        return given
    function = getattr(job, "__name__", "job")
    if function == "run":
        return str(getattr(job, "__module__", "job")).rsplit(".", 1)[-1]
    return function.removeprefix("run_")
