"""The metrics module on its own: fixed label sets, the webhook counter."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from shared import metrics
from shared.http import Problem, problem_middleware


def count(status: str, reason: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "passaparola_webhook_requests_total", {"status": status, "reason": reason}
    )
    return value or 0.0


@pytest.mark.parametrize(("outcome", "kind"), [("sent", "x"), ("someone@example.it", "instant")])
def test_a_label_outside_its_fixed_set_is_refused(outcome, kind):
    with pytest.raises(ValueError, match="not one of"):
        metrics.observe_email(outcome, kind)


def test_names_from_input_are_refused_as_queue_labels():
    with pytest.raises(ValueError, match="not a code name"):
        metrics.observe_consumed("Mario Rossi <m@example.it>", "ok", 0.1)
    with pytest.raises(ValueError, match="not one of"):
        metrics.observe_consumed("matcher", "weird", 0.1)
    with pytest.raises(ValueError, match="not one of"):
        metrics.observe_referral("maybe")


def test_exported_names_have_the_suffixes_prometheus_adds():
    names = metrics.exported_names()
    assert "passaparola_webhook_requests_total" in names
    assert "passaparola_handler_duration_seconds_bucket" in names
    assert "passaparola_outbox_oldest_age_seconds" in names
    assert "passaparola_webhook_requests" not in names


async def test_the_webhook_view_counts_every_answer_errors_included():
    async def view(request: web.Request) -> web.Response:
        kind = request.query.get("kind")
        if kind == "unsigned":
            raise Problem(401, "Unauthorized", "bad signature")
        if kind == "crash":
            raise RuntimeError("bug")
        if kind == "replay":
            return web.json_response({}, status=202, headers={"Idempotent-Replayed": "true"})
        if kind == "huge":
            raise web.HTTPRequestEntityTooLarge(max_size=1, actual_size=2)
        return web.json_response({}, status=202)

    app = web.Application(middlewares=[problem_middleware])
    app.router.add_post("/hook", metrics.observed_webhook(view))
    before = {
        key: count(*key)
        for key in [
            ("202", "accepted"),
            ("401", "signature"),
            ("500", "error"),
            ("200", "replayed"),
            ("202", "replayed"),
            ("413", "too_large"),
        ]
    }
    async with TestClient(TestServer(app)) as client:
        for kind, status in [
            ("", 202),
            ("unsigned", 401),
            ("crash", 500),
            ("replay", 202),
            ("huge", 413),
        ]:
            resp = await client.post(f"/hook?kind={kind}")
            assert resp.status == status
    assert count("202", "accepted") == before[("202", "accepted")] + 1
    assert count("401", "signature") == before[("401", "signature")] + 1
    assert count("500", "error") == before[("500", "error")] + 1
    assert count("202", "replayed") == before[("202", "replayed")] + 1
    assert count("413", "too_large") == before[("413", "too_large")] + 1


async def test_metrics_view_serves_the_text_format():
    app = web.Application()
    metrics.metrics_route(app)
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/metrics")
        assert resp.status == 200
        assert resp.content_type == "text/plain"
        text = await resp.text()
    assert "# TYPE passaparola_events_consumed_total counter" in text
    assert "# TYPE passaparola_handler_duration_seconds histogram" in text
