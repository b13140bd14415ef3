import dataclasses
import re
from pathlib import Path

import pytest

from shared.settings import VARIABLES, Settings, SettingsError, markdown_table

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = {
    "PASSAPAROLA_DATABASE_URL": "postgresql://u:p@db:5432/passaparola",
    "PASSAPAROLA_AMQP_URL": "amqp://u:p@mq:5672/passaparola",
    "PASSAPAROLA_SECRET_KEY": "x" * 40,
}


def test_defaults_apply_when_only_required_variables_are_set():
    settings = Settings.from_env(REQUIRED)
    assert settings.database_url == REQUIRED["PASSAPAROLA_DATABASE_URL"]
    assert settings.retry_delays_ms == (1000, 10000, 60000)
    assert settings.prefetch == 16
    assert settings.smtp_tls == "none"


def test_every_missing_variable_is_named_at_once():
    with pytest.raises(SettingsError) as err:
        Settings.from_env({})
    names = [re.match(r"(\S+)", p)[1] for p in err.value.problems]  # type: ignore[index]
    assert names == ["PASSAPAROLA_DATABASE_URL", "PASSAPAROLA_AMQP_URL", "PASSAPAROLA_SECRET_KEY"]


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("PASSAPAROLA_PREFETCH", "many", "malformed"),
        ("PASSAPAROLA_PREFETCH", "0", "from 1 to 1000"),
        ("PASSAPAROLA_AMQP_URL", "http://mq", "amqp"),
        ("PASSAPAROLA_RETRY_DELAYS_MS", "100,-1", "positive"),
        ("PASSAPAROLA_SMTP_TLS", "ssl", "none, starttls, tls"),
        ("PASSAPAROLA_SECRET_KEY", "short", "32 characters"),
    ],
)
def test_malformed_values_are_named_with_the_reason(name, value, reason):
    with pytest.raises(SettingsError) as err:
        Settings.from_env({**REQUIRED, name: value})
    (problem,) = err.value.problems
    assert problem.startswith(f"{name} is malformed")
    assert reason in problem


def test_errors_never_echo_the_value():
    secret_url = "mysql://admin:hunter2-secret@db/x"
    with pytest.raises(SettingsError) as err:
        Settings.from_env({**REQUIRED, "PASSAPAROLA_DATABASE_URL": secret_url})
    assert "hunter2" not in str(err.value)


def test_secrets_stay_out_of_repr():
    settings = Settings.from_env({**REQUIRED, "PASSAPAROLA_SMTP_PASSWORD": "smtp-pass-canary"})
    assert "smtp-pass-canary" not in repr(settings)
    assert "x" * 40 not in repr(settings)


def test_settings_object_is_frozen():
    settings = Settings.from_env(REQUIRED)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.prefetch = 1  # type: ignore[misc]


def test_every_variable_has_a_field_and_the_reverse():
    assert {v.field for v in VARIABLES} == {f.name for f in dataclasses.fields(Settings)}


def test_readme_documents_every_variable_in_one_table():
    readme = (ROOT / "README.md").read_text()
    assert markdown_table() in readme


def test_compose_uses_only_real_variables_and_sets_the_required_ones():
    import yaml

    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    known = {v.env for v in VARIABLES}
    required = {v.env for v in VARIABLES if v.default is None}
    services = [s for n, s in compose["services"].items() if n in ("ingest", "matcher", "notifier")]
    assert len(services) == 3
    for service in services:
        env = service["environment"]
        names = set(env) if isinstance(env, dict) else {e.split("=", 1)[0] for e in env}
        ours = {n for n in names if n.startswith("PASSAPAROLA_")}
        assert ours <= known, ours - known
        assert required <= ours
