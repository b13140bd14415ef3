"""The OpenAPI 3.1 document of ingest, built from the schemas it enforces."""

from __future__ import annotations

import copy
from typing import Any

from services.ingest import jobposting
from services.ingest.bounds import MAX_SIGNATURE, MAX_TIMESTAMP, MAX_WEBHOOK_ID
from services.ingest.schemas import CLOSING, MEMBER, POSTING, WEBHOOK

PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}

ACCEPTED = {
    "type": "object",
    "required": ["posting_id", "external_id", "revision", "status", "outcome"],
    "properties": {
        "posting_id": {"type": "string", "format": "uuid"},
        "external_id": {"type": "string"},
        "revision": {"type": "integer"},
        "status": {"enum": ["open", "closed"]},
        "outcome": {
            "enum": [
                "created",
                "updated",
                "closed",
                "unchanged",
                "stale",
                "already_closed",
                "closed_unknown",
            ]
        },
    },
}

MEMBER_SAVED = {
    "type": "object",
    "required": ["member_id", "external_id", "revision", "outcome"],
    "properties": {
        "member_id": {"type": "string", "format": "uuid"},
        "external_id": {"type": "string"},
        "revision": {"type": "integer"},
        "outcome": {"enum": ["created", "updated", "unchanged"]},
    },
}


EXPORT_STATUS: dict[str, Any] = {
    "type": "object",
    "required": ["export_id", "status"],
    "properties": {
        "export_id": {"type": "string", "format": "uuid"},
        "status": {"enum": ["pending"]},
        "location": {"type": "string"},
        "waiting_for": {"type": "array", "items": {"type": "string"}},
    },
}


def _problems(*codes: int) -> dict[str, Any]:
    reasons = {
        400: "Malformed JSON, a body that is not UTF-8, a number out of range (NaN, "
        "Infinity, more than 15 digits) or a header over its length.",
        401: "Missing, malformed or wrong signature or token, or a stale timestamp.",
        404: "Unknown or disabled company, or unknown member.",
        409: "The posting is closed.",
        413: "The body is over the size limit.",
        415: "The body is not application/json.",
        422: "The body does not match the schema; `errors` lists each field.",
        429: "Over the rate limit; see Retry-After.",
        503: "The database is unavailable; see Retry-After.",
    }
    return {
        str(code): {
            "description": reasons[code],
            "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            },
        }
        for code in codes
    }


def _component(schema: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(schema)
    out.pop("$schema", None)
    return out


def document() -> dict[str, Any]:
    webhook = _component(WEBHOOK)
    webhook["properties"]["data"] = {
        "oneOf": [
            {"$ref": "#/components/schemas/Posting"},
            {"$ref": "#/components/schemas/Closing"},
            {"$ref": "#/components/schemas/SchemaOrgJobPosting"},
        ],
        "description": (
            "A Posting (or a schema.org JobPosting) for job.created and job.updated, "
            "a Closing for job.closed."
        ),
    }
    limits = {
        "webhook-id": MAX_WEBHOOK_ID,
        "webhook-timestamp": MAX_TIMESTAMP,
        "webhook-signature": MAX_SIGNATURE,
    }
    signature_headers = [
        {
            "name": name,
            "in": "header",
            "required": True,
            "schema": {"type": "string", "maxLength": limits[name]},
            "description": text,
        }
        for name, text in (
            ("webhook-id", "Unique id of this message; the idempotency key (retry with the same)."),
            ("webhook-timestamp", "Unix time in seconds; at most 5 minutes from ours."),
            (
                "webhook-signature",
                "Space-separated 'v1,<base64 HMAC-SHA256 of id.timestamp.body>'.",
            ),
        )
    ]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "passaparola ingest",
            "version": "1",
            "description": "Company webhooks (Standard Webhooks signing) and the member API "
            "for the community's platform.",
        },
        "paths": {
            "/v1/hooks/{company_id}": {
                "post": {
                    "operationId": "receiveWebhook",
                    "summary": "Create, update or close an opening.",
                    "parameters": [
                        {
                            "name": "company_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "format": "uuid"},
                        },
                        *signature_headers,
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/WebhookEvent"}
                            }
                        },
                    },
                    "responses": {
                        "202": {
                            "description": "Accepted (or an earlier answer replayed).",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Accepted"}
                                }
                            },
                        },
                        **_problems(400, 401, 404, 409, 413, 415, 422, 429, 503),
                    },
                }
            },
            "/v1/members/{external_id}": {
                "parameters": [
                    {
                        "name": "external_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                    }
                ],
                "put": {
                    "operationId": "putMember",
                    "summary": "Create or replace a member's profile.",
                    "security": [{"bearer": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/MemberProfile"}
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "Updated, or unchanged.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/MemberSaved"}
                                }
                            },
                        },
                        "201": {
                            "description": "Created.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/MemberSaved"}
                                }
                            },
                        },
                        **_problems(400, 401, 404, 413, 415, 422, 503),
                    },
                },
                "delete": {
                    "operationId": "deleteMember",
                    "summary": "Erase a member everywhere.",
                    "security": [{"bearer": []}],
                    "responses": {"204": {"description": "Erased."}, **_problems(401, 404, 503)},
                },
            },
            "/v1/members/{external_id}/export": {
                "post": {
                    "operationId": "startExport",
                    "summary": "Start gathering a member's data from every service.",
                    "security": [{"bearer": []}],
                    "parameters": [
                        {
                            "name": "external_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                        }
                    ],
                    "responses": {
                        "202": {
                            "description": "Started; poll `location`.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/ExportStatus"}
                                }
                            },
                        },
                        **_problems(401, 404, 503),
                    },
                }
            },
            "/v1/exports/{export_id}": {
                "get": {
                    "operationId": "getExport",
                    "summary": "The export once every service sent its part (handed over once).",
                    "security": [{"bearer": []}],
                    "parameters": [
                        {
                            "name": "export_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "format": "uuid"},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "The member's data, from every service.",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        "202": {
                            "description": "Still gathering; see Retry-After.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/ExportStatus"}
                                }
                            },
                        },
                        **_problems(401, 404, 503),
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "WebhookEvent": webhook,
                "Posting": _component(POSTING),
                "Closing": _component(CLOSING),
                "SchemaOrgJobPosting": jobposting.SCHEMA,
                "MemberProfile": _component(MEMBER),
                "Accepted": ACCEPTED,
                "MemberSaved": MEMBER_SAVED,
                "Problem": PROBLEM,
                "ExportStatus": EXPORT_STATUS,
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
