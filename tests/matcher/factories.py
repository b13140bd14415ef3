"""Event-shaped postings and members for the matcher's tests."""

from typing import Any

from shared.events import JobPosting, MemberChanged


def posting(**fields: Any) -> JobPosting:
    base: dict[str, Any] = {
        "posting_id": "p-1",
        "company_id": "c-1",
        "revision": 1,
        "title": "Executive Assistant to the CEO",
        "city": "Milano",
        "region": "Lombardia",
        "country": "IT",
        "remote": "no",
        "languages_required": ("it", "en"),
        "languages_nice": ("sv",),
        "skills": ("MS Office", "Travel management"),
        "seniority": "senior",
        "company_names": ("Initech S.r.l.",),
    }
    base.update(fields)
    return JobPosting(**base)


def member(**fields: Any) -> MemberChanged:
    base: dict[str, Any] = {
        "member_id": "m-1",
        "revision": 1,
        "opted_in": True,
        "desired_roles": ("Assistente di direzione",),
        "skills": ("ms-office", "travel management", "SAP"),
        "languages": ("it", "en"),
        "cities": ("Milano",),
        "regions": ("Lombardia",),
        "country": "IT",
        "remote": "hybrid",
        "seniority": "senior",
        "employer_names": ("Globex SpA",),
        "blocked_companies": (),
    }
    base.update(fields)
    return MemberChanged(**base)
