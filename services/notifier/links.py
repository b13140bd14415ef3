"""The members' links: small pages, in the member's language, without login.

Every URL is ``/{action}/{token}``; the token (``tokens.py``) is signed,
expiring and opaque: it names a random link id or notification id, never the
member. GET shows a page and changes nothing, because mail scanners follow
links; POST acts. Unsubscribe accepts RFC 8058's one-click POST at the very
URL of the ``List-Unsubscribe`` header.

What a member decides here is recorded in the notifier's own tables and
takes effect for the emails at once. The member's platform owns the profile
and hears nothing back yet: there is no event contract for it (see README,
"Emails and members' links").
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

from services.notifier import consent, declines, planning, queries, tokens
from services.notifier.compose import InvalidAddress, validate_address
from services.notifier.consent_wording import CONSENT
from services.notifier.page_wording import PAGES, PageWording
from services.notifier.schedule import member_zone, parse_quiet_hours
from services.notifier.sender import link_key
from services.notifier.wording import BABEL_LOCALE, LANGUAGES, Language, language_of
from shared import logs, metrics
from shared.db import Pool
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
        values["page"] = None
        values["form"] = self.form_token(request)
        values.update(context)
        html = (
            _environment()
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
        cross-site Origin."""
        origin = request.headers.get("Origin")
        if origin and origin != "null":
            ours = {_origin(self.settings.public_url), f"{request.scheme}://{request.host}"}
            if origin.rstrip("/") not in ours:
                return False
        return consent.form_token_valid(
            self.form_keys,
            request.match_info.get("token", ""),
            str(form.get("form", "")),
            self.clock(),
        )

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
                return await view(request, prefs, PAGES[language_of(prefs.language)])

            return handle

        return wrap

    async def unsubscribe_get(
        self, request: web.Request, prefs: planning.Prefs, w: PageWording
    ) -> web.Response:
        token = tokens.issue(
            self.key,
            tokens.Action.PREFERENCES,
            prefs.link_id,
            tokens.DEFAULT_TTL[tokens.Action.PREFERENCES],
            now=self.clock(),
        )
        return self.page(
            request,
            prefs.language,
            page="unsubscribe",
            title=w.unsubscribe_title,
            text=[w.unsubscribe_text],
            prefs_url=f"/p/{token}",
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
            request, prefs.language, title=w.unsubscribed_title, text=[w.unsubscribed_text]
        )

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
        self, request: web.Request, prefs: planning.Prefs, w: PageWording, error: str | None = None
    ) -> web.Response:
        quiet = [*prefs.quiet_hours, "", ""][:2]
        return self.page(
            request,
            prefs.language,
            400 if error else 200,
            page="preferences",
            title=w.prefs_title,
            error=error,
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
            job=self._job(n),
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
            job=self._job(n),
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
            job=self._job(n),
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
            return self._referral_state(request, n, prefs, referral["state"])
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
            job=self._job(n),
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
        self, request: web.Request, n: Any, prefs: planning.Prefs, state: str
    ) -> web.Response:
        c = CONSENT[language_of(prefs.language)]
        company = n["company_name"]
        if state == "requested":
            title, text = c.ref_done_title, c.ref_done_text.format(company=company)
        elif state == "withdrawn":
            title, text = c.ref_withdrawn_title, c.ref_withdrawn_text
        elif state == "delivered":
            title, text = c.ref_delivered_title, c.ref_delivered_text.format(company=company)
        else:
            title, text = c.ref_other_title, c.ref_other_text
        return self.page(
            request,
            prefs.language,
            page="referral" if state == "requested" else None,
            title=title,
            text=[text],
            job=self._job(n),
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
        await request.post()  # one click is enough: nothing to lose by it
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


def _accepted(request: web.Request) -> Language:
    """The reader's language when we do not know the member (a broken link)."""
    for part in request.headers.get("Accept-Language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return language_of(code)
    return "en"


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
