"""The in-memory member index, kept equal to the member read model in the database.

The index is a cache of ``matcher.members``; the database is the truth. It is
never changed by a handler directly (the handler's transaction may still roll
back), but follows the table's change feed:

- every matcher handler first takes one transaction-level advisory lock
  (``queries.LOCK_KEY``), so matcher transactions run one at a time, across
  processes too, and a member row's ``seq`` (from a sequence, set on every
  write) becomes visible in commit order;
- right after taking the lock, and before writing anything, the handler
  calls ``sync``: it applies the rows with ``seq`` above the last one applied.
  Under the lock every earlier matcher transaction has ended, so what it reads
  is exactly what was committed: a rolled-back change is never seen, a
  committed one is never missed;
- at start-up (``load``, from a background task, or the first handler if a
  message comes first), the same feed from 0 rebuilds the whole index; so
  does the first message after a taxonomy import (``queries.taxonomy_version``).

Postings do not need this: they are read from the table when needed.

With shards (``docs/scaling.md``), the index holds the members of its own
buckets only, and the lock above becomes one lock per shard: a member row is
written only under its owner shard's lock, so each shard's feed (the rows of
its buckets) keeps the same guarantee while shards work in parallel. The
global lock then guards only the writes of matches (``lock_matches``).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable, Sequence

from services.matcher import queries
from services.matcher.index import MemberIndex
from services.matcher.scoring import (
    PreparedMember,
    PreparedPosting,
    prepare_member,
    prepare_posting,
)
from services.matcher.taxonomy import Role, Taxonomy, default_taxonomy
from services.matcher.titles import TitleMatcher, default_matcher
from services.matcher.weights import DEFAULT_WEIGHTS, Weights
from shared import logs, metrics, quarantine
from shared.db import Connection, Pool
from shared.events import JobPosting, MemberChanged
from shared.topology import shard_of

log = logs.get_logger(__name__)

BATCH = 5000
SERVICE = "matcher"
INDEX_TASK = "build_index"  # its records in shared.quarantine: member ids


class UnreadableProfile(Exception):
    """A stored member profile that no longer decodes (queries.MemberRow.problem)."""


class LiveIndex:
    def __init__(self, weights: Weights = DEFAULT_WEIGHTS, shard: int = 0, shards: int = 1) -> None:
        if not 0 <= shard < shards:
            raise ValueError("shard out of range")
        self.weights = weights
        self.shard = shard
        self.shards = shards
        self.index = MemberIndex(default_matcher(), weights)
        self.seq = 0  # of the last member row applied
        self.erased_seq = 0  # of the last erasure applied
        self.loaded = False
        self.taxonomy_version = 0  # of the taxonomy the index was built with
        self._loading = asyncio.Lock()
        self._postings: dict[tuple[str, int], PreparedPosting] = {}
        self._held: set[str] = set()  # members held in quarantine by this index
        # Members a batch wrote, by id: the seq of the row written, the
        # member as the row holds it, and its resolution once made; for the
        # next sync, which meets the same rows (``written``, ``resolve``).
        self._resolved: dict[str, tuple[int, MemberChanged, PreparedMember | None]] = {}

    @property
    def matcher(self) -> TitleMatcher:
        return self.index.matcher

    @property
    def sharded(self) -> bool:
        return self.shards > 1

    def owns(self, member_id: str) -> bool:
        return shard_of(member_id, self.shards) == self.shard

    async def lock_and_sync(self, conn: Connection) -> None:
        """Take the lock of this index's feed for this transaction (the
        matcher's one lock without shards), then catch up."""
        if self.sharded:
            await queries.lock_shard(conn, self.shard)
        else:
            await queries.lock(conn)
        await self.sync(conn)

    async def lock_member(self, conn: Connection, member_id: str) -> None:
        """Before writing a member's row: the lock of its owner's feed. A
        member event that reached another shard (only while the shard count
        changes) is still written under the owner's lock."""
        if self.sharded and not self.owns(member_id):
            await queries.lock_shard(conn, shard_of(member_id, self.shards))
        else:
            await self.lock_and_sync(conn)

    async def lock_members(self, conn: Connection, member_ids: Iterable[str]) -> None:
        """``lock_member`` for many members at once: each owner's lock once,
        in shard order (two processes locking shards in the same order cannot
        deadlock), this index's own with its catch-up."""
        if not self.sharded:
            await self.lock_and_sync(conn)
            return
        for shard in sorted({shard_of(m, self.shards) for m in member_ids}):
            if shard == self.shard:
                await self.lock_and_sync(conn)
            else:
                await queries.lock_shard(conn, shard)

    async def lock_matches(self, conn: Connection) -> None:
        """Before reading caps and writing matches. Without shards the
        matcher's one lock is already held; with shards, the global lock is
        taken after the shard's (always in that order: no deadlock)."""
        if self.sharded:
            await queries.lock(conn)

    async def sync(self, conn: Connection) -> int:
        """Apply the committed member changes not applied yet (all, the first time)."""
        async with self._loading:
            # Read before the titles: an import committing in between is seen
            # again at the next message, never missed.
            version = await queries.taxonomy_version(conn)
            if self.loaded and version != self.taxonomy_version:
                # Members resolve against the taxonomy: re-index them all.
                log.info("taxonomy changed, rebuilding the member index")
                self.loaded = False
            if not self.loaded:
                matcher = await load_matcher(conn)
                self.taxonomy_version = version
                self.index = MemberIndex(matcher, self.weights)
                self._postings.clear()
                self._resolved.clear()  # resolved with the matcher replaced here
                self.seq = self.erased_seq = 0
                # Held by an earlier process: cleared here once they index.
                held = await quarantine.held_ids(conn, INDEX_TASK)
                self._held = {m for m in held if self.owns(m)}
            applied = 0
            # Two cursors: an erasure deletes the member's row and is final, so
            # the order between the two feeds does not matter.
            while True:
                rows = await queries.members_since(
                    conn,
                    self.seq,
                    BATCH,
                    self.shard,
                    self.shards,
                    {m: (seq, member) for m, (seq, member, _) in self._resolved.items()},
                )
                for row in rows:
                    await self._apply(conn, row)
                    self.seq = max(self.seq, row.seq)
                erased = await queries.erased_since(conn, self.erased_seq, BATCH)
                for member_id, seq in erased:
                    self.index.remove(member_id)
                    self.erased_seq = max(self.erased_seq, seq)
                applied += len(rows) + len(erased)
                if len(rows) < BATCH and len(erased) < BATCH:
                    break
            # What was resolved before this sync and not met in it was rolled
            # back, or belongs to another shard: never read again.
            self._resolved.clear()
            if self._held:
                await self._retry_released(conn)
            if not self.loaded:
                self.loaded = True
                log.info(
                    "member index built",
                    members=len(self.index),
                    seq=self.seq,
                    shard=self.shard,
                    shards=self.shards,
                )
            metrics.set_members_indexed(len(self.index))
            return applied

    async def load(self, pool: Pool) -> None:
        """Build the index at start-up, under the lock (a consistent snapshot)."""
        async with pool.acquire() as conn, conn.transaction():
            await self.lock_and_sync(conn)

    async def _apply(self, conn: Connection, row: queries.MemberRow) -> None:
        """Index one member; one that cannot be indexed (its stored profile no
        longer decodes, or the index refuses it) is held in quarantine and left
        out, and every other member is indexed all the same."""
        try:
            if row.profile is None:
                raise UnreadableProfile(row.problem or "unreadable")
            cached = self._resolved.get(row.member_id)
            # Only for the very row written (members_since hands back the
            # same object when the row is the one of that seq): the row is
            # the truth.
            prepared = cached[2] if cached is not None and cached[1] is row.profile else None
            self.index.upsert(row.profile, prepared)  # an opted-out member is removed
        except Exception as exc:
            reason = row.problem if row.profile is None and row.problem else type(exc).__name__
            self.index.remove(row.member_id)
            # In the caller's transaction: a hold rolled back with it is made
            # again by the next process that reads the member.
            await quarantine.hold(conn, SERVICE, INDEX_TASK, row.member_id, reason)
            self._held.add(row.member_id)
            metrics.observe_quarantined(INDEX_TASK)
            log.error("record quarantined", task=INDEX_TASK, record_id=row.member_id, reason=reason)
            return
        if row.member_id in self._held:
            self._held.discard(row.member_id)
            await quarantine.clear(conn, INDEX_TASK, row.member_id, SERVICE)

    async def _retry_released(self, conn: Connection) -> None:
        """Members an operator handed back (``passaparola quarantine retry``):
        read again now, not at their next change."""
        released = self._held - await quarantine.held_ids(conn, INDEX_TASK)
        for member_id in sorted(released):
            self._held.discard(member_id)
            row = await queries.member_row(conn, member_id)
            if row is not None:
                await self._apply(conn, row)

    def written(self, members: Iterable[MemberChanged], seqs: dict[str, int]) -> None:
        """Members a batch has just written, with the seq of each row
        (``queries.upsert_members``). Kept until the next sync, which then
        indexes those very rows without reading their profiles back or
        decoding them; rows rolled back are never met, and forgotten."""
        for member in members:
            seq = seqs.get(member.member_id)
            if seq is not None:
                # As queries.members_since decodes the row: no sealed contact.
                stored = dataclasses.replace(member, sealed_contact=None)
                self._resolved[member.member_id] = (seq, stored, None)

    def resolve(self, member: MemberChanged) -> PreparedMember:
        """A member resolved with this index's matcher; kept with the row the
        batch wrote (``written``), so the next sync does not resolve it again."""
        prepared = prepare_member(member, self.matcher)
        found = self._resolved.get(member.member_id)
        if found is not None and found[1].revision == member.revision:
            self._resolved[member.member_id] = (found[0], found[1], prepared)
        return prepared

    def prepared(self, posting: JobPosting) -> PreparedPosting:
        """A posting resolved once per revision (member changes score against all open ones)."""
        key = (posting.posting_id, posting.revision)
        found = self._postings.get(key)
        if found is None:
            if len(self._postings) > 50_000:
                self._postings.clear()
            found = self._postings[key] = prepare_posting(posting, self.matcher)
        return found


# --- the imported (ESCO) part of the taxonomy ---------------------------------------------------


def imported_titles(
    extended: Taxonomy, base: Taxonomy | None = None
) -> list[queries.TaxonomyTitle]:
    """What an extended taxonomy adds to the base one, as rows to store."""
    base = base or default_taxonomy()
    out: list[queries.TaxonomyTitle] = []
    for role in extended.roles.values():
        known = base.roles.get(role.id)
        had = {(lang, t) for lang, t in known.all_titles()} if known else set()
        for lang, title in role.all_titles():
            if (lang, title) not in had:
                out.append(queries.TaxonomyTitle(role.id, role.family, role.source, lang, title))
    return out


def taxonomy_from_rows(
    rows: Iterable[queries.TaxonomyTitle], base: Taxonomy | None = None
) -> Taxonomy:
    """The base taxonomy extended with stored rows (the inverse of ``imported_titles``)."""
    base = base or default_taxonomy()
    extra: dict[str, dict[str, list[str]]] = {}
    new: dict[str, tuple[str, str, dict[str, list[str]]]] = {}
    for row in rows:
        if row.role_id in base.roles:
            extra.setdefault(row.role_id, {}).setdefault(row.language, []).append(row.title)
        else:
            _family, _source, titles = new.setdefault(row.role_id, (row.family, row.source, {}))
            titles.setdefault(row.language, []).append(row.title)
    roles = [
        Role(
            id=role_id,
            family=family,
            titles={lang: tuple(t) for lang, t in titles.items()},
            source=source,
        )
        for role_id, (family, source, titles) in new.items()
    ]
    return base.extended(titles=extra, new_roles=roles)


async def load_matcher(conn: Connection) -> TitleMatcher:
    """The default title matcher, or one extended with the imported ESCO titles,
    with its linker built. Built in a worker thread: with an ESCO import that
    takes seconds, and the event loop keeps serving meanwhile."""
    rows = await queries.taxonomy_titles(conn)
    return await asyncio.to_thread(build_matcher, rows)


def build_matcher(rows: Sequence[queries.TaxonomyTitle]) -> TitleMatcher:
    matcher = default_matcher()
    if rows:
        taxonomy = taxonomy_from_rows(rows)
        log.info("imported taxonomy loaded", titles=len(rows), roles=len(taxonomy))
        matcher = TitleMatcher(taxonomy)
    matcher.build_linker()
    return matcher


@dataclasses.dataclass(frozen=True, slots=True)
class ImportSummary:
    titles: int
    roles: int


async def store_taxonomy(conn: Connection, extended: Taxonomy) -> ImportSummary:
    rows = imported_titles(extended)
    count = await queries.replace_taxonomy_titles(conn, rows)
    return ImportSummary(count, len({r.role_id for r in rows}))
