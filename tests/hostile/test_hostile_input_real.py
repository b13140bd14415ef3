"""Hostile and careless input against the real services (issue 11): generated
values (hypothesis, derandomized) and a corpus of known-bad ones, in every
field of the webhook, the member API, the export endpoints, the members' link
pages and the console. Whatever comes in: no answer is a server error, every
refusal is a 4xx, and no problem body repeats what was sent."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.ingest import operators
from services.ingest.signing import sign
from tests.helpers import ServiceProcess, free_port
from tests.hostile.corpus import (
    DATES,
    IDS,
    NUMBERS,
    TEXTS,
    UNSTORABLE,
    hostile_date,
    hostile_id,
    hostile_number,
    hostile_text,
)
from tests.notifier.real import NotifierProcess, base_env

pytestmark = pytest.mark.real

HTTP = requests.Session()
EXAMPLES = settings(
    max_examples=120, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
MARK = "HOSTILE-MARK-"


@pytest.fixture
async def ingest(service_env, tmp_path, pool, settings):
    port = free_port()
    env = {
        **service_env,
        "PASSAPAROLA_INGEST_PORT": str(port),
        "PASSAPAROLA_LOG_LEVEL": "debug",
        "PASSAPAROLA_WEBHOOK_RATE_PER_S": "100000",
        "PASSAPAROLA_WEBHOOK_BURST": "10000",
    }
    process = ServiceProcess(["-m", "services.ingest"], env, port, tmp_path / "ingest.log")
    await process.start()
    company = await operators.add_company(pool, settings, "Hostile S.p.A.", [], None)
    token = (await operators.add_token(pool, "hostile"))["token"]
    yield {
        "base": f"http://127.0.0.1:{port}",
        "company": company,
        "token": token,
        "log": process.log,
    }
    process.kill()


def _posting(**fields: str) -> str:
    """A posting body whose listed fields hold raw JSON text (numbers as
    written, strings already quoted)."""
    base = {
        "external_id": json.dumps(f"h-{uuid.uuid4().hex[:12]}"),
        "title": json.dumps("Assistente di Direzione"),
        "location": json.dumps({"city": "Milano", "country": "IT"}),
        "salary": '{"min": 1, "max": 2, "currency": "EUR", "period": "YEAR"}',
    }
    base.update(fields)
    data = "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in base.items()) + "}"
    return '{"type": "job.created", "data": ' + data + "}"


def _webhook(target: dict[str, Any], body: str | bytes, **headers: str) -> requests.Response:
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    msg_id, ts = f"msg_{uuid.uuid4().hex}", int(time.time())
    company = target["company"]
    try:
        signature = sign(company["secret"], msg_id, ts, raw)
    except UnicodeDecodeError:
        signature = "v1,bm90IFVURi04"
    sent = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": signature,
        **headers,
    }
    url = f"{target['base']}/v1/hooks/{company['company_id']}"
    return HTTP.post(url, data=raw, headers=sent, timeout=30)


def _fine(response: requests.Response, *sent: str) -> None:
    """Not a server error; a refusal is problem+json that repeats nothing sent."""
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code >= 400:
        assert response.headers["Content-Type"].startswith("application/problem+json")
        for value in sent:
            if len(value) >= 6:
                assert value not in response.text


def _string(value: str) -> str:
    return json.dumps(value, ensure_ascii=True)  # lone surrogates survive as \\ud800


# --- company webhooks -------------------------------------------------------------------


def test_the_corpus_in_every_webhook_field_gets_no_server_error(ingest):
    for number in NUMBERS:
        salary = f'{{"min": {number}, "max": {number}, "currency": "EUR", "period": "YEAR"}}'
        _fine(_webhook(ingest, _posting(salary=salary)))
        _fine(_webhook(ingest, _posting(seniority=number)))
    for day in DATES:
        _fine(_webhook(ingest, _posting(valid_through=_string(day))))
    for text in [*TEXTS, *UNSTORABLE]:
        marked = MARK + text
        for field in ("title", "description", "external_id", "skills"):
            value = _string(marked) if field != "skills" else f"[{_string(marked)}]"
            _fine(_webhook(ingest, _posting(**{field: value})), marked)
        _fine(_webhook(ingest, _posting(**{_string(marked)[1:-1]: "1"})), marked)
    for webhook_id in IDS:
        try:
            response = _webhook(ingest, _posting(), **{"webhook-id": webhook_id})
        except (ValueError, UnicodeEncodeError):
            continue  # a value no HTTP client can put in a header
        _fine(response, webhook_id)
    for body in (
        b"\xff\xfe",
        b"[" * 50_000,
        b'{"type": "job.created", "data": ' + b"1" * 5000 + b"}",
    ):
        _fine(_webhook(ingest, body))


@given(number=hostile_number, day=hostile_date, text=hostile_text, external_id=hostile_id)
@EXAMPLES
def test_generated_webhooks_get_no_server_error(ingest, number, day, text, external_id):
    salary = f'{{"min": 0, "max": {number}, "currency": "EUR", "period": "YEAR"}}'
    body = _posting(
        salary=salary,
        valid_through=_string(day),
        title=_string(text),
        external_id=_string(external_id),
        skills=f"[{_string(text)}]",
    )
    _fine(_webhook(ingest, body))


# --- the member API and exports -----------------------------------------------------------


def _member(text: str, at: str = "2026-11-01T09:00:00+01:00") -> str:
    return (
        '{"consent": {"opted_in": true, "at": ' + _string(at) + ', "text_version": "v1"},'
        ' "language": "it", "email": "m@example.it", "name": ' + _string(text) + ","
        ' "current_employer": ' + _string(text) + "}"
    )


def _auth(target: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {target['token']}", "Content-Type": "application/json"}


def test_the_corpus_on_the_member_api_and_exports_gets_no_server_error(ingest):
    base, auth = ingest["base"], _auth(ingest)
    for external_id in [*IDS, "%00", "%ED%A0%80", "%FF", "x%2F..%2Fy"]:
        path = (
            external_id
            if "%" in external_id
            else quote(external_id, safe="", errors="surrogatepass")
        )
        for method, url in (
            ("PUT", f"{base}/v1/members/{path}"),
            ("DELETE", f"{base}/v1/members/{path}"),
            ("POST", f"{base}/v1/members/{path}/export"),
            ("GET", f"{base}/v1/exports/{path}"),
        ):
            body = _member("Giulia").encode() if method == "PUT" else None
            _fine(HTTP.request(method, url, data=body, headers=auth, timeout=30))
    for number in NUMBERS:
        text = _member("Giulia")[:-1] + ', "extra": ' + number + "}"
        _fine(HTTP.put(f"{base}/v1/members/m-1", data=text.encode(), headers=auth, timeout=30))
    for value in [*TEXTS, *UNSTORABLE]:
        raw = _member(MARK + value).encode("utf-8", "surrogatepass")
        _fine(HTTP.put(f"{base}/v1/members/m-2", data=raw, headers=auth, timeout=30), MARK + value)
    for day in ["0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59+14:00", "2026-13-01T00:00"]:
        raw = _member("Giulia", at=day).encode()
        _fine(HTTP.put(f"{base}/v1/members/m-3", data=raw, headers=auth, timeout=30))
    assert MARK not in ingest["log"].read_text()
    huge = {**auth, "Authorization": "Bearer " + "t" * 9000}
    response = HTTP.put(f"{base}/v1/members/m-4", data=b"{}", headers=huge, timeout=30)
    assert response.status_code == 431
    assert response.headers["Content-Type"].startswith("application/problem+json")


@given(text=hostile_text, external_id=hostile_id, at=hostile_date)
@EXAMPLES
def test_generated_member_profiles_get_no_server_error(ingest, text, external_id, at):
    raw = _member(text, at=at).encode("utf-8", "surrogatepass")
    url = (
        f"{ingest['base']}/v1/members/{quote(external_id or 'x', safe='', errors='surrogatepass')}"
    )
    _fine(HTTP.put(url, data=raw, headers=_auth(ingest), timeout=30))


# --- members' link pages and the console --------------------------------------------------


@pytest.fixture
async def notifier(service_env, tmp_path):
    process = NotifierProcess(base_env(service_env, free_port()), tmp_path / "notifier.log")
    await process.start()
    yield process.url
    process.stop()


LINK_PATHS = ["u", "p", "pause", "n", "f", "i", "x"]
PATH_VALUES = ["%00", "%ED%A0%80", "%FF%FE", "a" * 5000, "..%2F..%2F", "x.y.z", "%E2%80%AE"]


def test_the_corpus_on_the_link_pages_gets_no_server_error(notifier):
    for page in LINK_PATHS:
        for value in PATH_VALUES:
            url = f"{notifier}/{page}/{value}"
            for method in ("GET", "POST"):
                data = {"until": "9999-12-31", "form": "\x00", "reason": MARK + "\ud800"}
                form = {k: v.encode("utf-8", "surrogatepass") for k, v in data.items()}
                response = HTTP.request(method, url, data=form, timeout=30)
                assert response.status_code < 500, (page, value, method, response.status_code)
                assert MARK not in response.text


@given(token=st.text(max_size=400), until=hostile_date)
@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_generated_link_tokens_get_no_server_error(notifier, token, until):
    quoted = quote(token, safe="", errors="surrogatepass") or "x"
    response = HTTP.post(f"{notifier}/pause/{quoted}", data={"until": until}, timeout=30)
    assert response.status_code < 500


@pytest.fixture
async def console(service_env, tmp_path):
    port = free_port()
    env = {
        **service_env,
        "PASSAPAROLA_CONSOLE_PORT": str(port),
        "PASSAPAROLA_CONSOLE_PASSWORD": "hostile-console-password",
        "PASSAPAROLA_CONSOLE_TARGETS": f"ingest=http://127.0.0.1:{free_port()}",
    }
    process = ServiceProcess(
        ["-m", "services.console"], env, port, tmp_path / "console.log", operator_port=port
    )
    await process.start()
    yield f"http://127.0.0.1:{port}", process.log
    process.kill()


def test_the_corpus_on_the_console_gets_no_server_error(console):
    base, log = console
    anonymous = requests.Session()
    for cookie in ["\x00", "a" * 5000, "x.y", MARK + "." + "0" * 64]:
        anonymous.cookies.set("passaparola_console", cookie)
        response = anonymous.get(f"{base}/", allow_redirects=False, timeout=30)
        # To the sign-in page, or refused by the HTTP parser (NUL in a header).
        assert response.status_code in (303, 400), response.status_code
    for password in ["\x00", "\ud800", "p" * 100_000, MARK]:
        raw = {"password": password.encode("utf-8", "surrogatepass")}
        response = HTTP.post(f"{base}/login", data=raw, timeout=30)
        assert response.status_code in (401, 413, 429), response.status_code
    operator = requests.Session()
    signed_in = operator.post(
        f"{base}/login", data={"password": "hostile-console-password"}, timeout=30
    )
    assert signed_in.status_code in (200, 429)  # the guesses above may hold the address
    for value in PATH_VALUES:
        for path in (f"/dlq/{value}", f"/static/{value}", f"/fragment/{value}"):
            response = operator.get(base + path, timeout=30)
            assert response.status_code < 500, (path, response.status_code)
            assert MARK not in response.text
    assert MARK not in log.read_text()
