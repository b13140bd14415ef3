#!/usr/bin/env bash
# Fetch the dashboards that deploy/grafana/grafana-com.yaml names by their
# grafana.com id into deploy/grafana/dashboards/<folder>/ (git-ignored), for
# the provider in provisioning/dashboards/dashboards.yaml.
# usage: deploy/grafana/fetch-dashboards.sh
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
"$ROOT/.venv/bin/python" - "$HERE" <<'PY'
import json, pathlib, sys, urllib.request
import yaml

here = pathlib.Path(sys.argv[1])
for item in yaml.safe_load((here / "grafana-com.yaml").read_text())["dashboards"]:
    rev = item.get("revision", "latest")
    url = f"https://grafana.com/api/dashboards/{item['gnetId']}/revisions/{rev}/download"
    with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310 - a fixed https URL
        text = resp.read().decode()
    text = text.replace("${DS_PROMETHEUS}", item["datasource"])
    dashboard = json.loads(text)
    dashboard.pop("__inputs", None)
    target = here / "dashboards" / item["folder"] / item["file"]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(dashboard, indent=2))
    print(f"{item['gnetId']} -> {target}")
PY
