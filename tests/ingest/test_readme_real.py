"""The README's signed curl request works as printed."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.real

README = Path(__file__).resolve().parents[2] / "README.md"


def snippet() -> str:
    text = README.read_text()
    block = re.search(
        r"<!-- readme-curl-start -->\n```sh\n(.*?)```\n<!-- readme-curl-end -->", text, re.S
    )
    assert block, "the README lost its curl example"
    return block[1]


async def test_the_readme_curl_example_is_accepted(client, company, pool):
    script = snippet().replace(
        "company=COMPANY_ID secret=whsec_...", f"company={company.id} secret={company.secret}"
    )
    url = str(client.make_url("")).rstrip("/")
    process = await asyncio.create_subprocess_exec(
        "bash",
        "-euo",
        "pipefail",
        "-c",
        script,
        env={"INGEST_URL": url, "PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    answer = json.loads(out)
    assert answer["outcome"] == "created"
    assert answer["external_id"] == "FB-2026-014"
    assert await pool.fetchval("SELECT count(*) FROM ingest.postings") == 1
