from datetime import UTC, datetime, timedelta

import pytest

from services.ingest.postings import Current, decide

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
EARLIER, LATER = T0 - timedelta(minutes=1), T0 + timedelta(minutes=1)
DATA = {"external_id": "ea-1", "title": "Executive Assistant", "location": {"country": "IT"}}
OPEN = Current(revision=2, status="open", data=DATA, source_time=T0)
CLOSED = Current(revision=3, status="closed", data=DATA, source_time=T0)


@pytest.mark.parametrize(
    ("current", "event", "data", "when", "outcome", "published", "revision", "status"),
    [
        (None, "job.created", DATA, T0, "created", "job.created", 1, "open"),
        (None, "job.updated", DATA, T0, "created", "job.created", 1, "open"),
        (None, "job.closed", {"external_id": "ea-1"}, T0, "closed_unknown", None, 1, "closed"),
        (OPEN, "job.updated", {**DATA, "title": "EA"}, LATER, "updated", "job.updated", 3, "open"),
        (OPEN, "job.created", {**DATA, "title": "EA"}, LATER, "updated", "job.updated", 3, "open"),
        (OPEN, "job.updated", DATA, LATER, "unchanged", None, 2, "open"),
        (OPEN, "job.updated", {**DATA, "title": "EA"}, EARLIER, "stale", None, 2, "open"),
        (OPEN, "job.closed", {"external_id": "ea-1"}, LATER, "closed", "job.closed", 3, "closed"),
        (OPEN, "job.closed", {"external_id": "ea-1"}, EARLIER, "stale", None, 2, "open"),
        (CLOSED, "job.created", DATA, EARLIER, "stale", None, 3, "closed"),
        (CLOSED, "job.updated", DATA, LATER, "conflict_closed", None, 3, "closed"),
        (CLOSED, "job.closed", {"external_id": "ea-1"}, LATER, "already_closed", None, 3, "closed"),
    ],
)
def test_each_delivery_order_has_a_defined_outcome(
    current, event, data, when, outcome, published, revision, status
):
    decision = decide(current, event, data, when)
    assert (decision.outcome, decision.event, decision.revision, decision.status) == (
        outcome,
        published,
        revision,
        status,
    )


def test_same_second_deliveries_apply_in_arrival_order():
    decision = decide(OPEN, "job.updated", {**DATA, "title": "PA"}, T0)
    assert decision.outcome == "updated"
