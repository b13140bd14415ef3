from pathlib import Path

import pytest

from shared.migrations import MigrationError, discover

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("service", ["ingest", "matcher", "notifier"])
def test_each_service_has_numbered_migrations_in_its_own_schema(service):
    found = discover(service, ROOT / "services" / service / "migrations")
    assert found[0].version == 1
    assert f"CREATE SCHEMA {service};" in found[0].sql


def test_the_shared_migrations_have_their_own_schema():
    found = discover("shared", ROOT / "shared" / "migrations")
    assert found[0].version == 1
    assert "CREATE SCHEMA shared;" in found[0].sql


def test_a_gap_in_numbers_is_refused(tmp_path):
    (tmp_path / "001_a.sql").write_text("SELECT 1;")
    (tmp_path / "003_c.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="without gaps"):
        discover("x", tmp_path)


def test_a_badly_named_file_is_refused(tmp_path):
    (tmp_path / "1-init.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="name must look like"):
        discover("x", tmp_path)
