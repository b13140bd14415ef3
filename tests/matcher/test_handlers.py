"""The matcher's handler pieces that need no server (the lifecycle itself is
proven against the real servers in test_service_real.py)."""

from datetime import date

from services.matcher import live, queries
from services.matcher.handlers import expired, found
from services.matcher.scoring import Match, score_member
from services.matcher.taxonomy import Role, default_taxonomy
from shared.events import Envelope, MatchFound
from tests.matcher.factories import member, posting


def test_match_found_carries_what_the_email_shows_and_no_member_data():
    p = posting(
        company_name="Initech S.r.l.",
        apply_url="https://initech.example/apply",
        valid_through="2030-01-31",
        revision=3,
    )
    m = member(sealed_contact="gAAAA-sealed", employer_names=("Globex SpA",))
    result = score_member(p, m)
    assert isinstance(result, Match)
    envelope = found("mid-1", p, m.member_id, result)
    event = Envelope.decode(envelope.encode()).payload(MatchFound)
    assert event.match_id == "mid-1"
    assert (event.posting_id, event.posting_revision, event.member_id) == ("p-1", 3, "m-1")
    assert (event.title, event.company_name) == (p.title, "Initech S.r.l.")
    assert (event.city, event.region, event.country, event.remote) == (
        "Milano",
        "Lombardia",
        "IT",
        "no",
    )
    assert (event.apply_url, event.valid_through) == ("https://initech.example/apply", "2030-01-31")
    body = envelope.encode().decode()
    for private in ("gAAAA-sealed", "Globex", "Assistente di direzione", "SAP"):
        assert private not in body


def test_the_read_model_keeps_no_sealed_contact():
    profile = queries.member_profile(member(sealed_contact="gAAAA-sealed"))
    assert "sealed_contact" not in profile
    assert profile["member_id"] == "m-1"


def test_an_expired_posting_is_recognised():
    today = date(2030, 6, 1)
    assert expired(posting(valid_through="2030-05-31"), today)
    assert not expired(posting(valid_through="2030-06-01T23:59:00Z"), today)
    assert not expired(posting(valid_through=None), today)
    assert not expired(posting(valid_through="soon"), today)


def test_imported_titles_round_trip_through_their_rows():
    base = default_taxonomy()
    extended = base.extended(
        titles={"executive-assistant": {"it": ["assistente di alta direzione"]}},
        new_roles=[
            Role(
                "esco:4131.1",
                "esco:4131.1",
                {"en": ("typist",), "it": ("dattilografo",)},
                "esco:4131.1",
            )
        ],
    )
    rows = live.imported_titles(extended, base)
    assert {(r.role_id, r.language, r.title) for r in rows} == {
        ("executive-assistant", "it", "assistente di alta direzione"),
        ("esco:4131.1", "en", "typist"),
        ("esco:4131.1", "it", "dattilografo"),
    }
    back = live.taxonomy_from_rows(rows, base)
    assert back.roles["esco:4131.1"].titles == {"en": ("typist",), "it": ("dattilografo",)}
    assert back.roles["esco:4131.1"].source == "esco:4131.1"
    assert "assistente di alta direzione" in back.roles["executive-assistant"].titles["it"]
    assert len(back) == len(base) + 1
