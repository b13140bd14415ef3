"""The matcher's operator commands, registered into ``passaparola``:

    passaparola titles classify [TITLE...] [--esco DIR]     # or titles on stdin
    passaparola titles similarity [--esco DIR]              # "a<TAB>b" lines on stdin
    passaparola titles link --esco DIR [--top K]            # titles on stdin -> ESCO concepts
    passaparola match explain POSTING.json                  # dry run on the member read model
    passaparola taxonomy import-esco DIR                    # store ESCO titles for the matcher
    passaparola taxonomy suggestions [--min-members N]      # from members' "not for me"
    passaparola companies same             # "employer | alias<TAB>posting company" lines on stdin
    passaparola shards reshard --to N      # re-split the matcher queues (docs/scaling.md)

Output is JSON (one line per input for the title tools). Errors are named and
have an exit code, like every ``passaparola`` command: 2 usage, 65 bad data,
66 an input that does not exist, 69 a server is unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import sys
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared import audit, db
from shared.service import EXIT_CONFIG, load_settings
from shared.settings import Settings, SettingsError

if TYPE_CHECKING:  # imported when used: the title machinery is not needed by every command
    from services.matcher.titles import TitleMatcher
    from shared.events import JobPosting, MemberChanged

EXIT_DATA = 65  # EX_DATAERR
EXIT_NOINPUT = 66  # EX_NOINPUT
EXIT_UNAVAILABLE = 69  # EX_UNAVAILABLE
EXIT_TEMPFAIL = 75  # EX_TEMPFAIL: try again once the matchers are stopped and drained

_DB_DOWN: tuple[type[BaseException], ...] = (OSError, *db.UNAVAILABLE)

Command = Callable[[argparse.Namespace], int]


class CommandError(Exception):
    def __init__(self, name: str, message: str, code: int) -> None:
        super().__init__(message)
        self.name = name
        self.code = code


def _named_errors(command: Command) -> Command:
    """Print a named error and return its exit code, as ``passaparola`` does."""

    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except CommandError as exc:
            print(f"passaparola: {exc.name}: {exc}", file=sys.stderr)
            return exc.code

    return run


def register(sub: Any) -> None:
    """Add the matcher's commands to the ``passaparola`` sub-command parser."""
    titles = sub.add_parser("titles", help="classify job titles, compare two titles")
    titles_sub = titles.add_subparsers(dest="titles_command", required=True, metavar="ACTION")
    classify = titles_sub.add_parser(
        "classify", help="titles (arguments, or one per stdin line) -> JSON lines with roles"
    )
    classify.add_argument("title", nargs="*")
    classify.add_argument("--esco", type=Path, help="extend the taxonomy with this ESCO export")
    classify.set_defaults(func=_named_errors(_classify))
    similarity = titles_sub.add_parser(
        "similarity",
        help='"posting title<TAB>member title" lines on stdin -> {"a","b","score","match"}',
    )
    similarity.add_argument("--esco", type=Path, help="extend the taxonomy with this ESCO export")
    similarity.set_defaults(func=_named_errors(_similarity))
    _register_link(titles_sub)

    match = sub.add_parser("match", help="the matcher's decisions, for operators")
    match_sub = match.add_subparsers(dest="match_command", required=True, metavar="ACTION")
    explain = match_sub.add_parser(
        "explain", help="dry run: which members a posting would reach, and why the others not"
    )
    explain.add_argument("posting", type=Path, help="a job posting (payload or CloudEvent), JSON")
    explain.set_defaults(func=_named_errors(_explain))

    taxonomy = sub.add_parser("taxonomy", help="the job-title taxonomy")
    taxonomy_sub = taxonomy.add_subparsers(dest="taxonomy_command", required=True, metavar="ACTION")
    esco = taxonomy_sub.add_parser(
        "import-esco", help="store an ESCO occupations export's titles for the matcher"
    )
    esco.add_argument("directory", type=Path, help="holds occupations_{en,it,sv}.csv")
    esco.set_defaults(func=_named_errors(_import_esco))
    suggest = taxonomy_sub.add_parser(
        "suggestions", help="taxonomy changes suggested by members' 'not for me' reasons"
    )
    suggest.add_argument(
        "--min-members", type=int, default=2, help="members who must agree (default 2)"
    )
    suggest.set_defaults(func=_named_errors(_suggestions))

    _register_companies(sub)
    _register_shards(sub)


# --- titles ------------------------------------------------------------------------------------


def _matcher(esco: Path | None) -> TitleMatcher:
    from services.matcher import tools
    from services.matcher.titles import default_matcher

    if esco is None:
        return default_matcher()
    _check_esco(esco)
    try:
        return tools.esco_matcher(esco)
    except (OSError, ValueError, KeyError, csv.Error) as exc:
        raise CommandError("BadEsco", f"cannot read {esco}: {exc}", EXIT_DATA) from None


def _check_esco(directory: Path) -> None:
    from services.matcher.taxonomy import LANGUAGES

    missing = [f"occupations_{lang}.csv" for lang in LANGUAGES]
    missing = [name for name in missing if not (directory / name).is_file()]
    if missing:
        raise CommandError("EscoNotFound", f"{directory} lacks {', '.join(missing)}", EXIT_NOINPUT)


def _lines(args: Iterable[str]) -> list[str]:
    given = list(args)
    if given:
        return given
    return [line.strip() for line in sys.stdin if line.strip()]


def _print_json_lines(items: Iterable[dict[str, Any]]) -> None:
    for item in items:
        print(json.dumps(item, ensure_ascii=False))


def _classify(args: argparse.Namespace) -> int:
    from services.matcher import tools

    _print_json_lines(tools.classify(_lines(args.title), _matcher(args.esco)))
    return 0


def _similarity(args: argparse.Namespace) -> int:
    from services.matcher import tools

    failed = False
    for item in tools.similarity_lines(sys.stdin, _matcher(args.esco)):
        failed = failed or "error" in item
        print(json.dumps(item, ensure_ascii=False))
    # Bad lines are reported in place and the run goes on; the exit code says so.
    return EXIT_DATA if failed else 0


# --- titles link ------------------------------------------------------------------------------


def _register_link(titles_sub: Any) -> None:
    link = titles_sub.add_parser(
        "link",
        help='titles on stdin, one a line -> {"title", "concepts": [{"uri", "score"}]}, best first',
    )
    link.add_argument(
        "--esco", type=Path, required=True, help="an ESCO occupations CSV export directory"
    )
    link.add_argument("--top", type=_positive, default=10, help="concepts per title (10)")
    link.set_defaults(func=_named_errors(_link))


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return value


def _link(args: argparse.Namespace) -> int:
    from services.matcher import embeddings, esco
    from services.matcher.linker import Linker

    directory: Path = args.esco
    if not directory.is_dir():
        raise CommandError("EscoNotFound", f"{directory} is not a directory", EXIT_NOINPUT)
    try:
        concepts = esco.read_concepts(directory)
    except FileNotFoundError:
        raise CommandError(
            "EscoNotFound", f"{directory} holds no occupations_<lang>.csv", EXIT_NOINPUT
        ) from None
    except (OSError, UnicodeDecodeError, ValueError, KeyError, csv.Error) as exc:
        raise CommandError("BadEsco", f"cannot read {directory}: {exc}", EXIT_DATA) from None
    if not concepts:
        raise CommandError("BadEsco", f"{directory}: no concept has a label", EXIT_DATA)
    try:
        # the packaged embeddings, unless switched off (lexical ranking then);
        # every label is embedded (as evaluated): minutes of CPU for a whole
        # export the first time, then read from the cache in var/embeddings
        vectors = embeddings.label_vectors([label for c in concepts for _, label in c.labels])
    except SettingsError as exc:
        raise CommandError("BadSettings", str(exc), EXIT_CONFIG) from None
    linker = Linker(concepts, vectors)
    for line in sys.stdin:
        title = line.strip()
        if not title:
            continue
        links = linker.link(title, top=args.top)
        concepts_out = [{"uri": link.uri, "score": link.score} for link in links]
        print(json.dumps({"title": title, "concepts": concepts_out}, ensure_ascii=False))
    return 0


# --- match explain ------------------------------------------------------------------------------


def read_posting(path: Path) -> JobPosting:
    """A JobPosting from a file holding its payload or a whole CloudEvent.

    ``posting_id``, ``company_id`` and ``revision`` may be left out of a
    hand-written payload; everything else must satisfy the event contract.
    """
    from shared.events import ContractError, Envelope, JobPosting, Payload

    try:
        raw = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise CommandError("NoSuchFile", f"{path} does not exist", EXIT_NOINPUT) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CommandError("BadPosting", f"{path}: not JSON ({exc})", EXIT_DATA) from None
    if not isinstance(raw, dict):
        raise CommandError("BadPosting", f"{path}: expected a JSON object", EXIT_DATA)
    try:
        if "specversion" in raw:
            posting: Payload = Envelope.from_json(raw).payload(JobPosting)
        else:
            data = {"posting_id": "explain", "company_id": "explain", "revision": 1, **raw}
            posting = JobPosting.from_json(data)
    except (ContractError, ValueError, TypeError) as exc:
        raise CommandError("BadPosting", f"{path}: {exc}", EXIT_DATA) from None
    if not isinstance(posting, JobPosting):
        raise CommandError("BadPosting", f"{path}: not a job posting", EXIT_DATA)
    if not isinstance(posting.title, str) or not posting.title.strip():
        raise CommandError("BadPosting", f"{path}: the posting has no title", EXIT_DATA)
    return posting


def explain(
    posting: JobPosting, members: Iterable[MemberChanged], matcher: TitleMatcher
) -> dict[str, Any]:
    """Score every member of the read model: who would match, who not and why."""
    from services.matcher.scoring import Match, prepare_member, prepare_posting, score

    prepared = prepare_posting(posting, matcher)
    matches: list[dict[str, Any]] = []
    excluded: list[dict[str, Any]] = []
    by_rule: dict[str, int] = {}
    for member in members:
        result = score(prepared, prepare_member(member, matcher), matcher.weights, matcher)
        if isinstance(result, Match):
            matches.append(
                {
                    "member_id": member.member_id,
                    "score": result.score,
                    "explanation": result.explanation,
                }
            )
        else:
            entry: dict[str, Any] = {"member_id": member.member_id, "rule": result.rule}
            if result.score is not None:
                entry["score"] = result.score
            excluded.append(entry)
            by_rule[result.rule] = by_rule.get(result.rule, 0) + 1
    matches.sort(key=lambda m: (-m["score"], m["member_id"]))
    return {
        "posting": {
            "posting_id": posting.posting_id,
            "title": posting.title,
            "roles": [r.role for r in prepared.title.roles],
            "known_title": prepared.title.known,
        },
        "members": len(matches) + len(excluded),
        "matches": matches,
        "excluded": excluded,
        "excluded_by_rule": dict(sorted(by_rule.items())),
        "note": (
            f"a dry run without the caps: the matcher tells at most "
            f"{matcher.weights.posting_cap} members per posting and "
            f"{matcher.weights.member_cap} openings per member every "
            f"{matcher.weights.member_cap_days} days"
        ),
    }


def _explain(args: argparse.Namespace) -> int:
    from services.matcher import queries
    from services.matcher.live import load_matcher

    posting = read_posting(args.posting)
    settings = load_settings()

    async def work(pool: db.Pool) -> int:
        async with pool.acquire() as conn:
            matcher = await load_matcher(conn)
            members = await queries.all_members(conn)
            # It names members: every run is in the audit log.
            await audit.record(
                conn, "matcher", actor=audit.operator(), action="match.explain",
                details={"members_considered": len(members)},
            )  # fmt: skip
        print(json.dumps(explain(posting, members, matcher), ensure_ascii=False, indent=2))
        return 0

    return asyncio.run(_with_pool(settings, work))


# --- taxonomy import-esco ---------------------------------------------------------------------


def _import_esco(args: argparse.Namespace) -> int:
    from services.matcher import esco
    from services.matcher.live import store_taxonomy

    _check_esco(args.directory)
    try:
        extended = esco.load_taxonomy(args.directory)
    except (OSError, ValueError, KeyError, csv.Error) as exc:
        raise CommandError("BadEsco", f"cannot read {args.directory}: {exc}", EXIT_DATA) from None
    settings = load_settings()

    async def work(pool: db.Pool) -> int:
        async with pool.acquire() as conn, conn.transaction():
            summary = await store_taxonomy(conn, extended)
        print(
            f"imported {summary.titles} titles in {summary.roles} roles; "
            "a running matcher uses them from its next message"
        )
        return 0

    return asyncio.run(_with_pool(settings, work))


# --- taxonomy suggestions ------------------------------------------------------------------


def _suggestions(args: argparse.Namespace) -> int:
    from services.matcher import declines, queries

    if args.min_members < 1:
        raise CommandError("BadArgument", "--min-members must be at least 1", 2)
    settings = load_settings()

    async def work(pool: db.Pool) -> int:
        async with pool.acquire() as conn:
            by_reason = await queries.declines_by_reason(conn)
            role = await queries.role_declines(conn)
        # Counts and posting titles only: no member is named.
        report = {
            "declines": dict(sorted(by_reason.items())),
            "suggestions": declines.suggestions(role, args.min_members),
        }
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return 0

    return asyncio.run(_with_pool(settings, work))


async def _with_pool(settings: Settings, work: Callable[[db.Pool], Awaitable[int]]) -> int:
    try:
        pool = await db.create_pool(settings, name="cli")
    except _DB_DOWN as exc:
        raise CommandError(
            "DatabaseUnavailable",
            f"cannot reach the database ({type(exc).__name__})",
            EXIT_UNAVAILABLE,
        ) from None
    try:
        return await work(pool)
    finally:
        await pool.close()


# --- companies same ----------------------------------------------------------------------------


def _register_companies(sub: Any) -> None:
    companies = sub.add_parser("companies", help="the company rule (discretion), for operators")
    companies_sub = companies.add_subparsers(
        dest="companies_command", required=True, metavar="ACTION"
    )
    same = companies_sub.add_parser(
        "same",
        help="\"employer names (' | ' between)<TAB>posting company\" lines on stdin "
        '-> {"verdict": "same"|"ambiguous"|"different"}',
    )
    same.set_defaults(func=_named_errors(_companies_same))


def _companies_same(args: argparse.Namespace) -> int:
    from services.matcher.companies import same_company_lines

    bad = 0
    try:
        for item in same_company_lines(sys.stdin.buffer):
            print(json.dumps(item, ensure_ascii=False), flush=True)
            if "error" in item:
                bad += 1
                line, error = item["line"], item["error"]
                print(f"passaparola: BadLine: line {line}: {error}", file=sys.stderr)
    except BrokenPipeError:
        # The reader stopped reading (`| head`): not an error. Python's own
        # advice: point stdout at /dev/null so the flush at exit fails silently.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    # Bad lines are reported in place and the run goes on; the exit code says so.
    return EXIT_DATA if bad else 0


# --- shards ------------------------------------------------------------------------------------


def _register_shards(sub: Any) -> None:
    shards = sub.add_parser("shards", help="the matcher's shards (docs/scaling.md)")
    shards_sub = shards.add_subparsers(dest="shards_command", required=True)
    reshard = shards_sub.add_parser(
        "reshard",
        help="re-split the matcher queues from PASSAPAROLA_MATCHER_SHARDS to --to shards "
        "(every matcher stopped, queues drained)",
    )
    reshard.add_argument("--to", type=int, required=True, help="the new shard count")
    reshard.set_defaults(func=_named_errors(_reshard))


def _reshard(args: argparse.Namespace) -> int:
    from shared.commands import with_broker
    from shared.service import topology_from
    from shared.topology import BUCKETS, ReshardRefused, reshard

    if not 1 <= args.to <= BUCKETS:
        raise CommandError("BadShardCount", f"--to must be from 1 to {BUCKETS}", 2)
    settings = load_settings()
    old = topology_from(settings)

    async def work(connection: Any) -> int:
        try:
            new = await reshard(connection, old, args.to)
        except ReshardRefused as exc:
            raise CommandError("ReshardRefused", str(exc), EXIT_TEMPFAIL) from None
        queues = [new.queue(spec) for spec in new.service_queues()[: new.matcher_shards]]
        print(json.dumps({"from": old.matcher_shards, "to": new.matcher_shards, "queues": queues}))
        return 0

    return asyncio.run(with_broker(settings, work))
