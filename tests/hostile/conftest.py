"""The in-process ingest app and company factory of the ingest tests."""

from tests.ingest.conftest import client, company, make_company, runtime, send

__all__ = ["client", "company", "make_company", "runtime", "send"]
