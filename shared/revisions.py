"""Which of many changes to one record a batch applies: the one that one by
one would have left in place (the revision rules every consumer keeps)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar


class Revised(Protocol):
    @property
    def member_id(self) -> str: ...

    @property
    def revision(self) -> int: ...


R = TypeVar("R", bound=Revised)


def latest_per_member(changes: Iterable[R], *, equal_replaces: bool) -> list[R]:
    """Per member, the highest revision; between equal revisions the first
    (a repeat is stale) or, with ``equal_replaces``, the last (a repeat is
    applied again). In the order of the changes kept: members compete for
    caps in the order they changed."""
    latest: dict[str, R] = {}
    for change in changes:
        known = latest.get(change.member_id)
        if (
            known is None
            or change.revision > known.revision
            or (equal_replaces and change.revision == known.revision)
        ):
            latest.pop(change.member_id, None)
            latest[change.member_id] = change
    return list(latest.values())
