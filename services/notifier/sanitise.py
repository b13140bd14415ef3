"""Making text that came from outside (a company, a profile) safe to print in a body.

Such text never reaches a header; in a body it is still reduced to one clean
line: control characters (CR, LF, NUL...), line and paragraph separators and
bidirectional overrides (which can make "moc.live" read as "evil.com") become
spaces, runs of whitespace collapse, and the length is capped so a hostile
title cannot push the links out of sight. HTML escaping is the templates' job
(Jinja2 autoescape), not this module's.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["clean_inline", "strip_controls"]

# Zero-width (non-)joiners are format characters some scripts and emoji need.
_KEEP_FORMAT = {"\u200c", "\u200d"}
_SPACES = re.compile(r"\s+")


def clean_inline(value: object, limit: int = 200) -> str:
    """One printable line of at most ``limit`` characters ("" for a non-string)."""
    if not isinstance(value, str):
        return ""
    text = unicodedata.normalize("NFC", value)
    text = "".join(" " if _is_unsafe(ch) else ch for ch in text)
    text = _SPACES.sub(" ", text).strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def strip_controls(text: str) -> str:
    """Remove control characters but keep line breaks and tabs (template output)."""
    return "".join(ch for ch in text if ch in "\n\t" or not _is_unsafe(ch))


def _is_unsafe(ch: str) -> bool:
    category = unicodedata.category(ch)
    if category == "Cf":
        return ch not in _KEEP_FORMAT
    return category in {"Cc", "Cs", "Co", "Zl", "Zp"}
