"""Which messages one ``multiple`` ack may settle (shared/consumer.covering):
exactly a batch's, never one still in hand elsewhere."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from shared.consumer import covering


class FakeChannel:
    """Only its identity matters: delivery tags count per channel."""


CHANNELS = (FakeChannel(), FakeChannel())


@st.composite
def in_hand(draw: Any) -> tuple[set[Any], list[Any]]:
    """Messages in hand on two channels, and a batch drawn from them."""
    tags = draw(
        st.sets(st.tuples(st.sampled_from((0, 1)), st.integers(1, 40)), min_size=1, max_size=30)
    )
    unsettled = {(CHANNELS[c], t) for c, t in tags}
    batch = draw(st.lists(st.sampled_from(sorted(tags)), unique=True, min_size=1))
    return unsettled, [(CHANNELS[c], t) for c, t in batch]


@given(in_hand())
def test_a_multiple_ack_settles_the_batch_and_nothing_else(case):
    unsettled, batch = case
    top = covering(unsettled, batch)
    if top is None:
        return
    channel, highest = top
    reached = {tag for tag in unsettled if tag[0] is channel and tag[1] <= highest}
    assert reached == set(batch)


@given(in_hand())
def test_a_batch_alone_in_hand_on_its_channel_is_acked_at_once(case):
    unsettled, batch = case
    channel = batch[0][0]
    alone = [tag for tag in batch if tag[0] is channel]
    others = {tag for tag in unsettled if tag[0] is not channel}
    if len(alone) >= 2:
        assert covering(others | set(alone), alone) == max(alone, key=lambda tag: tag[1])


def test_an_earlier_message_still_in_hand_keeps_the_acks_one_by_one():
    channel = CHANNELS[0]
    held = (channel, 3)  # on the one-by-one path, not finished
    batch = [(channel, 4), (channel, 5), (channel, 6)]
    assert covering({held, *batch}, batch) is None
    # A later one in hand does not stand in the way: the ack reaches up to 6.
    assert covering({(channel, 9), *batch}, batch) == (channel, 6)


def test_a_single_message_or_two_channels_are_never_acked_as_many():
    one, other = CHANNELS
    assert covering({(one, 1)}, [(one, 1)]) is None
    assert covering({(one, 1), (other, 2)}, [(one, 1), (other, 2)]) is None
