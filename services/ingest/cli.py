"""Ingest's operator commands: ``passaparola company|token|members ...``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import Any

from services.ingest import member_csv, operators, queries, referrals
from shared import audit
from shared.commands import EXIT_DATA, EXIT_NOINPUT, EXIT_USAGE, CliError, with_pool
from shared.db import Pool
from shared.service import load_settings


def _print(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    print(json.dumps(data, default=str) if args.json else text)


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise CliError("BadId", f"{what} must be a UUID, got {value!r}", EXIT_USAGE) from None


def _company(args: argparse.Namespace) -> int:
    settings = load_settings()

    async def work(pool: Pool) -> int:
        if args.action == "add":
            name = args.name.strip()
            if not name:
                raise CliError("BadName", "the company name is empty", EXIT_USAGE)
            try:
                made = await operators.add_company(
                    pool,
                    settings,
                    name,
                    args.alias,
                    args.group,
                    callback_url=args.callback,
                    contact_email=args.contact_email,
                )
            except operators.BadCallback as exc:
                raise CliError("BadCallback", str(exc), EXIT_USAGE) from None
            delivery_secret = made["delivery_secret"]
            _print(
                args,
                made,
                (
                    f"company {made['name']}\n  id:          {made['company_id']}\n"
                    f"  webhook URL: {made['webhook_url']}\n  secret:      {made['secret']}\n"
                    f"  referrals:   {made['callback_url'] or made['contact_email']}\n"
                    + (f"  delivery secret: {delivery_secret}\n" if delivery_secret else "")
                    + "Secrets are shown once: give them to the company now."
                ),
            )
        elif args.action == "rotate-secret":
            rotated = await operators.rotate_secret(pool, settings, _uuid(args.id, "ID"))
            if rotated is None:
                raise CliError("UnknownCompany", f"no company {args.id}", EXIT_DATA)
            _print(
                args,
                rotated,
                (
                    f"new secret: {rotated['secret']}\nThe previous secret keeps working for "
                    f"{rotated['previous_secrets_valid_for_hours']} hours."
                ),
            )
        elif args.action == "list":
            async with pool.acquire() as conn:
                rows = await queries.list_companies(conn)
            if args.json:
                print(json.dumps(rows, default=str))
            for row in [] if args.json else rows:
                state = "disabled" if row["disabled_at"] else "active"
                print(f"{row['id']}  {state:8}  {row['open_postings']:4} open  {row['name']}")
        elif args.action == "set-callback":
            try:
                done = await operators.set_callback(
                    pool,
                    settings,
                    _uuid(args.id, "ID"),
                    args.url,
                    args.contact_email,
                    new_delivery_secret=args.new_secret,
                    clear_callback=args.clear,
                )
            except operators.BadCallback as exc:
                raise CliError("BadCallback", str(exc), EXIT_USAGE) from None
            if done is None:
                raise CliError("UnknownCompany", f"no company {args.id}", EXIT_DATA)
            secret = done["delivery_secret"]
            _print(
                args,
                done,
                f"referrals for {done['company_id']}:\n"
                f"  callback URL:  {done['callback_url'] or '(none: by email)'}\n"
                f"  contact email: {done['contact_email'] or '(none)'}"
                + (
                    f"\n  delivery secret: {secret}\nShown once: the company verifies our "
                    "signatures on referrals with it (Standard Webhooks)."
                    if secret
                    else ""
                ),
            )
        elif args.action == "disable":
            async with pool.acquire() as conn:
                if not await queries.disable_company(conn, _uuid(args.id, "ID")):
                    raise CliError("UnknownCompany", f"no active company {args.id}", EXIT_DATA)
            print(f"company {args.id} disabled: its webhooks now answer 404")
        return 0

    return asyncio.run(with_pool(settings, work))


def _token(args: argparse.Namespace) -> int:
    settings = load_settings()

    async def work(pool: Pool) -> int:
        if args.action == "add":
            made = await operators.add_token(pool, args.label)
            _print(
                args,
                made,
                f"token for {made['label']} (id {made['token_id']}):\n"
                f"{made['token']}\nShown once: store it in the platform's secrets now.",
            )
        else:
            async with pool.acquire() as conn:
                if not await queries.revoke_token(conn, _uuid(args.label, "ID")):
                    raise CliError("UnknownToken", f"no live token {args.label}", EXIT_DATA)
            print(f"token {args.label} revoked")
        return 0

    return asyncio.run(with_pool(settings, work))


def _members(args: argparse.Namespace) -> int:
    if args.action == "republish":
        if args.file is not None:
            raise CliError("UnexpectedFile", "members republish takes no file", EXIT_USAGE)
        return _members_republish(args)
    if args.file is None:
        raise CliError("MissingFile", "members import needs the CSV file", EXIT_USAGE)
    return _members_import(args)


def _members_republish(args: argparse.Namespace) -> int:
    settings = load_settings()

    async def work(pool: Pool) -> int:
        told = await operators.republish_members(pool, settings)
        print(f"told every service again about {told} member(s)")
        return 0

    return asyncio.run(with_pool(settings, work))


def _members_import(args: argparse.Namespace) -> int:
    settings = load_settings()
    path = Path(args.file)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CliError("NoSuchFile", f"{path} does not exist", EXIT_NOINPUT) from None
    except IsADirectoryError:
        raise CliError("BadFile", f"{path} is a directory, not a CSV file", EXIT_NOINPUT) from None
    except PermissionError:
        raise CliError("BadFile", f"{path} cannot be read (permissions)", EXIT_NOINPUT) from None
    # The whole file is checked before the database is asked for anything:
    # a wrong header or encoding is named even where no server runs.
    try:
        text, _ = member_csv.decode(data)
        parsed = member_csv.parse(text)
    except member_csv.CsvProblem as exc:
        raise CliError(exc.name, f"{path}: {exc}", EXIT_DATA) from None

    async def work(pool: Pool) -> int:
        imported, rejected = await operators.import_parsed(pool, settings, parsed)
        print(f"imported {imported} member(s); rejected {len(rejected)} row(s)")
        for row in rejected:
            print(f"  row {row.row}: {'; '.join(row.reasons)}", file=sys.stderr)
        return EXIT_DATA if rejected else 0

    return asyncio.run(with_pool(settings, work))


def _referral(args: argparse.Namespace) -> int:
    settings = load_settings()

    async def work(pool: Pool) -> int:
        async with pool.acquire() as conn, conn.transaction():
            if args.action == "list":
                rows = await referrals.list_referrals(conn, args.state)
                for row in rows:
                    print(json.dumps(row, default=str))
                return 0
            if not args.id:
                raise CliError("MissingId", "referral retry needs the referral's id", EXIT_USAGE)
            referral_id = _uuid(args.id, "ID")
            if not await referrals.retry(conn, referral_id):
                raise CliError("NotFailed", f"no failed referral {args.id}", EXIT_DATA)
            await audit.record(
                conn, "ingest", actor=audit.operator(), action="referral.retry",
                subject=str(referral_id),
            )  # fmt: skip
        print(f"referral {args.id} will be delivered again")
        return 0

    return asyncio.run(with_pool(settings, work))


def register(sub: Any) -> None:
    company = sub.add_parser("company", help="onboard companies and manage their secrets")
    company.add_argument(
        "action", choices=("add", "rotate-secret", "list", "disable", "set-callback")
    )
    company.add_argument("name", nargs="?", default="", help="the name (add) or the id")
    company.add_argument("url", nargs="?", default=None, help="set-callback: the callback URL")
    company.add_argument("--contact-email", help="add, set-callback: where referrals go by email")
    company.add_argument(
        "--callback", help="add: the https URL that receives referrals (or --contact-email)"
    )
    company.add_argument(
        "--clear", action="store_true", help="set-callback: remove the callback URL"
    )
    company.add_argument(
        "--new-secret", action="store_true", help="set-callback: issue a new delivery secret"
    )
    company.add_argument("--alias", action="append", default=[], help="another spelling")
    company.add_argument("--group", help="the parent group")
    company.add_argument("--json", action="store_true")
    company.set_defaults(func=_company)

    def company_id(args: argparse.Namespace) -> int:
        args.id = args.name
        if args.action in ("rotate-secret", "disable", "set-callback") and not args.id:
            raise CliError("MissingId", f"company {args.action} needs the company's id", EXIT_USAGE)
        if args.action == "add" and not args.name:
            raise CliError("MissingName", "company add needs the company's name", EXIT_USAGE)
        if args.action == "add" and args.callback is None and args.contact_email is None:
            raise CliError(
                "NoDeliveryChannel",
                "company add needs --callback URL or --contact-email: referrals must go somewhere",
                EXIT_USAGE,
            )
        if (
            args.action == "set-callback"
            and args.url is None
            and args.contact_email is None
            and not args.clear
        ):
            raise CliError(
                "NothingToSet", "give a callback URL, --contact-email, or --clear", EXIT_USAGE
            )
        return _company(args)

    company.set_defaults(func=company_id)

    token = sub.add_parser("token", help="API tokens for the community platform")
    token.add_argument("action", choices=("add", "revoke"))
    token.add_argument("label", help="what the token is for (add) or its id (revoke)")
    token.add_argument("--json", action="store_true")
    token.set_defaults(func=_token)

    referral = sub.add_parser("referral", help="referrals to companies: delivery state, retry")
    referral.add_argument("action", choices=("list", "retry"))
    referral.add_argument("id", nargs="?", help="retry: the referral's id")
    referral.add_argument(
        "--state",
        choices=("pending", "delivered", "failed", "withdrawn", "cancelled"),
        help="list: only this state (failed: the dead letters)",
    )
    referral.set_defaults(func=_referral)

    members = sub.add_parser("members", help="bulk operations on members")
    members.add_argument(
        "action",
        choices=("import", "republish"),
        help="import: a CSV file; republish: tell the matcher and the notifier every"
        " member's current profile again (after a deploy that keeps more of it)",
    )
    members.add_argument("file", nargs="?", help="import: a CSV file (columns in the README)")
    members.set_defaults(func=_members)
