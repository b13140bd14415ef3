"""Where the local stack's servers keep their data (deploy/local/env.sh).

Started as root, PostgreSQL, RabbitMQ and Prometheus run as their own users,
which must be able to enter their data folder. A checkout under a private
folder (mode 700, like /root) used to fail in initdb with a bare "Permission
denied"; its servers' data now goes to a folder of its own under /var/tmp.
These tests copy the scripts into such a checkout and run them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / "deploy" / "local"
ROOTED = os.geteuid() == 0


def checkout(parent: Path) -> Path:
    """A copy of deploy/local/ inside ``parent``, as a clone there would have it."""
    scripts = parent / "clone" / "deploy" / "local"
    scripts.mkdir(parents=True)
    for name in ("env.sh", "postgres.sh"):
        shutil.copy2(LOCAL / name, scripts / name)
    return parent / "clone"


def bash(clone: Path, script: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PASSAPAROLA_")}
    return subprocess.run(
        ["bash", "-c", f"set -euo pipefail; source deploy/local/env.sh; {script}"],
        cwd=clone,
        env={**env, "STACK": "dev4"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def private(tmp_path: Path):
    folder = tmp_path / "home"
    folder.mkdir()
    folder.chmod(0o700)
    clone = checkout(folder)
    yield clone
    relocated = bash(clone, 'echo "$SERVER_VAR"').stdout.strip()
    if relocated.startswith("/var/tmp/passaparola-"):
        shutil.rmtree(Path(relocated).parent, ignore_errors=True)


def test_a_reachable_checkout_keeps_the_server_data_under_var():
    # /var/tmp and a folder made there with mode 755: enterable all the way.
    parent = Path(tempfile.mkdtemp(prefix="passaparola-test-", dir="/var/tmp"))
    try:
        parent.chmod(0o755)
        clone = checkout(parent)
        for folder in (clone, clone / "deploy", clone / "deploy" / "local"):
            folder.chmod(0o755)
        done = bash(clone, 'echo "$VAR|$SERVER_VAR"')
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"{clone}/var/dev4|{clone}/var/dev4"
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def test_a_private_checkout_puts_the_server_data_where_the_servers_can_reach_it(private):
    done = bash(private, 'echo "$VAR|$SERVER_VAR"')
    assert done.returncode == 0, done.stderr
    var, server_var = done.stdout.strip().split("|")
    assert var == str(private / "var" / "dev4")
    if not ROOTED:
        # Without root the servers run as this user, who can enter the folder.
        assert server_var == var
        return
    assert server_var.startswith("/var/tmp/passaparola-") and server_var.endswith("/dev4")
    # The real proof: the server user creates a cluster there, as postgres.sh does.
    made = bash(
        private,
        'server_folder postgres "$SERVER_VAR/postgres"; chown postgres "$SERVER_VAR/postgres";'
        " pg=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1);"
        ' runuser -u postgres -- "$pg/initdb" -D "$SERVER_VAR/postgres/data" -U probe'
        " --auth-local=trust -E UTF8 --locale=C.UTF-8 >/dev/null",
    )
    assert made.returncode == 0, made.stderr
    assert "cannot enter" in made.stderr and "PASSAPAROLA_SERVER_VAR" in made.stderr
    assert (Path(server_var) / "postgres" / "data" / "PG_VERSION").exists()


def test_a_chosen_folder_the_server_user_cannot_enter_is_refused_with_the_reason(private):
    if not ROOTED:
        done = bash(private, 'echo "$SERVER_VAR"')
        assert done.stdout.strip() == str(private / "var" / "dev4")
        return
    chosen = private / "servers"
    done = subprocess.run(
        ["bash", "-c", 'source deploy/local/env.sh; server_folder postgres "$SERVER_VAR/postgres"'],
        cwd=private,
        env={**os.environ, "STACK": "dev4", "PASSAPAROLA_SERVER_VAR": str(chosen)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "the postgres server user cannot enter" in done.stderr
    assert "PASSAPAROLA_SERVER_VAR" in done.stderr
    assert "Traceback" not in done.stderr
