"""Hostile input: schemathesis generates thousands of requests from our own
OpenAPI document (valid and invalid ones), each signed as a company would
sign it, against the real ingest process. Zero server errors, zero responses
that break the document."""

from __future__ import annotations

import json
import time
import uuid
from urllib.parse import quote

import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core import NotSet
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from services.ingest import operators, service
from services.ingest.openapi import document
from services.ingest.signing import sign
from shared.service import Runtime
from tests.helpers import ServiceProcess, free_port

pytestmark = [pytest.mark.real, pytest.mark.slow]

schema = schemathesis.openapi.from_dict(document())
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
SESSION = requests.Session()


@pytest.fixture
async def target(service_env, tmp_path, pool, settings_):
    port = free_port()
    env = {
        **service_env,
        "PASSAPAROLA_INGEST_PORT": str(port),
        "PASSAPAROLA_LOG_LEVEL": "warning",
        "PASSAPAROLA_WEBHOOK_RATE_PER_S": "100000",
        "PASSAPAROLA_WEBHOOK_BURST": "10000",
    }
    process = ServiceProcess(["-m", "services.ingest"], env, port, tmp_path / "ingest.log")
    await process.start()
    company = await operators.add_company(pool, settings_, "Fuzz S.p.A.", [], None)
    token = (await operators.add_token(pool, "fuzz"))["token"]
    yield {
        "base": f"http://127.0.0.1:{port}",
        "company": company,
        "token": token,
        "log": process.log,
    }
    process.kill()


@pytest.fixture
def settings_(settings):
    return settings


def _send(case, target, session: requests.Session) -> requests.Response:
    """Serialise the generated body ourselves, so the signature covers the
    exact bytes sent; most requests go to the real company and token."""
    headers = {
        k: v
        for k, v in (case.headers or {}).items()
        if k.lower()
        not in (
            "webhook-id",
            "webhook-timestamp",
            "webhook-signature",
            "authorization",
            "content-type",
            "content-length",
        )
    }
    raw = case.body
    if raw is None or isinstance(raw, NotSet):
        body = b""
    elif isinstance(raw, bytes):
        body = raw
    elif isinstance(raw, str):
        body = raw.encode()
    else:
        body = json.dumps(raw).encode()
    path_params = dict(case.path_parameters or {})
    if case.method == "POST" and case.path.startswith("/v1/hooks/"):
        if path_params.get("company_id", "").count("-") == 4 and hash(body) % 5:
            path_params["company_id"] = target["company"]["company_id"]
        msg_id, ts = f"msg_{uuid.uuid4().hex}", int(time.time())
        try:
            signature = sign(target["company"]["secret"], msg_id, ts, body)
        except UnicodeDecodeError:
            signature = "v1,bm90IFVURi04"  # a body that is not UTF-8 cannot be signed as text
        headers.update(
            {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": signature}
        )
    else:
        headers["Authorization"] = f"Bearer {target['token']}"
    if body:
        headers["Content-Type"] = case.media_type or "application/json"
    path = case.path
    for name, value in path_params.items():
        path = path.replace("{" + name + "}", quote(str(value), safe=""))
    return session.request(
        case.method, target["base"] + path, data=body or None, headers=headers, timeout=30
    )


def test_every_operation_is_in_the_document(settings):
    """The fuzzing below covers what the document lists: every route of the
    ingest app must be there (the export endpoints once were not)."""
    app = web.Application()
    service.routes(app, Runtime("ingest", settings, None, None, None, None))  # type: ignore[arg-type]
    served = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }
    listed = {
        (method.upper(), path)
        for path, item in document()["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert served - {("GET", "/openapi.json")} == listed


# Per operation: with five operations, about 500 requests in all.
@schema.parametrize()
@settings(
    max_examples=100, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
def test_generated_requests_get_documented_answers_and_never_a_server_error(case, target):
    response = _send(case, target, SESSION)
    case.validate_response(response, checks=CHECKS)
