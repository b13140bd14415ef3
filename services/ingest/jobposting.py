"""A schema.org ``JobPosting`` (the JSON-LD careers sites publish for search
engines) as a native posting: no I/O, only the mapping.

Companies already publish this document; accepting it as a webhook's
``data`` saves them writing a second format. What maps is mapped; what
cannot be (a salary per week, a location without a country) is an error
naming the JSON-LD property, never its value. Properties passaparola has no
use for (``hiringOrganization``, ``datePosted``, ...) are ignored: the
company is the one the webhook URL names. The result is then checked like a
native posting (bounds included), so the same limits hold for both.
"""

from __future__ import annotations

import math
import re
from typing import Any

from services.ingest.schemas import FieldError

EMPLOYMENT_TYPES = ("FULL_TIME", "PART_TIME", "CONTRACTOR", "TEMPORARY", "INTERN", "OTHER")
# schema.org also lists these; passaparola has no closer kind.
OTHER_EMPLOYMENT = ("VOLUNTEER", "PER_DIEM")
PERIODS = {"HOUR": "HOUR", "MONTH": "MONTH", "YEAR": "YEAR"}


def is_jobposting(data: Any) -> bool:
    if not isinstance(data, dict):
        return False
    kind = data.get("@type")
    return kind == "JobPosting" or (isinstance(kind, list) and "JobPosting" in kind)


def _first(value: Any) -> Any:
    # JSON-LD allows one value or a list of them anywhere.
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _text(value: Any) -> str | None:
    value = _first(value)
    if isinstance(value, dict):
        value = value.get("value", value.get("name"))
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) and value.strip() else None


def to_posting(
    doc: dict[str, Any], prefix: str = "data"
) -> tuple[dict[str, Any], list[FieldError]]:
    """The native posting and what could not be mapped."""
    errors: list[FieldError] = []
    posting: dict[str, Any] = {}

    def fail(field: str, message: str) -> None:
        errors.append(FieldError(f"{prefix}.{field}", message))

    identifier = _text(doc.get("identifier"))
    if identifier is None:
        fail("identifier", "is required: the company's own id for the opening")
    else:
        posting["external_id"] = identifier.strip()
    title = _text(doc.get("title"))
    if title is None:
        fail("title", "is required")
    else:
        posting["title"] = title
    if "description" in doc:
        description = _text(doc["description"])
        if description is None:
            fail("description", "must be text")
        else:
            posting["description"] = description
    _employment(doc, posting, fail)
    _location(doc, posting, fail)
    _salary(doc, posting, fail)
    if "validThrough" in doc:
        through = _text(doc["validThrough"])
        if through is None or not re.match(r"\d{4}-\d{2}-\d{2}", through):
            fail("validThrough", "must be an ISO 8601 date or date and time")
        else:
            posting["valid_through"] = through[:10]
    if "inLanguage" in doc:
        language = _text(doc["inLanguage"])
        match = re.fullmatch(r"([A-Za-z]{2,3})(-[A-Za-z0-9]{1,8})*", language or "")
        if match is None:
            fail("inLanguage", "must be a language code such as it, sv-SE or en")
        else:
            posting["language"] = match.group(1).lower()
    if "url" in doc:
        url = _text(doc["url"])
        if url is None:
            fail("url", "must be a URL")
        else:
            posting["how_to_apply"] = {"url": url}
    if "skills" in doc:
        skills = _skills(doc["skills"])
        if skills is None:
            fail("skills", "must be text, a list of texts or of DefinedTerm")
        elif skills:
            posting["skills"] = skills
    return posting, errors


def _employment(doc: dict[str, Any], posting: dict[str, Any], fail: Any) -> None:
    if "employmentType" not in doc:
        return
    kinds = doc["employmentType"]
    kinds = kinds if isinstance(kinds, list) else [kinds]
    names = [
        k.strip().upper().replace("-", "_").replace(" ", "_") for k in kinds if isinstance(k, str)
    ]
    if not names or len(names) != len(kinds):
        fail("employmentType", "must be text, e.g. FULL_TIME")
        return
    # The first kind passaparola knows; several (FULL_TIME, PART_TIME) keep the first.
    for name in names:
        if name in EMPLOYMENT_TYPES:
            posting["employment_type"] = name
            return
        if name in OTHER_EMPLOYMENT:
            posting["employment_type"] = "OTHER"
            return
    fail("employmentType", "must be one of: " + ", ".join(EMPLOYMENT_TYPES + OTHER_EMPLOYMENT))


def _country(value: Any) -> str | None:
    text = _text(value)
    return text.strip().upper() if text is not None else None


def _location(doc: dict[str, Any], posting: dict[str, Any], fail: Any) -> None:
    remote = _text(doc.get("jobLocationType")) == "TELECOMMUTE"
    place = _first(doc.get("jobLocation"))
    address = place.get("address") if isinstance(place, dict) else None
    address = _first(address)
    location: dict[str, Any] = {}
    if isinstance(address, dict):
        for key, field in (("addressLocality", "city"), ("addressRegion", "region")):
            text = _text(address.get(key))
            if text is not None:
                location[field] = text.strip()
        country = _country(address.get("addressCountry"))
        if country is not None:
            location["country"] = country
    elif address is not None:
        fail("jobLocation.address", "must be a PostalAddress")
        return
    if "country" not in location and remote:
        # A remote opening names where applicants may live instead.
        required = _first(doc.get("applicantLocationRequirements"))
        country = _country(required.get("name") if isinstance(required, dict) else required)
        if country is not None:
            location["country"] = country
    if "country" not in location:
        fail(
            "jobLocation.address.addressCountry",
            "is required (or applicantLocationRequirements for a TELECOMMUTE opening)",
        )
        return
    posting["location"] = location
    if remote:
        posting["remote"] = "remote"


def _number(value: Any) -> float | int | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        if not math.isfinite(number):  # "NaN" and "1e999" parse; no salary is either
            return None
        return int(number) if number.is_integer() else number
    return None


def _salary(doc: dict[str, Any], posting: dict[str, Any], fail: Any) -> None:
    if "baseSalary" not in doc:
        return
    amount = _first(doc["baseSalary"])
    if not isinstance(amount, dict):
        fail("baseSalary", "must be a MonetaryAmount")
        return
    currency = _text(amount.get("currency"))
    if currency is None or not re.fullmatch(r"[A-Za-z]{3}", currency):
        fail("baseSalary.currency", "must be an ISO 4217 code such as EUR or SEK")
        return
    value = amount.get("value")
    salary: dict[str, Any] = {"currency": currency.upper()}
    unit: str | None = None
    if isinstance(value, dict):  # QuantitativeValue
        unit = _text(value.get("unitText"))
        for key, field in (("minValue", "min"), ("maxValue", "max"), ("value", "min")):
            if key in value and field not in salary:
                number = _number(value[key])
                if number is None:
                    fail(f"baseSalary.value.{key}", "must be a number")
                    return
                salary[field] = number
        if "value" in value and "maxValue" not in value:
            salary["max"] = salary["min"]
    else:
        number = _number(value)
        if number is None:
            fail("baseSalary.value", "must be a number or a QuantitativeValue")
            return
        salary["min"] = salary["max"] = number
    unit = unit or _text(amount.get("unitText"))
    period = PERIODS.get((unit or "").strip().upper())
    if period is None:
        fail(
            "baseSalary.value.unitText",
            "must be HOUR, MONTH or YEAR (the periods passaparola shows)",
        )
        return
    salary["period"] = period
    posting["salary"] = salary


def _skills(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [s.strip() for s in value.split(",") if s.strip()]
    if not isinstance(value, list):
        value = [value]
    skills: list[str] = []
    for item in value:
        text = _text(item)
        if text is None:
            return None
        skills.append(text.strip())
    return skills


_TEXT_OR_LIST = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}

# What /openapi.json shows: the properties read, as schema.org spells them.
# Others may be present (JSON-LD carries many) and are ignored.
SCHEMA: dict[str, Any] = {
    "title": "SchemaOrgJobPosting",
    "description": (
        "A schema.org JobPosting (JSON-LD), as careers sites publish it for search engines; "
        "mapped to a Posting: identifier -> external_id, title, description, employmentType, "
        "jobLocation.address (addressLocality, addressRegion, addressCountry) -> location, "
        "jobLocationType TELECOMMUTE -> remote (country from applicantLocationRequirements), "
        "baseSalary (MonetaryAmount with a number or a QuantitativeValue; unitText HOUR, MONTH "
        "or YEAR) -> salary, validThrough -> valid_through, inLanguage -> language, "
        "url -> how_to_apply.url, skills. What cannot be mapped is a 422 naming the property."
    ),
    "type": "object",
    "required": ["@type", "identifier", "title"],
    "properties": {
        "@context": {"type": "string", "example": "https://schema.org/"},
        "@type": {"const": "JobPosting"},
        "identifier": {
            "oneOf": [
                {"type": "string"},
                {
                    "type": "object",
                    "properties": {
                        "@type": {"const": "PropertyValue"},
                        "value": {"type": "string"},
                    },
                },
            ]
        },
        "title": {"type": "string"},
        "description": {"type": "string"},
        "employmentType": _TEXT_OR_LIST,
        "jobLocation": {"type": "object", "description": "A Place with a PostalAddress."},
        "jobLocationType": {"type": "string", "example": "TELECOMMUTE"},
        "applicantLocationRequirements": {"type": "object", "description": "A Country."},
        "baseSalary": {"type": "object", "description": "A MonetaryAmount."},
        "validThrough": {"type": "string"},
        "inLanguage": {"type": "string", "example": "it-IT"},
        "url": {"type": "string"},
        "skills": _TEXT_OR_LIST,
    },
}
