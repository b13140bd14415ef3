"""shared/revisions.py: a batch keeps, per member, what one by one leaves in place."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from shared.revisions import latest_per_member


@dataclass(frozen=True)
class Change:
    member_id: str
    revision: int
    position: int


changes = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.integers(min_value=0, max_value=4)),
    max_size=30,
).map(lambda pairs: [Change(m, r, i) for i, (m, r) in enumerate(pairs)])


@given(changes, st.booleans())
def test_each_member_keeps_its_highest_revision_first_or_last_among_equals(
    batch: list[Change], equal_replaces: bool
) -> None:
    kept = latest_per_member(batch, equal_replaces=equal_replaces)
    expected = []
    for member in {c.member_id for c in batch}:
        mine = [c for c in batch if c.member_id == member]
        top = max(c.revision for c in mine)
        tied = [c for c in mine if c.revision == top]
        expected.append(tied[-1] if equal_replaces else tied[0])
    # In the order of the changes kept.
    assert kept == sorted(expected, key=lambda c: c.position)


def test_a_stale_repeat_does_not_move_a_member_in_the_order() -> None:
    a1, b1, a1_again = Change("a", 1, 0), Change("b", 1, 1), Change("a", 1, 2)
    assert latest_per_member([a1, b1, a1_again], equal_replaces=False) == [a1, b1]
    assert latest_per_member([a1, b1, a1_again], equal_replaces=True) == [b1, a1_again]
