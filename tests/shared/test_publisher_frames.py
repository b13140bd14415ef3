"""The relay's frames are written by hand; they must be, byte for byte, the
frames aiormq's ``basic_publish`` marshals with pamqp for the same message."""

from __future__ import annotations

import pytest
from aiormq.abc import ChannelFrame
from hypothesis import given
from hypothesis import strategies as st
from pamqp import commands as spec
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

from shared.publisher import Outgoing, _wire, to_message
from shared.topology import event_type

KEYS = st.sampled_from(["job.created", "job.closed", "member.changed.7", "match.found.0"])
# Exchange names as AMQP allows them (pamqp checks), of the namespaced kind.
EXCHANGES = st.from_regex(r"[a-z0-9_.:-]{0,100}", fullmatch=True)
IDS = st.text(st.characters(exclude_categories=["Cs"]), max_size=60)
MESSAGES = st.builds(
    Outgoing,
    body=st.binary(max_size=300) | st.sampled_from([b"", b"x" * 999, b"y" * 1000, b"z" * 2500]),
    event_id=IDS,
    key=KEYS,
)


def pamqp_frames(channel: int, exchange: str, part: list[Outgoing], max_content: int) -> bytes:
    """What basic_publish writes for each message, one after the other, with
    the properties a batch has always sent (those of ``to_message`` that are
    the event's: aio-pika adds a priority of 0 and an empty cluster id)."""
    frames: list[object] = []
    for body, event_id, key in part:
        message = to_message(body, event_id, event_type(key))
        properties = spec.Basic.Properties(
            content_type=message.content_type,
            delivery_mode=message.delivery_mode.value,
            headers={},
            message_id=message.message_id,
            message_type=message.type,
        )
        frames.append(spec.Basic.Publish(exchange=exchange, routing_key=key, mandatory=True))
        frames.append(ContentHeader(properties=properties, body_size=len(body)))
        # aiormq's _split_body: one frame below the limit, else chunks of it.
        if body and len(body) < max_content:
            frames.append(ContentBody(body))
        elif body:
            frames.extend(
                ContentBody(body[i : i + max_content]) for i in range(0, len(body), max_content)
            )
    return ChannelFrame.marshall(channel_number=channel, frames=frames).payload  # type: ignore[arg-type]


@given(
    channel=st.integers(1, 2047),
    exchange=EXCHANGES,
    part=st.lists(MESSAGES, max_size=5),
    max_content=st.sampled_from([1000, 4096, 131_064]),
)
def test_the_frames_are_pamqps_byte_for_byte(channel, exchange, part, max_content):
    assert _wire(channel, exchange, part, max_content) == pamqp_frames(
        channel, exchange, part, max_content
    )


def test_a_name_too_long_for_amqp_is_refused():
    with pytest.raises(ValueError, match="255 bytes"):
        _wire(1, "events", [Outgoing(b"{}", "é" * 128, "job.created")], 4096)
