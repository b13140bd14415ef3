"""The members' links: small pages, in the member's language, without login.

Every URL is ``/{action}/{token}``; the token (``tokens.py``) is signed,
expiring and opaque: it names a random link id or notification id, never the
member. GET shows a page and changes nothing, because mail scanners follow
links; POST acts. Unsubscribe accepts RFC 8058's one-click POST at the very
URL of the ``List-Unsubscribe`` header.

What a member decides about the emails (how often, quiet hours, language,
a pause, unsubscribing) is recorded in the notifier's own tables and takes
effect at once. What they look for (roles, cities, remote work, languages,
blocked companies) belongs to the profile, which ingest owns: the edit goes
to ingest as ``profile.edited`` and comes back to every service as
``member.changed`` (``profile_edits.py``, docs/members.md).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from aiohttp import web
from babel.dates import format_date

from services.notifier import (
    consent,
    declines,
    opening,
    planning,
    profile_edits,
    profile_page,
    queries,
    tokens,
)
from services.notifier.catalogs import translations
from services.notifier.compose import InvalidAddress, validate_address
from services.notifier.consent_wording import CONSENT
from services.notifier.page_wording import PAGES, PageWording
from services.notifier.sanitise import clean_inline
from services.notifier.schedule import member_zone, parse_quiet_hours
from services.notifier.sender import link_key
from services.notifier.wording import BABEL_LOCALE, LANGUAGES, Language, language_of
from shared import logs, metrics
from shared.db import Pool
from shared.profile_edit import EditError
from shared.sealing import SealError, sealer_for
from shared.service import Runtime
from shared.settings import Settings

log = logs.get_logger(__name__)

_TEMPLATES = Path(__file__).parent / "templates" / "web"
REASONS = ("role", "place", "level", "company", "timing", "other", "none")
LANGUAGE_NAMES = {"it": "Italiano", "sv": "Svenska", "en": "English"}
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    # The token is in the path: never hand it to another site.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Robots-Tag": "noindex, nofollow",
}

View = Callable[[web.Request], Awaitable[web.Response]]
JobView = Callable[[web.Request, Any, planning.Prefs, PageWording], Awaitable[web.Response]]
MemberView = Callable[[web.Request, planning.Prefs, PageWording], Awaitable[web.Response]]


class LinkPages:
    def __init__(self, pool: Pool, settings: Settings, clock: Callable[[], datetime]) -> None:
        self.pool = pool
        self.settings = settings
        # Signs with the current key; old links stay valid under the previous ones.
        self.key = [link_key(k) for k in settings.secret_keys]
        self.form_keys = consent.form_keys(settings)
        self.sealer = sealer_for(settings.secret_keys)
        self.clock = clock

    # --- rendering ---

    def page(
        self, request: web.Request, language: str | None, status: int = 200, **context: Any
    ) -> web.Response:
        lang = language_of(language) if language else _accepted(request)
        w = PAGES[lang]
        values: dict[str, Any] = {"text": [], "error": None, "job": None, "note": None}
        values["done"] = None
        values["page"] = None
        values["form"] = self.form_token(request)
        values.update(context)
        html = (
            _environment(lang)
            .get_template("page.html.j2")
            .render(lang=lang, w=w, c=CONSENT[lang], action=request.path, **values)
        )
        return web.Response(
            status=status, text=html, content_type="text/html", charset="utf-8", headers=HEADERS
        )

    def refused(self, request: web.Request, exc: tokens.TokenError | None) -> web.Response:
        w = PAGES[_accepted(request)]
        if isinstance(exc, tokens.TokenExpired):
            return self.page(request, None, 410, title=w.expired_title, text=[w.expired_text])
        if exc is None:
            return self.page(request, None, 404, title=w.gone_title, text=[w.gone_text])
        return self.page(request, None, 400, title=w.invalid_title, text=[w.invalid_text])

    def verify(self, request: web.Request, action: tokens.Action) -> uuid.UUID:
        return tokens.verify(self.key, request.match_info["token"], action, self.clock())

    def form_token(self, request: web.Request) -> str:
        return consent.form_token(self.form_keys, request.match_info.get("token", ""), self.clock())

    def form_ok(self, request: web.Request, form: Any) -> bool:
        """CSRF: a recent form token we issued for this very link, and no
        cross-site request."""
        if self.cross_site(request):
            return False
        return consent.form_token_valid(
            self.form_keys,
            request.match_info.get("token", ""),
            str(form.get("form", "")),
            self.clock(),
        )

    def cross_site(self, request: web.Request) -> bool:
        """What the browser says of where the form was: another site's page
        (Origin, Sec-Fetch-Site) cannot post a member's choice for them."""
        fetch_site = request.headers.get("Sec-Fetch-Site")
        if fetch_site is not None and fetch_site not in ("same-origin", "none"):
            return True
        origin = request.headers.get("Origin")
        if origin and origin != "null":
            ours = {_origin(self.settings.public_url), f"{request.scheme}://{request.host}"}
            return origin.rstrip("/") not in ours
        return False

    async def post_ok(self, request: web.Request) -> bool:
        """Every state-changing POST of a member link: its form token, or,
        for the one-click links only (unsubscribe per RFC 8058, a colleague's
        "never again"), a request no browser marked as cross-site: mail
        clients post those without opening a page."""
        form = await request.post()
        if self.form_ok(request, form):
            return True
        one_click = request.path.startswith(("/u/", "/x/"))
        return one_click and not self.cross_site(request)

    def stale(self, request: web.Request, language: str) -> web.Response:
        c = CONSENT[language_of(language)]
        return self.page(request, language, 403, title=c.stale_form, text=[])

    # --- member links ---

    def member_view(self, action: tokens.Action) -> Callable[[MemberView], View]:
        def wrap(view: MemberView) -> View:
            @functools.wraps(view)
            async def handle(request: web.Request) -> web.Response:
                try:
                    link_id = self.verify(request, action)
                except tokens.TokenError as exc:
                    return self.refused(request, exc)
                async with self.pool.acquire() as conn:
                    prefs = await queries.member_by_link(conn, link_id)
                if prefs is None:
                    return self.refused(request, None)
                if request.method == "POST" and not await self.post_ok(request):
                    return self.stale(request, prefs.language)
                return await view(request, prefs, PAGES[language_of(prefs.language)])

            return handle

        return wrap

    async def unsubscribe_get(
        self, request: web.Request, prefs: planning.Prefs, w: PageWording
    ) -> web.Response:
        return self.page(
            request,
            prefs.language,
            page="unsubscribe",
            title=w.unsubscribe_title,
            text=[w.unsubscribe_text],
            prefs_url=self._prefs_url(prefs),
        )

    async def unsubscribe_post(
        self, request: web.Request, prefs: planning.Prefs, w: PageWording
    ) -> web.Response:
        async with self.pool.acquire() as conn, conn.transaction():
            if prefs.receives:
                await queries.set_choice(conn, prefs.member_id, unsubscribed_at=self.clock())
            await queries.cancel_member_pending(conn, prefs.member_id, "unsubscribed")
        log.info("member unsubscribed through a link")
        return self.page(
            request,
            prefs.language,
            page="unsubscribed",
            title=w.unsubscribed_title,
            text=[w.unsubscribed_text],
            prefs_url=self._prefs_url(prefs),
        )

    def _prefs_url(self, prefs: planning.Prefs) -> str:
        action = tokens.Action.PREFERENCES
        token = tokens.issue(
            self.key, action, prefs.link_id, tokens.DEFAULT_TTL[action], now=self.clock()
        )
        return f"/p/{token}"

    def _pause_bounds(self, prefs: planning.Prefs) -> tuple[date, date]:
        today = self.clock().astimezone(member_zone(prefs.timezone)).date()
        return today + timedelta(days=1), today + timedelta(days=365)

    async def pause_get(
        self, request: web.Request, prefs: planning.Prefs, w: PageWording, error: str | None = None
    ) -> web.Response:
        low, high = self._pause_bounds(prefs)
        return self.page(
            request,
            prefs.language,
            400 if error else 200,
            page="pause",
            title=w.pause_title,
            text=[w.pause_text],
            error=error,
            default_date=(low + timedelta(days=29)).isoformat(),
            min_date=low.isoformat(),
            max_date=high.isoformat(),
        )

    async def pause_post(
        self, request: web.Request, prefs: planning.Prefs, w: PageWording
    ) -> web.Response:
        form = await request.post()
        low, high = self._pause_bounds(prefs)
        try:
            until = date.fromisoformat(str(form.get("until", "")))
        except ValueError:
            return await self.pause_get(request, prefs, w, w.invalid_date)
        if not low <= until <= high:
            return await self.pause_get(request, prefs, w, w.invalid_date)
        moment = datetime.combine(until, time(0), tzinfo=member_zone(prefs.timezone))
        async with self.pool.acquire() as conn, conn.transaction():
            await queries.set_choice(
                conn, prefs.member_id, local_paused_until=moment.astimezone(UTC)
            )
            await self._reschedule(conn, prefs.member_id)
        shown = format_date(until, format="long", locale=BABEL_LOCALE[language_of(prefs.language)])
        return self.page(
            request,
            prefs.language,
            title=w.paused_title.format(date=shown),
            text=[w.paused_text.format(date=shown)],
        )

    async def preferences_get(
        self,
        request: web.Request,
        prefs: planning.Prefs,
        w: PageWording,
        error: str | None = None,
        done: str | None = None,
        profile_error: EditError | None = None,
        typed: dict[str, str] | None = None,
    ) -> web.Response:
        quiet = [*prefs.quiet_hours, "", ""][:2]
        token = request.match_info["token"]
        async with self.pool.acquire() as conn:
            stored = await queries.member_profile(conn, prefs.member_id)
        profile = profile_page.view(stored, language_of(prefs.language))
        paused = None
        if prefs.paused_until is not None and prefs.paused_until > self.clock():
            shown = prefs.paused_until.astimezone(member_zone(prefs.timezone)).date()
            locale = BABEL_LOCALE[language_of(prefs.language)]
            paused = w.prefs_paused.format(date=format_date(shown, format="long", locale=locale))
        return self.page(
            request,
            prefs.language,
            400 if error or profile_error else 200,
            page="preferences",
            title=w.prefs_title,
            error=error,
            done=done,
            paused=paused,
            resume_url=f"/p/{token}/resume",
            resubscribe_url=f"/p/{token}/resubscribe",
            profile_url=f"/p/{token}/profile",
            profile=profile,
            profile_error=profile_error,
            # What the member typed, shown again beside the error, not lost.
            cities=(typed or {}).get("cities", profile.cities),
            blocked=(typed or {}).get("blocked", profile.blocked),
            prefs=prefs,
            quiet=quiet,
            frequencies=[
                ("instant", w.freq_instant),
                ("daily", w.freq_daily),
                ("weekly", w.freq_weekly),
            ],
            languages=[(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
        )

    async def preferences_post(
        self, request: web.Request, prefs: planning.Prefs, w: PageWording
    ) -> web.Response:
        form = await request.post()
        frequency = str(form.get("frequency", prefs.frequency))
        language = str(form.get("language", prefs.language))
        quiet = [str(form.get("quiet_start", "")).strip(), str(form.get("quiet_end", "")).strip()]
        try:
            if frequency not in ("instant", "daily", "weekly") or language not in LANGUAGES:
                raise ValueError("not a choice on the form")
            quiet_hours = [] if quiet == ["", ""] else quiet
            parse_quiet_hours(quiet_hours)  # validates HH:MM pairs
        except ValueError:
            return await self.preferences_get(request, prefs, w, w.invalid_title)
        async with self.pool.acquire() as conn, conn.transaction():
            await queries.set_choice(
                conn,
                prefs.member_id,
                local_frequency=frequency,
                local_language=language,
                local_quiet_hours=quiet_hours,
            )
            await self._reschedule(conn, prefs.member_id)
        saved = PAGES[language_of(language)]
        return self.page(request, language, title=saved.saved_title, text=[saved.saved_text])

    async def profile_post(
        self, request: web.Request, prefs: planning.Prefs, w: PageWording
    ) -> web.Response:
        """What the member looks for: checked here, shown at once, and handed
        to ingest, the profile's owner (``profile_edits``)."""
        form = await request.post()
        async with self.pool.acquire() as conn:
            if not await queries.member_profile(conn, prefs.member_id):
                # No copy of the profile yet: the member could not see what
                # they would replace (profile_page.ProfileView.known).
                return await self.preferences_get(request, prefs, w, error=w.invalid_title)
        try:
            edit = profile_page.edit_from_form(form)
        except EditError as exc:
            typed = {
                name: str(value)[:5000]
                for name in ("cities", "blocked")
                if isinstance(value := form.get(name, ""), str)
            }
            return await self.preferences_get(request, prefs, w, profile_error=exc, typed=typed)
        with logs.sensitive(*edit.blocked_companies):
            async with self.pool.acquire() as conn, conn.transaction():
                await profile_edits.edit_profile(
                    conn, self.sealer, prefs.member_id, edit, self.clock()
                )
        log.info("member edited their profile through a link")
        done = translations(language_of(prefs.language)).gettext(
            "Saved. From now on we look for openings that fit what you chose."
        )
        return await self.preferences_get(request, prefs, w, done=done)

    async def resume_post(
        self, request: web.Request, prefs: planning.Prefs, w: PageWording
    ) -> web.Response:
        """End a pause now, whoever set it: the member's choice wins until the
        platform sends a different pause (planning.Prefs.from_row)."""
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            if prefs.paused_until is not None and prefs.paused_until > now:
                await queries.set_choice(conn, prefs.member_id, local_paused_until=now)
                await self._reschedule(conn, prefs.member_id)
            updated = await queries.member(conn, prefs.member_id)
        log.info("member ended a pause through a link")
        return await self.preferences_get(request, updated or prefs, w, done=w.prefs_resumed)

    async def resubscribe_post(
        self, request: web.Request, prefs: planning.Prefs, w: PageWording
    ) -> web.Response:
        """Undo an unsubscribe made on a link. Openings cancelled meanwhile stay
        cancelled: the member hears of new ones, not of a backlog."""
        async with self.pool.acquire() as conn, conn.transaction():
            if prefs.unsubscribed:
                await queries.set_choice(conn, prefs.member_id, unsubscribed_at=None)
                await self._reschedule(conn, prefs.member_id)
            updated = await queries.member(conn, prefs.member_id)
        log.info("member resubscribed through a link")
        return await self.preferences_get(request, updated or prefs, w, done=w.prefs_resubscribed)

    async def _reschedule(self, conn: Any, member_id: str) -> None:
        updated = await queries.member(conn, member_id)
        if updated is not None and updated.receives:
            await queries.reschedule_member(conn, member_id, planning.due_at(updated, self.clock()))

    # --- job links ---

    def job_view(self, action: tokens.Action) -> Callable[[JobView], View]:
        def wrap(view: JobView) -> View:
            @functools.wraps(view)
            async def handle(request: web.Request) -> web.Response:
                try:
                    notification_id = self.verify(request, action)
                except tokens.TokenError as exc:
                    return self.refused(request, exc)
                async with self.pool.acquire() as conn:
                    n = await queries.notification(conn, notification_id)
                    prefs = None if n is None else await queries.member(conn, n["member_id"])
                if n is None or prefs is None:
                    return self.refused(request, None)
                if request.method == "POST" and not await self.post_ok(request):
                    return self.stale(request, prefs.language)
                return await view(request, n, prefs, PAGES[language_of(prefs.language)])

            return handle

        return wrap

    @staticmethod
    def _job(n: Any) -> dict[str, Any]:
        return {
            "title": n["title"],
            "company": n["company_name"],
            "city": n["city"],
            "apply_url": n["apply_url"],
        }

    def _job_page(self, n: Any) -> dict[str, Any]:
        """The job as an action page shows it: with a link to its opening
        page (this member's own link, so never in what a colleague receives)."""
        return {**self._job(n), "opening_url": self._job_link("o", tokens.Action.OPENING, n)}

    def _job_link(self, path: str, action: tokens.Action, n: Any) -> str:
        token = tokens.issue(
            self.key, action, n["id"], tokens.DEFAULT_TTL[action], now=self.clock()
        )
        return f"/{path}/{token}"

    # --- the opening itself ---

    async def opening_get(
        self, request: web.Request, n: Any, prefs: planning.Prefs, w: PageWording
    ) -> web.Response:
        lang = language_of(prefs.language)
        async with self.pool.acquire() as conn:
            details = await queries.opening(conn, n["posting_id"])
        description = None if details is None else details["description"]
        place = ", ".join(
            clean_inline(part, limit=100) for part in (n["city"], n["region"]) if part
        )
        return self.page(
            request,
            prefs.language,
            page="opening",
            title=clean_inline(n["title"], limit=160),
            opening={
                "company": clean_inline(n["company_name"], limit=120),
                "place": place,
                "salary": None if details is None else opening.salary(
                    details["salary_min"], details["salary_max"], details["salary_currency"],
                    details["salary_period"], lang, w,
                ),
                "deadline": opening.deadline(n["valid_through"], lang, w),
                "closed": details is not None and not details["open"],
                "paragraphs": opening.paragraphs(description),
                "apply_url": _web_url(n["apply_url"]),
                "interested": self._job_link("i", tokens.Action.INTERESTED, n),
                "not_for_me": self._job_link("n", tokens.Action.NOT_FOR_ME, n),
                "forward": self._job_link("f", tokens.Action.FORWARD, n),
            },
        )  # fmt: skip

    async def not_for_me_get(
        self, request: web.Request, n: Any, prefs: planning.Prefs, w: PageWording
    ) -> web.Response:
        reasons = [(r, getattr(w, f"reason_{r}")) for r in REASONS]
        return self.page(
            request,
            prefs.language,
            page="not_for_me",
            title=w.nfm_title,
            text=[w.nfm_text],
            job=self._job_page(n),
            reasons=reasons,
        )

    async def not_for_me_post(
        self, request: web.Request, n: Any, prefs: planning.Prefs, w: PageWording
    ) -> web.Response:
        form = await request.post()
        reason = str(form.get("reason", "none"))
        if reason not in REASONS:
            reason = "none"
        async with self.pool.acquire() as conn, conn.transaction():
            await declines.not_for_me(conn, n, reason)
        return self.page(request, prefs.language, title=w.nfm_done_title, text=[w.nfm_done_text])

    def _contact(self, prefs: planning.Prefs) -> dict[str, Any]:
        if not prefs.sealed_contact:
            return {}
        try:
            return self.sealer.open(prefs.sealed_contact)
        except SealError:
            return {}

    # --- forward to a colleague ---

    async def forward_get(
        self,
        request: web.Request,
        n: Any,
        prefs: planning.Prefs,
        w: PageWording,
        error: str | None = None,
        status: int = 200,
        colleague: str = "",
        note: str = "",
    ) -> web.Response:
        c = CONSENT[language_of(prefs.language)]
        return self.page(
            request,
            prefs.language,
            status,
            page="forward",
            title=w.fwd_title,
            text=[c.fwd_intro],
            note=c.fwd_privacy,
            error=error,
            job=self._job_page(n),
            colleague=colleague,
            message=note,
        )

    async def forward_post(
        self, request: web.Request, n: Any, prefs: planning.Prefs, w: PageWording
    ) -> web.Response:
        form = await request.post()
        if not self.form_ok(request, form):
            return self.stale(request, prefs.language)
        c = CONSENT[language_of(prefs.language)]
        address = str(form.get("colleague", "")).strip()
        note = consent.clean_note(str(form.get("note", "")))
        try:
            validate_address(address)
        except InvalidAddress:
            return await self.forward_get(
                request, n, prefs, w, c.fwd_bad_address, 400, address, note
            )
        contact = self._contact(prefs)
        digests = consent.colleague_hashes(self.settings, address)
        with logs.sensitive(address, note, contact.get("name")):
            async with self.pool.acquire() as conn, conn.transaction():
                # One member's forwards at a time: the limit cannot be raced.
                await conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext($1))", f"fwd:{prefs.member_id}"
                )
                if await consent.forwards_today(conn, prefs.member_id) >= (
                    self.settings.forward_daily_limit
                ):
                    return await self.forward_get(request, n, prefs, w, c.fwd_limit, 429)
                if await consent.forwarded_to_today(conn, prefs.member_id, digests):
                    return await self.forward_get(request, n, prefs, w, c.fwd_again, 429)
                await consent.add_forward(
                    conn,
                    self.sealer,
                    notification=n,
                    digests=digests,
                    send={
                        "address": address,
                        "note": note,
                        "from_name": contact.get("name") or "",
                        "language": prefs.language,
                        "job": self._job(n),
                    },
                )
        log.info("opening forwarded to a colleague")
        return self.page(
            request,
            prefs.language,
            title=c.fwd_sent_title,
            text=[c.fwd_sent_text],
            job=self._job_page(n),
        )

    # --- interested: refer me ---

    async def interested_get(
        self,
        request: web.Request,
        n: Any,
        prefs: planning.Prefs,
        w: PageWording,
        error: str | None = None,
        status: int = 200,
        note: str = "",
        profile_url: str = "",
    ) -> web.Response:
        c = CONSENT[language_of(prefs.language)]
        async with self.pool.acquire() as conn:
            referral = await consent.referral_of(conn, prefs.member_id, n["posting_id"])
            closed = await queries.posting_is_closed(conn, n["posting_id"])
        if referral is not None and referral["state"] != "withdrawn":
            return self._referral_state(
                request, n, prefs, referral["state"], delayed=referral["delayed_at"] is not None
            )
        contact = self._contact(prefs)
        if not contact.get("email"):
            return self.page(
                request, prefs.language, 409, title=c.ref_title, text=[c.ref_no_contact]
            )
        if closed:
            return self.page(request, prefs.language, 410, title=c.ref_title, text=[c.ref_closed])
        return self.page(
            request,
            prefs.language,
            status,
            page="interested",
            title=c.ref_title,
            text=[c.ref_intro.format(company=n["company_name"])],
            note=c.ref_nothing_before,
            error=error,
            job=self._job_page(n),
            candidate={"name": contact.get("name") or "", "email": contact.get("email")},
            message=note,
            profile_url=profile_url,
        )

    async def interested_post(
        self, request: web.Request, n: Any, prefs: planning.Prefs, w: PageWording
    ) -> web.Response:
        form = await request.post()
        if not self.form_ok(request, form):
            return self.stale(request, prefs.language)
        c = CONSENT[language_of(prefs.language)]
        note = consent.clean_note(str(form.get("note", "")))
        raw_profile = str(form.get("profile_url", ""))
        try:
            profile_url = consent.clean_profile_url(raw_profile)
        except ValueError:
            return await self.interested_get(
                request, n, prefs, w, c.ref_bad_profile, 400, note, raw_profile[:300]
            )
        contact = self._contact(prefs)
        if not contact.get("email"):
            return self.page(
                request, prefs.language, 409, title=c.ref_title, text=[c.ref_no_contact]
            )
        sent = {
            "name": contact.get("name") or "",
            "email": contact["email"],
            "note": note,
            "profile_url": profile_url,
        }
        with logs.sensitive(sent["name"], sent["email"], note):
            async with self.pool.acquire() as conn, conn.transaction():
                if await queries.posting_is_closed(conn, n["posting_id"]):
                    return self.page(
                        request, prefs.language, 410, title=c.ref_title, text=[c.ref_closed]
                    )
                referral_id = await consent.request_referral(
                    conn, self.sealer, notification=n, language=prefs.language, sent=sent,
                    now=self.clock(),
                )  # fmt: skip
        if referral_id is not None:
            metrics.observe_referral("requested")
            log.info("referral requested", referral_id=str(referral_id))
        return self._referral_state(request, n, prefs, "requested")

    async def withdraw_post(
        self, request: web.Request, n: Any, prefs: planning.Prefs, w: PageWording
    ) -> web.Response:
        form = await request.post()
        if not self.form_ok(request, form):
            return self.stale(request, prefs.language)
        async with self.pool.acquire() as conn, conn.transaction():
            referral = await consent.referral_of(conn, prefs.member_id, n["posting_id"])
            if referral is not None and referral["state"] == "requested":
                if await consent.withdraw_referral(conn, referral["referral_id"], prefs.member_id):
                    metrics.observe_referral("withdrawn")
                state = "withdrawn"
            else:
                state = referral["state"] if referral is not None else "withdrawn"
        return self._referral_state(request, n, prefs, state)

    def _referral_state(
        self,
        request: web.Request,
        n: Any,
        prefs: planning.Prefs,
        state: str,
        *,
        delayed: bool = False,
    ) -> web.Response:
        c = CONSENT[language_of(prefs.language)]
        company = n["company_name"]
        if state == "requested" and delayed:
            w = PAGES[language_of(prefs.language)]
            title, text = w.ref_delayed_title, w.ref_delayed_text.format(company=company)
        elif state == "requested":
            title, text = c.ref_done_title, c.ref_done_text.format(company=company)
        elif state == "withdrawn":
            title, text = c.ref_withdrawn_title, c.ref_withdrawn_text
        elif state == "delivered":
            title, text = c.ref_delivered_title, c.ref_delivered_text.format(company=company)
        elif state == "failed":
            # Not "nothing was sent": a callback may have arrived unconfirmed.
            w = PAGES[language_of(prefs.language)]
            title, text = w.ref_failed_title, w.ref_failed_text.format(company=company)
        else:
            title, text = c.ref_other_title, c.ref_other_text
        return self.page(
            request,
            prefs.language,
            page="referral" if state == "requested" else None,
            title=title,
            text=[text],
            job=self._job_page(n),
            withdraw_url=f"/i/{request.match_info['token']}/withdraw",
        )

    # --- a colleague's "never write to me again" ---

    async def never_get(self, request: web.Request) -> web.Response:
        lang = _accepted(request)
        try:
            self.verify(request, tokens.Action.NEVER)
        except tokens.TokenError as exc:
            return self.refused(request, exc)
        c = CONSENT[lang]
        return self.page(request, lang, page="never", title=c.never_title, text=[c.never_text])

    async def never_post(self, request: web.Request) -> web.Response:
        lang = _accepted(request)
        try:
            forward_id = self.verify(request, tokens.Action.NEVER)
        except tokens.TokenError as exc:
            return self.refused(request, exc)
        if not await self.post_ok(request):  # one click, but not another site's
            return self.stale(request, lang)
        async with self.pool.acquire() as conn:
            await consent.never_again(conn, forward_id)
        c = CONSENT[lang]
        return self.page(request, lang, title=c.never_done_title, text=[c.never_done_text])


def add_routes(
    app: web.Application,
    pool: Pool,
    settings: Settings,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> LinkPages:
    pages = LinkPages(pool, settings, clock)
    a = tokens.Action
    member, job = pages.member_view, pages.job_view
    app.router.add_get("/u/{token}", member(a.UNSUBSCRIBE)(pages.unsubscribe_get))
    app.router.add_post("/u/{token}", member(a.UNSUBSCRIBE)(pages.unsubscribe_post))
    app.router.add_get("/pause/{token}", member(a.PAUSE)(pages.pause_get))
    app.router.add_post("/pause/{token}", member(a.PAUSE)(pages.pause_post))
    app.router.add_get("/p/{token}", member(a.PREFERENCES)(pages.preferences_get))
    app.router.add_post("/p/{token}", member(a.PREFERENCES)(pages.preferences_post))
    app.router.add_post("/p/{token}/profile", member(a.PREFERENCES)(pages.profile_post))
    app.router.add_post("/p/{token}/resume", member(a.PREFERENCES)(pages.resume_post))
    app.router.add_post("/p/{token}/resubscribe", member(a.PREFERENCES)(pages.resubscribe_post))
    app.router.add_get("/o/{token}", job(a.OPENING)(pages.opening_get))
    app.router.add_get("/n/{token}", job(a.NOT_FOR_ME)(pages.not_for_me_get))
    app.router.add_post("/n/{token}", job(a.NOT_FOR_ME)(pages.not_for_me_post))
    app.router.add_get("/f/{token}", job(a.FORWARD)(pages.forward_get))
    app.router.add_post("/f/{token}", job(a.FORWARD)(pages.forward_post))
    app.router.add_get("/i/{token}", job(a.INTERESTED)(pages.interested_get))
    app.router.add_post("/i/{token}", job(a.INTERESTED)(pages.interested_post))
    app.router.add_post("/i/{token}/withdraw", job(a.INTERESTED)(pages.withdraw_post))
    app.router.add_get("/x/{token}", pages.never_get)
    app.router.add_post("/x/{token}", pages.never_post)
    return pages


def routes(app: web.Application, runtime: Runtime) -> None:
    """ServiceSpec.routes entry point."""
    add_routes(app, runtime.pool, runtime.settings)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _web_url(value: object) -> str | None:
    """A company's apply link, only if it is a plain http(s) address: nothing
    else (javascript:, data:) becomes a clickable link on our page."""
    if not isinstance(value, str) or len(value) > 2000:
        return None
    url = value.strip()
    if any(c in url for c in " \t\r\n<>\"'\\"):
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return url


def _accepted(request: web.Request) -> Language:
    """The reader's language when we do not know the member (a broken link)."""
    for part in request.headers.get("Accept-Language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return language_of(code)
    return "en"


@functools.cache
def _environment(language: Language) -> jinja2.Environment:
    # One environment per language, as for the emails (compose._environment):
    # the page's text is in the gettext catalogs, through ``_()``.
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        extensions=["jinja2.ext.i18n"],
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    environment.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    return environment
