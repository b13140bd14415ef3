"""The preview writer produces every language's sample emails."""

from __future__ import annotations

import email
import email.policy

from services.notifier.preview import write_previews


def test_write_previews(tmp_path):
    paths = write_previews(tmp_path)
    names = {p.name for p in paths}
    for language in ("it", "sv", "en"):
        for stem in (language, f"{language}-digest"):
            assert {f"{stem}.html", f"{stem}.txt", f"{stem}.eml"} <= names
    html = (tmp_path / "it.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert '<html lang="it"' in html
    parsed = email.message_from_bytes(
        (tmp_path / "sv-digest.eml").read_bytes(), policy=email.policy.default
    )
    assert parsed.get_content_type() == "multipart/alternative"
