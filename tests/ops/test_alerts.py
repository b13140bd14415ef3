"""The alert rules: valid for Prometheus (promtool check rules) and doing what
they say (promtool test rules, deploy/prometheus/alerts_test.yml)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus"


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        # Installed the way the local stack installs it (Debian's package); never skipped.
        subprocess.run(
            [str(ROOT / "deploy" / "local" / "prometheus.sh"), "install"],
            check=True,
            env={**os.environ, "STACK": os.environ.get("TEST_STACK", "test")},
        )
        found = shutil.which("promtool")
    assert found, "promtool is missing after deploy/local/prometheus.sh install"
    return found


def test_the_rules_are_valid(promtool):
    result = subprocess.run(
        [promtool, "check", "rules", str(RULES / "alerts.yml")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # Every rule in the file was read (a count kept by hand drifts with each new rule).
    rules = (RULES / "alerts.yml").read_text().count("- alert:")
    assert rules >= 8 and f"SUCCESS: {rules} rules found" in result.stdout


def test_the_rules_fire_when_they_should_and_not_before(promtool):
    result = subprocess.run(
        [promtool, "test", "rules", "alerts_test.yml"],
        capture_output=True,
        text=True,
        cwd=RULES,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_unit_test():
    import yaml

    rules = yaml.safe_load((RULES / "alerts.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    tests = yaml.safe_load((RULES / "alerts_test.yml").read_text())
    tested = {
        case["alertname"]
        for t in tests["tests"]
        for case in t["alert_rule_test"]
        if case.get("exp_alerts")
    }
    assert alerts == tested
