"""schema.org JobPosting (JSON-LD) mapped to a native posting: what maps,
what is refused by name, and that nothing raises whatever the document."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.ingest.jobposting import is_jobposting, to_posting
from services.ingest.schemas import check_posting


def ld(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "@context": "https://schema.org/",
        "@type": "JobPosting",
        "identifier": {"@type": "PropertyValue", "name": "Ferretti", "value": "FB-2026-014"},
        "title": "Assistente di Direzione",
        "description": "<p>Supporto all'amministratore delegato.</p>",
        "datePosted": "2026-11-20",
        "validThrough": "2026-12-31T23:59:00+01:00",
        "employmentType": ["FULL_TIME", "PART_TIME"],
        "hiringOrganization": {"@type": "Organization", "name": "Ferretti & Bianchi"},
        "jobLocation": {
            "@type": "Place",
            "address": {
                "@type": "PostalAddress",
                "addressLocality": "Milano",
                "addressRegion": "Lombardia",
                "addressCountry": "it",
            },
        },
        "baseSalary": {
            "@type": "MonetaryAmount",
            "currency": "EUR",
            "value": {
                "@type": "QuantitativeValue",
                "minValue": 38000,
                "maxValue": "45000",
                "unitText": "YEAR",
            },
        },
        "inLanguage": "it-IT",
        "url": "https://careers.example.it/fb-2026-014",
        "skills": "Excel, Inglese",
    }
    doc.update(overrides)
    return doc


def test_a_careers_site_jobposting_maps_to_a_valid_posting():
    assert is_jobposting(ld())
    posting, errors = to_posting(ld())
    assert errors == []
    assert posting == {
        "external_id": "FB-2026-014",
        "title": "Assistente di Direzione",
        "description": "<p>Supporto all'amministratore delegato.</p>",
        "employment_type": "FULL_TIME",
        "location": {"city": "Milano", "region": "Lombardia", "country": "IT"},
        "salary": {"currency": "EUR", "min": 38000, "max": 45000, "period": "YEAR"},
        "valid_through": "2026-12-31",
        "language": "it",
        "how_to_apply": {"url": "https://careers.example.it/fb-2026-014"},
        "skills": ["Excel", "Inglese"],
    }
    assert check_posting(posting) == []


def test_a_remote_opening_takes_its_country_from_the_applicant_requirements():
    doc = ld(
        jobLocationType="TELECOMMUTE",
        applicantLocationRequirements={"@type": "Country", "name": "SE"},
        baseSalary={"@type": "MonetaryAmount", "currency": "sek", "value": 42000,
                    "unitText": "MONTH"},
        employmentType="VOLUNTEER",
        identifier="se-77",
    )  # fmt: skip
    del doc["jobLocation"]
    posting, errors = to_posting(doc)
    assert errors == []
    assert posting["location"] == {"country": "SE"}
    assert posting["remote"] == "remote"
    assert posting["salary"] == {"currency": "SEK", "min": 42000, "max": 42000, "period": "MONTH"}
    assert posting["employment_type"] == "OTHER"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"identifier": None}, "data.identifier"),
        ({"title": ["", ""]}, "data.title"),
        ({"jobLocation": {"address": {"addressLocality": "Secret Town"}}},
         "data.jobLocation.address.addressCountry"),
        ({"baseSalary": {"currency": "EUR", "value": {"value": 900, "unitText": "WEEK"}}},
         "data.baseSalary.value.unitText"),
        ({"baseSalary": {"currency": "EUR", "value": {"minValue": "NaN", "unitText": "YEAR"}}},
         "data.baseSalary.value.minValue"),
        ({"baseSalary": {"currency": "euro", "value": 1}}, "data.baseSalary.currency"),
        ({"employmentType": "SEASONAL_SECRET"}, "data.employmentType"),
        ({"validThrough": "next spring"}, "data.validThrough"),
        ({"inLanguage": "Italiano!"}, "data.inLanguage"),
        ({"skills": [{"x": 1}]}, "data.skills"),
    ],
)  # fmt: skip
def test_what_cannot_be_mapped_is_named_without_its_value(change, field):
    _, errors = to_posting(ld(**change))
    assert field in [e.field for e in errors]
    shown = json.dumps([e.to_json() for e in errors])
    for value in ("Secret Town", "SEASONAL_SECRET", "next spring", "Italiano", "euro", "NaN"):
        assert value not in shown


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
keys = st.sampled_from(
    ["identifier", "title", "description", "employmentType", "jobLocation", "jobLocationType",
     "applicantLocationRequirements", "baseSalary", "validThrough", "inLanguage", "url", "skills"]
)  # fmt: skip


@given(st.dictionaries(keys, json_values, max_size=5))
def test_any_document_maps_or_is_refused_by_property_and_never_raises(extra):
    posting, errors = to_posting(ld(**extra))
    if not errors:
        # What mapped is then held to the native posting's schema and bounds;
        # that check itself must not raise either.
        check_posting(posting)
    assert all(e.field.startswith("data.") for e in errors)
