"""The matcher's event handlers, one per event type it acts on.

Each runs inside the consumer runner's transaction (with the inbox row that
makes a redelivery harmless) and first takes the matcher's lock and brings the
member index up to date (``live.LiveIndex``). Results leave through the outbox
in the same transaction: ``match.found`` for a new (or renewed) fit,
``match.withdrawn`` for a fit that ended. Every decision is revision-aware,
so a stale or repeated event changes nothing.

A member's "not for me" (``member.declined``) is stored with what the posting
was, and lowers or rules out their later matches with postings like it
(``declines.py``).

Withdrawal reasons: ``closed`` (the posting closed), ``no_longer_fits`` (an
update of the posting or of the member's profile), ``opted_out``, ``erased``.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, date, datetime

from services.matcher import declines, queries
from services.matcher.index import MemberIndex
from services.matcher.live import LiveIndex
from services.matcher.scoring import Match, prepare_member, score
from shared import logs, metrics
from shared.consumer import BatchHandler, Handler, dispatch
from shared.db import Connection
from shared.events import (
    Envelope,
    JobClosed,
    JobCreated,
    JobPosting,
    JobUpdated,
    MatchFound,
    MatchWithdrawn,
    MemberChanged,
    MemberDeclined,
    MemberErased,
    Ping,
)
from shared.outbox import enqueue, enqueue_many
from shared.revisions import latest_per_member

log = logs.get_logger(__name__)

SCHEMA = "matcher"
SOURCE = "/passaparola/matcher"


# --- events out ----------------------------------------------------------------------------------


def found(match_id: str, posting: JobPosting, member_id: str, match: Match) -> Envelope:
    return Envelope.wrap(
        MatchFound(
            match_id=match_id,
            posting_id=posting.posting_id,
            member_id=member_id,
            score=match.score,
            explanation=match.explanation,
            posting_revision=posting.revision,
            title=posting.title,
            company_name=posting.company_name,
            city=posting.city,
            region=posting.region,
            country=posting.country,
            remote=posting.remote,
            apply_url=posting.apply_url,
            valid_through=posting.valid_through,
        ),
        source=SOURCE,
    )


async def _tell(
    conn: Connection,
    row: queries.MatchRow | None,
    posting: JobPosting,
    member_id: str,
    match: Match,
) -> None:
    """Record a new fit (or renew a withdrawn one) and announce it."""
    if row is None:
        match_id = str(uuid.uuid4())
        await queries.insert_match(
            conn,
            match_id,
            posting.posting_id,
            member_id,
            match.score,
            match.explanation,
            posting.revision,
        )
    else:
        match_id = row.match_id
        await queries.activate_match(
            conn, match_id, match.score, match.explanation, posting.revision
        )
    await enqueue(conn, SCHEMA, found(match_id, posting, member_id, match))


async def _tell_many(
    conn: Connection,
    posting: JobPosting,
    told: Sequence[tuple[queries.MatchRow | None, str, Match]],
) -> None:
    """``_tell`` for several members of one posting: the new matches in one
    pipelined statement, the renewed in another, their events in a third
    (three round trips for a posting's fits, not two per fit)."""
    fresh = [(str(uuid.uuid4()), member_id, match) for row, member_id, match in told if row is None]
    renewed = [(row.match_id, member_id, match) for row, member_id, match in told if row]
    await queries.insert_matches(
        conn,
        [
            (match_id, posting.posting_id, member_id, m.score, m.explanation, posting.revision)
            for match_id, member_id, m in fresh
        ],
    )
    await queries.activate_matches(
        conn,
        [(match_id, m.score, m.explanation, posting.revision) for match_id, _, m in renewed],
    )
    ids = {member_id: match_id for match_id, member_id, _ in [*fresh, *renewed]}
    await enqueue_many(
        conn,
        SCHEMA,
        [found(ids[member_id], posting, member_id, match) for _, member_id, match in told],
    )


async def _withdraw(conn: Connection, row: queries.MatchRow, reason: str) -> None:
    await queries.withdraw_match(conn, row.match_id, reason)
    payload = MatchWithdrawn(row.match_id, row.posting_id, row.member_id, reason)
    await enqueue(conn, SCHEMA, Envelope.wrap(payload, source=SOURCE))


def expired(posting: JobPosting, today: date | None = None) -> bool:
    if not posting.valid_through:
        return False
    try:
        until = date.fromisoformat(posting.valid_through[:10])
    except ValueError:
        return False
    return until < (today or datetime.now(UTC).date())


# --- job events ----------------------------------------------------------------------------------


def _still_fitting(
    live: LiveIndex, posting: JobPosting, rows: Iterable[queries.MatchRow], best: set[str]
) -> dict[str, Match]:
    """Members told earlier (active rows, outside ``best``) who still fit."""
    prepared = live.prepared(posting)
    out: dict[str, Match] = {}
    for row in rows:
        member = live.index.get(row.member_id)
        if row.state == "active" and row.member_id not in best and member is not None:
            result = score(prepared, member, live.weights, live.matcher)
            if isinstance(result, Match):
                out[row.member_id] = result
    return out


async def rematch_posting(live: LiveIndex, conn: Connection, posting: JobPosting) -> None:
    """Match a new or updated posting: tell new fits (best first, within the
    caps), keep still-fitting matches, withdraw those that no longer fit."""
    # The best fits within the cap; matches told earlier are re-checked one by one.
    run = live.index.match(posting, limit=live.weights.posting_cap)
    existing = {r.member_id: r for r in await queries.matches_of_posting(conn, posting.posting_id)}
    kept = _still_fitting(live, posting, existing.values(), {m for m, _ in run.matches})
    ranked, kept = await _minus_declines(live, conn, posting, run.matches, kept)
    fits = {**dict(ranked), **kept}
    unfit = {m for m, r in existing.items() if r.state == "active" and m not in fits}
    await _settle(live, conn, posting, ranked, existing, unfit, (run.candidates, len(fits)))


async def _minus_declines(
    live: LiveIndex,
    conn: Connection,
    posting: JobPosting,
    ranked: Sequence[tuple[str, Match]],
    kept: dict[str, Match],
) -> tuple[list[tuple[str, Match]], dict[str, Match]]:
    """The fits as the members' earlier "not for me" leave them (declines.py):
    ruled out, or lowered below the bar, for the member who said it only."""
    said = await queries.declines_of(conn, [*(m for m, _ in ranked), *kept])
    prepared = live.prepared(posting)

    def adjust(matches: Iterable[tuple[str, Match]]) -> list[tuple[str, Match]]:
        return declines.adjust_all(
            matches, posting.posting_id, posting.company_id, prepared, said, live.weights
        )

    return adjust(ranked), dict(adjust(kept.items()))


async def _settle(
    live: LiveIndex,
    conn: Connection,
    posting: JobPosting,
    ranked: Sequence[tuple[str, Match]],
    existing: dict[str, queries.MatchRow],
    unfit: set[str],
    counts: tuple[int, int],
) -> None:
    """Tell the ranked fits not told yet, within the caps; withdraw ``unfit``.
    ``counts``: the candidates scored and the fits found (for the log line)."""
    weights = live.weights
    active = sum(1 for r in existing.values() if r.state == "active" and r.member_id not in unfit)
    fresh = [m for m, _ in ranked if m not in existing]
    recent = await queries.recent_matches_per_member(conn, fresh, weights.member_cap_days)
    capped = 0
    telling: list[tuple[queries.MatchRow | None, str, Match]] = []
    for member_id, match in ranked:
        row = existing.get(member_id)
        if row is not None and row.state == "active":
            continue
        if active >= weights.posting_cap or (
            row is None and recent.get(member_id, 0) >= weights.member_cap
        ):
            capped += 1
            continue
        telling.append((row, member_id, match))
        active += 1
    await _tell_many(conn, posting, telling)
    told = len(telling)
    withdrawn = 0
    for row in existing.values():
        if row.state == "active" and row.member_id in unfit:
            await _withdraw(conn, row, "no_longer_fits")
            withdrawn += 1
    metrics.observe_matches(told)
    log.info(
        "posting matched",
        posting_id=posting.posting_id,
        revision=posting.revision,
        candidates=counts[0],
        fits=counts[1],
        told=told,
        capped=capped,
        withdrawn=withdrawn,
    )


# --- job events on a shard -------------------------------------------------------------------
#
# Every shard sees every job event and scores the posting against its own
# members only. The cap (the best ``posting_cap`` members overall) is kept by
# a gather step: each shard writes its best ``posting_cap`` (no member outside
# a shard's own best can be in the overall best), plus which of its members
# told earlier still fit; the shard that completes the set, under the global
# lock, ranks them all together and tells exactly what one process would.


async def report_posting(live: LiveIndex, conn: Connection, posting: JobPosting) -> None:
    run = live.index.match(posting, limit=live.weights.posting_cap)
    best = {m for m, _ in run.matches}
    mine = [
        r
        for r in await queries.matches_of_posting(conn, posting.posting_id)
        if r.state == "active" and live.owns(r.member_id)
    ]
    kept = _still_fitting(live, posting, mine, best)
    ranked, kept = await _minus_declines(live, conn, posting, run.matches, kept)
    proposed = [queries.Candidate(m, "top", match.score, match.explanation) for m, match in ranked]
    proposed += [queries.Candidate(m, "kept", k.score, k.explanation) for m, k in kept.items()]
    shown = {m for m, _ in ranked}  # a member's "not for me" may have taken one out
    proposed += [
        queries.Candidate(r.member_id, "dropped", 0.0, {})
        for r in mine
        if r.member_id not in shown and r.member_id not in kept
    ]
    await queries.report(conn, posting, live.shards, live.shard, run.candidates, proposed)
    await live.lock_matches(conn)
    reported = await queries.reports(conn, posting.posting_id, posting.revision, live.shards)
    log.info(
        "posting scored on shard",
        posting_id=posting.posting_id,
        revision=posting.revision,
        shard=live.shard,
        reported=reported,
        shards=live.shards,
    )
    if reported == live.shards:
        await merge_posting(live, conn, posting)


async def merge_posting(live: LiveIndex, conn: Connection, posting: JobPosting) -> None:
    """Every shard has reported this revision: tell the best overall."""
    known = await queries.posting_state(conn, posting.posting_id)
    # A newer revision (or the close) supersedes this one: its own merge decides.
    current = known is not None and known == (posting.revision, "open")
    if not current or not await queries.mark_merged(conn, posting.posting_id, posting.revision):
        await queries.delete_candidates(conn, posting.posting_id, posting.revision)
        return
    proposed = await queries.candidates(conn, posting.posting_id, posting.revision)
    ranked = [(c.member_id, Match(c.score, c.explanation)) for c in proposed if c.kind == "top"]
    ranked = ranked[: live.weights.posting_cap]
    # Every member a shard found fitting still fits, told or not; a shard's
    # best outside the overall best is told nothing, but not withdrawn either.
    fits = {c.member_id for c in proposed if c.kind != "dropped"}
    existing = {r.member_id: r for r in await queries.matches_of_posting(conn, posting.posting_id)}
    # Only what a shard looked at may be withdrawn: a match told meanwhile by
    # a member event was scored against this very revision, and stands.
    unfit = {c.member_id for c in proposed if c.kind == "dropped"} - fits
    counts = (sum(1 for c in proposed if c.kind == "top"), len(fits))
    await _settle(live, conn, posting, ranked, existing, unfit, counts)
    await queries.delete_candidates(conn, posting.posting_id, posting.revision)


async def on_job_sharded(live: LiveIndex, posting: JobPosting, conn: Connection) -> None:
    await live.lock_and_sync(conn)
    known = await queries.posting_state(conn, posting.posting_id)
    done = await queries.shard_revision(conn, posting.posting_id, live.shards, live.shard)
    if (known is not None and (known[1] == "closed" or posting.revision < known[0])) or (
        done is not None and posting.revision <= done
    ):
        log.info(
            "stale or closed posting event ignored",
            posting_id=posting.posting_id,
            revision=posting.revision,
            shard=live.shard,
        )
        return
    await queries.upsert_posting(conn, posting)  # the first shard's write; others no-ops
    await report_posting(live, conn, posting)


async def on_job(live: LiveIndex, event: Envelope, conn: Connection) -> None:
    posting = event.payload(JobPosting)
    if live.sharded:
        await on_job_sharded(live, posting, conn)
        return
    await live.lock_and_sync(conn)
    known = await queries.posting_state(conn, posting.posting_id)
    if known is not None:
        revision, state = known
        if state == "closed" or posting.revision <= revision:
            log.info(
                "stale or closed posting event ignored",
                posting_id=posting.posting_id,
                revision=posting.revision,
                known_revision=revision,
                state=state,
            )
            return
    await queries.upsert_posting(conn, posting)
    await rematch_posting(live, conn, posting)


async def on_job_closed(live: LiveIndex, event: Envelope, conn: Connection) -> None:
    closed = event.payload(JobClosed)
    if live.sharded:
        # Every shard gets it; the first withdraws, the others find nothing active.
        await live.lock_matches(conn)
    else:
        await live.lock_and_sync(conn)
    await queries.close_posting(conn, closed.posting_id, closed.company_id, closed.revision)
    withdrawn = 0
    for row in await queries.matches_of_posting(conn, closed.posting_id):
        if row.state == "active":
            await _withdraw(conn, row, "closed")
            withdrawn += 1
    log.info("posting closed", posting_id=closed.posting_id, withdrawn=withdrawn)


# --- member events -------------------------------------------------------------------------------


async def reevaluate_member(live: LiveIndex, conn: Connection, member: MemberChanged) -> None:
    """Score a changed member against every open posting: tell new fits (best
    first, within the caps), withdraw what no longer fits."""
    weights = live.weights
    fits: list[tuple[JobPosting, Match]] = []
    if member.opted_in:
        prepared = prepare_member(member, live.matcher)
        said = (await queries.declines_of(conn, [member.member_id])).get(member.member_id, [])
        today = datetime.now(UTC).date()
        for posting in await queries.open_postings(conn):
            if expired(posting, today):
                continue
            ready = live.prepared(posting)
            result = score(ready, prepared, weights, live.matcher)
            if isinstance(result, Match):
                kept = declines.adjusted(
                    result, posting.posting_id, posting.company_id, ready, said, weights
                )
                if kept is not None:
                    fits.append((posting, kept))
    fits.sort(key=lambda item: (-item[1].score, item[0].posting_id))
    await live.lock_matches(conn)
    existing = {r.posting_id: r for r in await queries.matches_of_member(conn, member.member_id)}
    recent = await queries.recent_matches_per_member(
        conn, [member.member_id], weights.member_cap_days
    )
    budget = weights.member_cap - recent.get(member.member_id, 0)
    load = await queries.active_matches_per_posting(conn, [p.posting_id for p, _ in fits])
    told = 0
    for posting, match in fits:
        row = existing.get(posting.posting_id)
        if row is not None and row.state == "active":
            continue
        if load.get(posting.posting_id, 0) >= weights.posting_cap or (row is None and budget <= 0):
            continue
        await _tell(conn, row, posting, member.member_id, match)
        budget -= row is None
        told += 1
    fitting = {p.posting_id for p, _ in fits}
    reason = "no_longer_fits" if member.opted_in else "opted_out"
    withdrawn = await _withdraw_all(
        conn, [r for r in existing.values() if r.posting_id not in fitting], reason
    )
    log.info(
        "member re-evaluated",
        member_id=member.member_id,
        revision=member.revision,
        fits=len(fits),
        told=told,
        withdrawn=withdrawn,
    )


async def _withdraw_all(conn: Connection, rows: Sequence[queries.MatchRow], reason: str) -> int:
    count = 0
    for row in rows:
        if row.state == "active":
            await _withdraw(conn, row, reason)
            count += 1
    return count


async def on_member_changed(live: LiveIndex, event: Envelope, conn: Connection) -> None:
    member = event.payload(MemberChanged)
    await live.lock_member(conn, member.member_id)
    if await queries.is_erased(conn, member.member_id):
        log.info("change of an erased member ignored", member_id=member.member_id)
        return
    revision = await queries.member_revision(conn, member.member_id)
    if revision is not None and member.revision <= revision:
        log.info(
            "stale member event ignored",
            member_id=member.member_id,
            revision=member.revision,
            known_revision=revision,
        )
        return
    await queries.upsert_member(conn, member)
    await reevaluate_member(live, conn, member)


async def on_members_changed(live: LiveIndex, events: list[Envelope], conn: Connection) -> None:
    """Many member changes in one transaction (an import): the effect of
    ``on_member_changed`` for each, with the reads made once for all. Per
    member, only the latest revision counts: the older ones would be ignored
    one by one after it, and their effects before it overwritten."""
    # An equal revision is stale one by one (``member_revision`` <=): the
    # first stays. Members are re-evaluated in the order of their latest
    # change, as one by one (they compete for the postings' caps).
    latest = {
        m.member_id: m
        for m in latest_per_member(
            (event.payload(MemberChanged) for event in events), equal_replaces=False
        )
    }
    ids = list(latest)
    await live.lock_members(conn, ids)
    erased = await queries.erased_among(conn, ids)
    revisions = await queries.member_revisions(conn, ids)
    fresh = [
        member
        for m, member in latest.items()
        if m not in erased and (m not in revisions or member.revision > revisions[m])
    ]
    live.written(fresh, await queries.upsert_members(conn, fresh))
    counts = await reevaluate_members(live, conn, fresh)
    log.info(
        "member changes applied",
        events=len(events),
        applied=len(fresh),
        erased_ignored=len(erased),
        stale_ignored=len(ids) - len(fresh) - len(erased),
        told=counts[0],
        withdrawn=counts[1],
    )


async def reevaluate_members(
    live: LiveIndex, conn: Connection, members: Sequence[MemberChanged]
) -> tuple[int, int]:
    """``reevaluate_member`` for many members, in the order given: the open
    postings are read once, and each is scored against the opted-in members
    through an index of those members (the same scorer, on the candidates
    only); caps are kept as if the members came one after the other.
    Returns (told, withdrawn)."""
    weights = live.weights
    fits: dict[str, list[tuple[JobPosting, Match]]] = {m.member_id: [] for m in members}
    opted = [m for m in members if m.opted_in]
    if opted:
        said = await queries.declines_of(conn, [m.member_id for m in opted])
        batch = MemberIndex(live.matcher, weights)
        for member in opted:
            batch.upsert(member, live.resolve(member))
        today = datetime.now(UTC).date()
        for posting in await queries.open_postings(conn):
            if expired(posting, today):
                continue
            ready = live.prepared(posting)
            for member_id, result in batch.match(posting, prepared=ready).matches:
                kept = declines.adjusted(
                    result,
                    posting.posting_id,
                    posting.company_id,
                    ready,
                    said.get(member_id, []),
                    weights,
                )
                if kept is not None:
                    fits[member_id].append((posting, kept))
    for found in fits.values():
        found.sort(key=lambda item: (-item[1].score, item[0].posting_id))
    await live.lock_matches(conn)
    ids = [m.member_id for m in members]
    existing = await queries.matches_of_members(conn, ids)
    recent = await queries.recent_matches_per_member(conn, ids, weights.member_cap_days)
    fitting = {p.posting_id for found in fits.values() for p, _ in found}
    load = await queries.active_matches_per_posting(conn, sorted(fitting))
    told = withdrawn = 0
    for member in members:
        rows = {r.posting_id: r for r in existing.get(member.member_id, [])}
        budget = weights.member_cap - recent.get(member.member_id, 0)
        for posting, match in fits[member.member_id]:
            row = rows.get(posting.posting_id)
            if row is not None and row.state == "active":
                continue
            if load.get(posting.posting_id, 0) >= weights.posting_cap or (
                row is None and budget <= 0
            ):
                continue
            await _tell(conn, row, posting, member.member_id, match)
            load[posting.posting_id] = load.get(posting.posting_id, 0) + 1
            budget -= row is None
            told += 1
        mine = {p.posting_id for p, _ in fits[member.member_id]}
        reason = "no_longer_fits" if member.opted_in else "opted_out"
        for row in rows.values():
            if row.state == "active" and row.posting_id not in mine:
                await _withdraw(conn, row, reason)
                withdrawn += 1
                # The next member sees the room this one left (as one by one).
                if row.posting_id in fitting:
                    load[row.posting_id] = load.get(row.posting_id, 0) - 1
    return told, withdrawn


async def on_member_erased(live: LiveIndex, event: Envelope, conn: Connection) -> None:
    erased = event.payload(MemberErased)
    await live.lock_member(conn, erased.member_id)
    await live.lock_matches(conn)
    rows = await queries.matches_of_member(conn, erased.member_id)
    withdrawn = await _withdraw_all(conn, rows, "erased")
    await queries.erase_member(conn, erased.member_id)
    await queries.delete_declines(conn, erased.member_id)
    log.info("member erased", member_id=erased.member_id, withdrawn=withdrawn)


async def on_member_declined(live: LiveIndex, event: Envelope, conn: Connection) -> None:
    """Remember what a member said "not for me" to, and why, for their later
    matches (``declines.py``). The same event twice stores the same row."""
    declined = event.payload(MemberDeclined)
    await live.lock_and_sync(conn)
    if await queries.is_erased(conn, declined.member_id):
        log.info("decline of an erased member ignored", member_id=declined.member_id)
        return
    posting = await queries.posting(conn, declined.posting_id)
    if posting is None:
        # Told about a posting the matcher has no longer (or never had): the
        # notifier has the feedback; there is nothing to learn from here.
        log.info("decline of an unknown posting ignored", posting_id=declined.posting_id)
        return
    decline = declines.decline_of(
        posting.posting_id, posting.company_id, declined.reason, live.prepared(posting)
    )
    await queries.upsert_decline(conn, declined.member_id, decline)
    log.info(
        "decline recorded",
        member_id=declined.member_id,
        posting_id=declined.posting_id,
        reason=decline.reason,
    )


async def on_ping(event: Envelope, conn: Connection) -> None:
    ping = event.payload(Ping)
    log.info("ping received", ping_id=ping.ping_id)


LiveHandler = Callable[[LiveIndex, Envelope, Connection], Awaitable[None]]


def make_handler(live: LiveIndex) -> Handler:
    """The matcher's handler, bound to its member index."""

    def bound(handler: LiveHandler) -> Handler:
        return functools.partial(handler, live)

    return dispatch(
        {
            JobCreated.TYPE: bound(on_job),
            JobUpdated.TYPE: bound(on_job),
            JobClosed.TYPE: bound(on_job_closed),
            MemberChanged.TYPE: bound(on_member_changed),
            MemberErased.TYPE: bound(on_member_erased),
            MemberDeclined.TYPE: bound(on_member_declined),
            Ping.TYPE: on_ping,
        }
    )


async def on_jobs(live: LiveIndex, events: list[Envelope], conn: Connection) -> None:
    """Several openings in one transaction (a burst): each exactly as ``on_job``,
    in arrival order, each seeing the matches of those before it (the caps);
    the lock, the inbox and the commit once for all. Under a backlog this is
    what keeps up: one posting per transaction was the matcher's limit at
    100,000 members and 20 openings a second (docs/performance.md, "End to
    end", session 5)."""
    for event in events:
        await on_job(live, event, conn)


def make_batch_handlers(live: LiveIndex) -> dict[str, BatchHandler]:
    """The matcher's batch handlers (``shared.consumer``), bound to its member index."""
    return {
        MemberChanged.TYPE: functools.partial(on_members_changed, live),
        JobCreated.TYPE: functools.partial(on_jobs, live),
        JobUpdated.TYPE: functools.partial(on_jobs, live),
    }
