"""Every passaparola_* metric a dashboard panel or an alert rule uses is
really exported by the code (shared.metrics), suffixes included."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from shared import metrics

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"
OURS = re.compile(r"\bpassaparola_[a-z0-9_]+")


def _dashboard_exprs() -> list[tuple[str, str]]:
    found = []
    for path in sorted((GRAFANA / "dashboards").glob("*.json")):
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                found.append((f"{path.name}: {panel['title']}", target["expr"]))
    return found


def _alert_exprs() -> list[tuple[str, str]]:
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    return [(r["alert"], r["expr"]) for g in rules["groups"] for r in g["rules"]]


def test_the_dashboard_and_the_alerts_use_only_exported_metrics():
    exported = metrics.exported_names()
    used = [
        (where, name)
        for where, expr in _dashboard_exprs() + _alert_exprs()
        for name in OURS.findall(expr)
    ]
    assert len(used) >= 15
    missing = [(where, name) for where, name in used if name not in exported]
    assert missing == []


def test_the_dashboard_shows_every_metric_we_define():
    used = {name for _, expr in _dashboard_exprs() for name in OURS.findall(expr)}
    families = {m.name for m in metrics.REGISTRY.collect() if m.name.startswith("passaparola_")}
    shown = {f for f in families if any(u.startswith(f) for u in used)}
    assert shown == families


def test_rabbitmq_overview_is_referenced_by_its_grafana_com_id_not_copied():
    refs = yaml.safe_load((GRAFANA / "grafana-com.yaml").read_text())["dashboards"]
    assert {"gnetId": 10991, "folder": "rabbitmq"}.items() <= refs[0].items()
    provisioning = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "dashboards.yaml").read_text()
    )
    assert {p["name"] for p in provisioning["providers"]} == {"passaparola", "rabbitmq"}
    assert [p.name for p in (GRAFANA / "dashboards").glob("*.json")] == ["passaparola.json"]
