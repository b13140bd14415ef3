"""The console's charts (inline SVG drawn on the server) and the reading of
queue names, without servers."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from services.console import charts as draw
from services.console.history import WINDOWS, Chart, Series, charts, step_s
from services.console.overview import _classify

SVG = "{http://www.w3.org/2000/svg}"
CHART = Chart("depth", "Queue depth", "messages", "sum(x)")


def parse(markup: str) -> ET.Element:
    # Inline SVG in HTML needs no namespace; to parse it as XML it gets one.
    return ET.fromstring(  # noqa: S314 - our own output, not untrusted input
        str(markup).replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1)
    )


points = st.lists(
    st.tuples(
        st.integers(min_value=1_700_000_000, max_value=1_800_000_000),
        st.floats(min_value=0, max_value=1e9, allow_nan=False),
    ),
    max_size=200,
    unique_by=lambda p: p[0],
).map(lambda ps: sorted((float(at), v) for at, v in ps))


@given(points)
def test_a_chart_is_a_titled_image_whose_marks_stay_inside_it(ps):
    svg = parse(draw.line_chart(Series(CHART, ps), "6h", "c-depth"))
    assert svg.get("role") == "img"
    assert svg.get("aria-labelledby") == "c-depth-t c-depth-d"
    title, desc = svg.find(f"{SVG}title"), svg.find(f"{SVG}desc")
    assert title is not None and title.text == "Queue depth"
    assert desc is not None and desc.text is not None
    if ps:
        assert f"now {draw.number(ps[-1][1], 'messages')}" in desc.text
    else:
        assert desc.text.endswith("no data.")
    for line in svg.iter(f"{SVG}polyline"):
        for pair in (line.get("points") or "").split():
            x, y = (float(v) for v in pair.split(","))
            assert 0 <= x <= draw.WIDTH
            assert 0 <= y <= draw.HEIGHT
    assert len(list(svg.iter(f"{SVG}polyline"))) == (1 if len(ps) > 1 else 0)


def test_the_text_of_a_chart_is_escaped():
    chart = Chart("x", "<b>depth</b> & more", "/s", "q")
    markup = draw.line_chart(Series(chart, [(1.0, 2.0)]), "1h", "c-x")
    assert "<b>" not in markup
    assert "&lt;b&gt;depth&lt;/b&gt; &amp; more" in markup


def test_the_latest_value_reads_as_a_person_says_it():
    assert draw.number(None, "/s") == "no data"
    assert draw.number(3.0, "messages") == "3 messages"
    assert draw.number(0.25, "/s") == "0.2/s"
    assert draw.number(1234.5, "/min") == "1234/min"


def test_every_window_has_a_bounded_number_of_points_and_a_query_per_chart():
    for seconds in WINDOWS.values():
        assert seconds / step_s(seconds) <= 120
        made = charts("t1-a.b", seconds)
        assert {c.key for c in made} == {
            "depth", "dead", "publish", "deliver", "ack", "emails_sent", "emails_failed",
            "webhooks_accepted", "webhooks_refused", "matches",
        }  # fmt: skip
    depth = next(c for c in charts("t1-a.b", 3600) if c.key == "depth")
    # The namespace is a literal in the regular expression, not a pattern.
    assert 'queue=~"t1\\\\-a\\\\.b\\\\..+"' in depth.query


def test_shard_queues_and_their_retry_and_dead_letter_queues_are_told_apart():
    ns = "t1"
    assert _classify("t1.matcher", ns) == ("main", "matcher", "matcher")
    assert _classify("t1.matcher.shard-2", ns) == ("main", "matcher", "matcher.shard-2")
    assert _classify("t1.matcher.shard-2.dlq", ns) == ("dlq", "matcher", "matcher.shard-2")
    assert _classify("t1.matcher.shard-2.retry.1", ns) == ("retry", "matcher", "matcher.shard-2")
    assert _classify("t1.notifier.dlq", ns) == ("dlq", "notifier", "notifier")
    assert _classify("t1.unrouted", ns) == ("unrouted", "", "")
