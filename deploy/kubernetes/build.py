"""Build a Kustomize directory the way ``kustomize build`` does, for the
features this repository uses, so that the manifests can be validated where
no kustomize binary exists (neither Debian nor PyPI ships one).

Supported: ``resources`` (files and directories), ``namespace``, ``labels``
(metadata labels only) and ``patches`` (strategic-merge files, matched by kind
and name; lists of objects with a ``name`` merge by name, other lists are
replaced). Any other key is refused, so that a feature added to a
kustomization cannot be silently skipped here.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]

SUPPORTED = {"apiVersion", "kind", "namespace", "labels", "resources", "patches"}
# Kinds without a namespace among the ones we use.
CLUSTER_KINDS = {"Namespace"}


class BuildError(Exception):
    """The kustomization asks for something this builder does not do, or a
    patch matches no resource."""


def load(path: Path) -> list[Resource]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def build(directory: Path) -> list[Resource]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - SUPPORTED
    if unknown:
        raise BuildError(f"{directory}: unsupported kustomization keys {sorted(unknown)}")
    resources: list[Resource] = []
    for entry in kustomization.get("resources", []):
        path = (directory / entry).resolve()
        resources.extend(build(path) if path.is_dir() else load(path))
    namespace = kustomization.get("namespace")
    for resource in resources:
        metadata = resource.setdefault("metadata", {})
        if namespace and resource["kind"] not in CLUSTER_KINDS:
            metadata["namespace"] = namespace
        for label in kustomization.get("labels", []):
            metadata.setdefault("labels", {}).update(label["pairs"])
    for patch in kustomization.get("patches", []):
        for change in load(directory / patch["path"]):
            target = _find(resources, change)
            target.update(merge(target, change))
    return resources


def _find(resources: list[Resource], change: Resource) -> Resource:
    for resource in resources:
        if (resource["kind"], resource["metadata"]["name"]) == (
            change["kind"],
            change["metadata"]["name"],
        ):
            return resource
    raise BuildError(f"patch for {change['kind']}/{change['metadata']['name']} matches nothing")


def merge(base: Any, change: Any) -> Any:
    """A strategic merge of ``change`` into ``base`` (a new value)."""
    if isinstance(base, dict) and isinstance(change, dict):
        out = copy.deepcopy(base)
        for key, value in change.items():
            out[key] = merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    if isinstance(base, list) and isinstance(change, list) and _named(base) and _named(change):
        out_list = copy.deepcopy(base)
        for item in change:
            for i, existing in enumerate(out_list):
                if existing["name"] == item["name"]:
                    out_list[i] = merge(existing, item)
                    break
            else:
                out_list.append(copy.deepcopy(item))
        return out_list
    return copy.deepcopy(change)


def _named(items: list[Any]) -> bool:
    return all(isinstance(i, dict) and "name" in i for i in items)
