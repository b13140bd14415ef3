"""Plays the demo against the running local stack: onboards the demo
companies and members, then submits signed openings through the real webhook,
printing each request and answer as a company's developer would see them.

    .venv/bin/python -m deploy.demo.play      (make demo runs it)

Re-running it is safe: companies and the platform token are created once and
remembered under var/demo/; members and openings are idempotent upserts.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from deploy.demo.data import COMPANIES, MEMBERS, OPENINGS
from services.ingest.signing import sign

ROOT = Path(__file__).resolve().parents[2]
STATE = ROOT / "var" / "demo" / "demo-state.json"
BIN = str(ROOT / ".venv" / "bin" / "passaparola")


def passaparola(*args: str) -> dict[str, Any]:
    done = subprocess.run([BIN, *args, "--json"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"passaparola {' '.join(args)} failed: {done.stderr.strip()}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def onboard() -> dict[str, Any]:
    """Companies and the platform's token, made once; their secrets are shown
    only at creation, so the demo keeps them (0600) for its next run."""
    state: dict[str, Any] = json.loads(STATE.read_text()) if STATE.exists() else {}
    if state.get("database") != os.environ["PASSAPAROLA_DATABASE_URL"]:
        state = {"database": os.environ["PASSAPAROLA_DATABASE_URL"], "companies": {}}
    for company in COMPANIES:
        if company["key"] in state["companies"]:
            continue
        args = ["company", "add", company["name"], "--contact-email", company["contact_email"]]
        for alias in company["aliases"]:
            args += ["--alias", alias]
        if company["group"]:
            args += ["--group", company["group"]]
        state["companies"][company["key"]] = passaparola(*args)
        print(
            f"   onboarded {company['name']}: {state['companies'][company['key']]['webhook_url']}"
        )
    if "token" not in state:
        state["token"] = passaparola("token", "add", "demo community platform")["token"]
    STATE.parent.mkdir(parents=True, exist_ok=True)
    STATE.touch(mode=0o600)
    STATE.write_text(json.dumps(state, indent=2))
    return state


async def put_members(http: aiohttp.ClientSession, base: str, token: str) -> dict[str, str]:
    """Send every profile; return member id -> the platform's id (for display)."""
    counts: dict[str, int] = {}
    names: dict[str, str] = {}
    for member in MEMBERS:
        async with http.put(
            f"{base}/v1/members/{member['external_id']}",
            json=member["profile"],
            headers={"Authorization": f"Bearer {token}"},
        ) as response:
            answer = await response.json(content_type=None)
            if response.status >= 300:
                sys.exit(f"member {member['external_id']}: {response.status} {answer}")
            counts[answer["outcome"]] = counts.get(answer["outcome"], 0) + 1
            first, *rest = member["profile"]["name"].split()
            names[answer["member_id"]] = f"{member['external_id']} ({first} {rest[-1][0]}.)"
    summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
    print(f"   PUT /v1/members/{{id}} x {len(MEMBERS)}: {summary}")
    return names


async def post_openings(http: aiohttp.ClientSession, base: str, state: dict[str, Any]) -> None:
    for opening in OPENINGS:
        company = state["companies"][opening["company"]]
        body = json.dumps(
            {"type": opening["type"], "data": opening["data"]}, ensure_ascii=False
        ).encode()
        msg_id = f"msg_{uuid.uuid4().hex}"
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(company["secret"], msg_id, timestamp, body),
        }
        path = f"/v1/hooks/{company['company_id']}"
        print(f"\n   POST {path}")
        for name, value in headers.items():
            shown = value if name != "webhook-signature" else value[:18] + "..."
            print(f"     {name}: {shown}")
        print(
            f"     {opening['type']} {opening['data']['external_id']}: "
            f'"{opening["data"]["title"]}" ({len(body)} bytes)'
        )
        async with http.post(base + path, data=body, headers=headers) as response:
            answer = await response.json(content_type=None)
            print(f"   -> {response.status} {json.dumps(answer, ensure_ascii=False)}")


def explain_openings(names: dict[str, str]) -> None:
    """The operator's dry run for each opening: who fits and why, and which
    rule kept the others out (the own-employer rule among them)."""
    seen: set[str] = set()
    for opening in OPENINGS:
        data = opening["data"]
        if data["external_id"] in seen or opening["type"] == "job.closed":
            continue
        seen.add(data["external_id"])
        company = next(c for c in COMPANIES if c["key"] == opening["company"])
        location = data.get("location", {})
        posting = {
            "title": data["title"],
            "city": location.get("city"),
            "region": location.get("region"),
            "country": location.get("country"),
            "remote": data.get("remote", "no"),
            "languages_required": data.get("languages_required", []),
            "languages_nice": data.get("languages_nice", []),
            "skills": data.get("skills", []),
            "seniority": data.get("seniority"),
            "company_name": company["name"],
            "company_names": [
                company["name"],
                *company["aliases"],
                *([company["group"]] if company["group"] else []),
            ],
        }
        path = STATE.parent / "explain.json"
        path.write_text(json.dumps(posting, ensure_ascii=False))
        done = subprocess.run(
            [BIN, "match", "explain", str(path)], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            print(f"   {data['title']}: explain failed: {done.stderr.strip()}")
            continue
        result = json.loads(done.stdout)
        print(
            f'\n   "{data["title"]}" ({company["name"]}, {location.get("city")}): '
            f"{len(result['matches'])} fit"
        )
        for match in result["matches"]:
            why = match["explanation"]
            title = why.get("title", {})
            place = why.get("place", {})
            print(
                f"     {names.get(match['member_id'], match['member_id'])}  score "
                f"{match['score']:.2f}  role {title.get('member_role', '?')}, languages "
                f"{'+'.join(why.get('languages', {}).get('required', []))}, "
                f"{place.get('kind', '?')}"
            )
        rules = result.get("excluded_by_rule", {})
        if rules:
            print(
                "     kept out: " + ", ".join(f"{n} by {rule}" for rule, n in sorted(rules.items()))
            )


async def show_emails(http: aiohttp.ClientSession, sink: str) -> None:
    """Wait for the instant emails to settle in the sink, then list them."""
    count, stable = -1, 0
    for _ in range(60):
        async with http.get(f"{sink}/api/mails") as response:
            mails = await response.json()
        stable = stable + 1 if len(mails) == count else 0
        count = len(mails)
        if stable >= (3 if count else 20):
            break
        await asyncio.sleep(0.5)
    print(
        f"   {len(mails)} email(s) in the sink (instant members; daily and weekly members "
        "get a digest at 08:00 their time, quiet hours respected):"
    )
    for mail in mails[:12]:
        print(f'     to {mail["to"]:<32} subject "{mail["subject"]}"')
    if mails:
        print(
            f"   Read one: {sink}/mail/{mails[0]['id']}  (the subject says nothing about "
            "a job; the body names it and explains why it fits)"
        )


async def main() -> None:
    base = f"http://127.0.0.1:{os.environ['PASSAPAROLA_INGEST_PORT']}"
    print("\n== 2. Companies and the community's platform are onboarded ==")
    state = onboard()
    print(f"   {len(state['companies'])} companies, one platform token (kept in {STATE})")
    async with aiohttp.ClientSession() as http:
        print("\n== 3. The platform sends the members' profiles ==")
        names = await put_members(http, base, state["token"])
        print("\n== 4. Companies send signed openings to their webhooks ==")
        await post_openings(http, base, state)
        print("\n== 5. What the matcher decides (operator's dry run: passaparola match explain) ==")
        explain_openings(names)
        print("\n== 6. The emails members receive ==")
        sink = f"http://127.0.0.1:{os.environ.get('DEMO_SMTP_WEB_PORT', '8025')}"
        await show_emails(http, sink)


if __name__ == "__main__":
    asyncio.run(main())
