"""deploy/kubernetes, validated statically: no cluster runs here.

The base and the overlay are built (``deploy.kubernetes.build``, the subset
of ``kustomize build`` we use), then every core resource is checked against
the Kubernetes schemas ``kubernetes-validate`` bundles (strict: an unknown
field fails) and every operator resource against our subset of its CRD
schema (deploy/kubernetes/schemas).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
from hypothesis import given
from hypothesis import strategies as st

from deploy.kubernetes.build import BuildError, build, merge
from shared.settings import Settings, SettingsError
from shared.topology import INGEST, NOTIFIER, Topology

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
SCHEMAS = KUBERNETES / "schemas"
KUBERNETES_VERSION = "1.30.0"  # the oldest we support: pod-index labels are GA from 1.28
DIRECTORIES = ("base", "overlays/small")


def built(directory: str) -> list[dict[str, Any]]:
    return build(KUBERNETES / directory)


def of(resources: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [r for r in resources if r["kind"] == kind and name in (None, r["metadata"]["name"])]


def problems(resource: dict[str, Any]) -> list[str]:
    """Why a resource is invalid (nothing when it is valid)."""
    group = resource["apiVersion"].split("/")[0] if "/" in resource["apiVersion"] else ""
    if group.endswith(("rabbitmq.com", "keda.sh")):
        path = SCHEMAS / f"{group}.{resource['kind']}.json"
        if not path.exists():
            return [f"no schema for {resource['apiVersion']} {resource['kind']}"]
        validator = jsonschema.Draft202012Validator(json.loads(path.read_text()))
        return [error.message for error in validator.iter_errors(resource)]
    try:
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [str(exc.message)]
    return []


@pytest.mark.parametrize("directory", DIRECTORIES)
def test_every_manifest_is_valid_against_its_schema(directory: str) -> None:
    resources = built(directory)
    assert len(resources) > 40
    invalid = {
        f"{r['kind']}/{r['metadata']['name']}": found for r in resources if (found := problems(r))
    }
    assert invalid == {}


def test_a_typo_fails_validation_core_and_custom_alike() -> None:
    resources = built("base")
    deployment = copy.deepcopy(of(resources, "Deployment", "ingest")[0])
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {}
    assert problems(deployment)
    queue = copy.deepcopy(of(resources, "Queue", "notifier")[0])
    queue["spec"]["durabel"] = True
    assert problems(queue)
    scaled = copy.deepcopy(of(resources, "ScaledObject", "notifier")[0])
    scaled["spec"]["triggers"][0]["metadata"]["mode"] = "QueueLenght"
    assert problems(scaled)


@pytest.mark.parametrize("directory", DIRECTORIES)
def test_the_matcher_runs_one_pod_per_shard_and_each_pod_knows_its_shard(directory: str) -> None:
    resources = built(directory)
    matcher = of(resources, "StatefulSet", "matcher")[0]
    config = of(resources, "ConfigMap", "passaparola")[0]["data"]
    assert matcher["spec"]["replicas"] == int(config["PASSAPAROLA_MATCHER_SHARDS"])
    env = matcher["spec"]["template"]["spec"]["containers"][0]["env"]
    shard = next(e for e in env if e["name"] == "PASSAPAROLA_MATCHER_SHARD")
    assert shard["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.labels['apps.kubernetes.io/pod-index']"
    )


@pytest.mark.parametrize("directory", DIRECTORIES)
def test_the_console_reads_its_history_from_prometheus_in_the_monitoring_namespace(
    directory: str,
) -> None:
    """Without the URL the console quietly shows current values only, so a
    cluster would never get the charts: the manifests must set it."""
    config = of(built(directory), "ConfigMap", "passaparola")[0]["data"]
    url = config["PASSAPAROLA_PROMETHEUS_URL"]
    assert url.startswith("http://") and ".monitoring.svc:" in url
    console = of(built(directory), "Deployment", "console")[0]
    sources = console["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    assert {"configMapRef": {"name": "passaparola"}} in sources


def test_the_overlay_changes_what_it_says_and_keeps_the_rest() -> None:
    base, small = built("base"), built("overlays/small")
    assert len(base) == len(small)
    container = of(small, "StatefulSet", "matcher")[0]["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["memory"] == "1536Mi"
    assert container["resources"]["limits"]["cpu"] == "1"  # from the base, untouched
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    postgres = of(small, "Service", "postgres")[0]["spec"]
    assert postgres["type"] == "ExternalName"
    assert postgres["externalName"].startswith("passaparola-db-rw.")
    assert all(
        r["metadata"].get("namespace") == "passaparola" for r in small if r["kind"] != "Namespace"
    )


@pytest.mark.parametrize("directory", DIRECTORIES)
def test_probes_and_metrics_are_on_the_operator_port_which_only_monitoring_reaches(
    directory: str,
) -> None:
    resources = built(directory)
    for kind, name in (
        ("Deployment", "ingest"),
        ("Deployment", "notifier"),
        ("StatefulSet", "matcher"),
    ):
        container = of(resources, kind, name)[0]["spec"]["template"]["spec"]["containers"][0]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert container[probe]["httpGet"]["port"] == "operator", (name, probe)
        assert container["resources"]["requests"] and container["resources"]["limits"]
    policies = {p["metadata"]["name"]: p["spec"] for p in of(resources, "NetworkPolicy")}
    assert policies["default-deny-ingress"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    public = policies["public-ports"]["ingress"]
    assert [port["port"] for rule in public for port in rule["ports"]] == ["http"]
    operator = policies["operator-ports"]["ingress"]
    assert operator == [
        {
            "from": [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}
                    }
                }
            ],
            "ports": [{"port": "operator"}],
        }
    ]
    for service in of(resources, "Service"):
        assert service["spec"].get("type", "ClusterIP") in ("ClusterIP", "ExternalName")
    budgets = {b["metadata"]["name"] for b in of(resources, "PodDisruptionBudget")}
    assert budgets == {"ingest", "notifier", "matcher"}


def test_the_operator_declares_queues_exactly_as_the_services_do() -> None:
    """A queue declared twice with different arguments is refused by RabbitMQ:
    the Queue resources must say what shared.topology declares."""
    resources = built("base")
    topology = Topology()
    queues = {q["spec"]["name"]: q["spec"] for q in of(resources, "Queue")}
    bindings = [b["spec"] for b in of(resources, "Binding")]
    for spec in (NOTIFIER, INGEST):
        name = topology.queue(spec)
        declared = {**queues[name]["arguments"], "x-queue-type": queues[name]["type"]}
        assert declared == topology.queue_arguments(spec)
        assert queues[topology.dead_letter_queue(spec)]["type"] == "quorum"
        bound = sorted(
            b["routingKey"]
            for b in bindings
            if b["destination"] == name and b["source"] == topology.exchange
        )
        assert bound == sorted(spec.bindings)
    exchanges = {e["spec"]["name"]: e["spec"] for e in of(resources, "Exchange")}
    assert exchanges[topology.exchange]["type"] == "topic"
    assert exchanges[topology.exchange]["arguments"] == {
        "alternate-exchange": topology.unrouted_exchange
    }


def test_the_secrets_in_the_repository_are_placeholders_no_service_accepts() -> None:
    secret = of(built("base"), "Secret", "passaparola-keys")[0]["stringData"]
    with pytest.raises(SettingsError, match="PASSAPAROLA_SECRET_KEY"):
        Settings.from_env(secret)


def test_the_builder_refuses_what_it_does_not_do(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\nimages: []\n")
    with pytest.raises(BuildError, match="images"):
        build(tmp_path)
    (tmp_path / "kustomization.yaml").write_text("resources: []\npatches: [{path: p.yaml}]\n")
    (tmp_path / "p.yaml").write_text("kind: Service\nmetadata: {name: nowhere}\n")
    with pytest.raises(BuildError, match="matches nothing"):
        build(tmp_path)


def test_a_patch_merges_containers_by_name_and_replaces_other_lists() -> None:
    base = {
        "containers": [{"name": "a", "image": "x", "args": ["1"]}, {"name": "b", "image": "y"}],
        "tolerations": ["t1"],
    }
    change = {"containers": [{"name": "b", "image": "z"}], "tolerations": ["t2"]}
    assert merge(base, change) == {
        "containers": [{"name": "a", "image": "x", "args": ["1"]}, {"name": "b", "image": "z"}],
        "tolerations": ["t2"],
    }


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=12,
)


@given(json_values, json_values)
def test_merging_is_idempotent_and_the_change_always_wins(base: Any, change: Any) -> None:
    merged = merge(base, change)
    assert merge(merged, change) == merged
    assert merge(base, base) == base
    if not isinstance(change, (dict, list)):
        assert merged == change
