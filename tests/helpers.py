"""Small helpers shared by the real-server tests."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from shared.events import Envelope, Ping
from shared.publisher import Publisher

ROOT = Path(__file__).resolve().parents[1]
LOCAL = ROOT / "deploy" / "local"


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float = 20.0, what: str = "condition"
) -> None:
    """Wait for an asynchronous outcome; fail with ``what`` if it never comes.
    (A deadline for waiting, not a speed assertion.)"""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def ping(note: str = "ok") -> Envelope:
    return Envelope.wrap(Ping(ping_id=str(uuid.uuid4()), note=note), source="/tests")


async def publish_pings(publisher: Publisher, notes: list[str]) -> list[Envelope]:
    envelopes = [ping(n) for n in notes]
    for envelope in envelopes:
        await publisher.publish(envelope)
    return envelopes


# Ports below the kernel's ephemeral range (32768-60999 on Linux), which the
# local stacks' fixed ports avoid too. A port the kernel picked (bind to 0)
# comes from that range, and a client's outgoing connection (the services
# open many) can take it in the moment before the service binds it: the
# service then exits at start-up, a flake. Here only another test's server
# could, and a bind check plus the spread of the range makes that unlikely.
_TEST_PORTS = range(20000, 32000)
_pick = random.Random()
# Ports handed out and perhaps not bound yet: a test often asks for two (a
# service's public and operator ports) before its process binds either, and
# the bind check alone would hand out the same free port twice. Never again
# in this run, until most of the range has gone.
_given: set[int] = set()


def free_port() -> int:
    if len(_given) > len(_TEST_PORTS) * 2 // 3:
        _given.clear()
    for _ in range(500):
        port = _pick.choice(_TEST_PORTS)
        if port in _given:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _given.add(port)
        return port
    raise RuntimeError("no free port between 20000 and 32000")


OPERATOR_PORT_VARS = tuple(
    f"PASSAPAROLA_{name}_OPERATOR_PORT" for name in ("INGEST", "MATCHER", "NOTIFIER")
)


class ServiceProcess:
    """A service started as its own process (``python ARGS``), ready when its
    /readyz (on its operator port) says so; killed at the end of the test if
    still running. A process runs one service: every operator port variable
    gets the same free port, unless the test chose one (the console, which
    has no operator listener, passes its own port)."""

    def __init__(
        self,
        args: list[str],
        env: dict[str, str],
        port: int,
        log: Path,
        operator_port: int | None = None,
    ) -> None:
        self.args = args
        self.port = port
        self.operator_port = operator_port or free_port()
        self.env = {**env, **dict.fromkeys(OPERATOR_PORT_VARS, str(self.operator_port))}
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, *self.args],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            await eventually(self._ready, timeout=60, what=f"{self.args} to be ready")
        except BaseException:
            # A process that never got ready is no test's to clean up: without
            # this it outlives the run (seen after a broker failed to start).
            self.kill()
            raise

    async def is_ready(self) -> bool:
        """Whether /readyz answers 200 now (AssertionError if the process exited)."""
        return await self._ready()

    async def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.args} exited: {self.log.read_text()[-2000:]}")
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"http://127.0.0.1:{self.operator_port}/readyz") as resp,
            ):
                return resp.status == 200
        except aiohttp.ClientError:
            return False

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def wait(self, timeout: float = 30) -> int:
        assert self.proc is not None
        proc = self.proc
        return await asyncio.wait_for(asyncio.to_thread(proc.wait), timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@dataclass(frozen=True)
class Running:
    """Services started by ``the_three_services``: base URL by name, and the
    environment they run with (a command run beside them needs it too)."""

    url: dict[str, str]
    env: dict[str, str]


@asynccontextmanager
async def the_three_services(
    service_env: dict[str, str], logs: Path, **extra: str
) -> AsyncIterator[Running]:
    """Ingest, matcher and notifier as processes on free ports (``extra``:
    more settings), each log in ``logs``; killed on leaving."""
    ports = {name: free_port() for name in ("ingest", "matcher", "notifier")}
    env = {
        **service_env,
        "PASSAPAROLA_INGEST_PORT": str(ports["ingest"]),
        "PASSAPAROLA_MATCHER_PORT": str(ports["matcher"]),
        "PASSAPAROLA_NOTIFIER_PORT": str(ports["notifier"]),
        "PASSAPAROLA_PUBLIC_URL": f"http://127.0.0.1:{ports['notifier']}",
        **extra,
    }
    processes = [
        ServiceProcess(["-m", f"services.{name}"], env, port, logs / f"{name}.log")
        for name, port in ports.items()
    ]
    try:
        await asyncio.gather(*(p.start() for p in processes))
        yield Running({name: f"http://127.0.0.1:{port}" for name, port in ports.items()}, env)
    finally:
        for p in processes:
            p.kill()


def stack(script: str, action: str, stack_name: str) -> None:
    """Stop or start one server of a local stack (rabbitmq.sh, postgres.sh)."""
    subprocess.run(
        [str(LOCAL / script), action],
        check=True,
        env={**os.environ, "STACK": stack_name},
        capture_output=True,
    )
