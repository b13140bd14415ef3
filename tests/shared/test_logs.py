"""Personal data never reaches the log: canary values through every path."""

import io
import json
import logging

import pytest

from shared import logs

CANARY_EMAIL = "giulia.canary@example.it"
CANARY_NAME = "Giulia Canarino"
CANARY_PHONES = ["+39 333 123 4567", "070-123 45 67", "0046 8 123 456 78", "02 1234 5678"]


@pytest.fixture
def stream():
    out = io.StringIO()
    logs.configure("debug", "json", stream=out)
    yield out
    logs.configure("info", "json")


def lines(stream):
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def assert_clean(text):
    for canary in [CANARY_EMAIL, CANARY_NAME, *CANARY_PHONES, "Canarino"]:
        assert canary not in text


def test_fields_named_for_personal_data_are_redacted(stream):
    logs.get_logger("t").info(
        "member saved",
        email=CANARY_EMAIL,
        name=CANARY_NAME,
        phone=CANARY_PHONES[0],
        member_id="m-1",
    )
    (line,) = lines(stream)
    assert line["member_id"] == "m-1"
    assert line["email"] == line["name"] == line["phone"] == logs.REDACTED
    assert_clean(stream.getvalue())


@pytest.mark.parametrize("phone", CANARY_PHONES)
def test_emails_and_phones_are_found_inside_any_text(stream, phone):
    logs.get_logger("t").warning(
        f"could not deliver to {CANARY_EMAIL}, call {phone}",
        detail={"nested": [f"again {CANARY_EMAIL}"]},
    )
    assert_clean(stream.getvalue())
    assert logs.REDACTED in stream.getvalue()


def test_registered_names_are_removed_even_from_tracebacks(stream):
    log = logs.get_logger("t")
    with logs.sensitive(CANARY_NAME, CANARY_EMAIL):
        try:
            raise ValueError(f"duplicate key (name)=({CANARY_NAME}) for {CANARY_EMAIL}")
        except ValueError:
            log.exception("insert failed")
    assert_clean(stream.getvalue())
    assert "ValueError" in stream.getvalue()


def test_standard_library_loggers_are_rendered_and_redacted_too(stream):
    logging.getLogger("asyncpg.pool").warning("connection for %s lost", CANARY_EMAIL)
    (line,) = lines(stream)
    assert line["logger"] == "asyncpg.pool"
    assert line["level"] == "warning"
    assert_clean(stream.getvalue())


def test_sensitive_values_apply_only_inside_their_block(stream):
    with logs.sensitive(CANARY_NAME):
        pass
    logs.get_logger("t").info("hello", greeting=f"Ciao {CANARY_NAME}")
    assert CANARY_NAME in stream.getvalue()


@pytest.mark.parametrize(
    "harmless",
    [
        "2026-11-23",
        "2026-11-23T07:53:07Z",
        "127.0.0.1",
        "8c0f5b7e-2a41-4c5e-9a1d-1f2e3d4c5b6a",
        "posting 12345",
        "took 1500 ms",
    ],
)
def test_dates_ids_and_numbers_are_left_alone(stream, harmless):
    logs.get_logger("t").info("event", value=harmless)
    assert lines(stream)[0]["value"] == harmless


def test_context_is_bound_per_unit_of_work(stream):
    log = logs.get_logger("t")
    logs.bind(event_id="e1")
    log.info("one")
    logs.bind(event_id="e2")
    log.info("two")
    first, second = lines(stream)
    assert (first["event_id"], second["event_id"]) == ("e1", "e2")


def test_ids_added_to_a_unit_of_work_keep_what_it_started_with(stream):
    log = logs.get_logger("t")
    logs.bind(route="/v1/hooks/{company_id}")
    logs.bind_more(company_id="c-1")
    log.info("one")
    logs.bind(route="/v1/members/{external_id}")
    log.info("two")
    first, second = lines(stream)
    assert (first["route"], first["company_id"]) == ("/v1/hooks/{company_id}", "c-1")
    assert "company_id" not in second
