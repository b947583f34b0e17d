"""Render the chart with real Helm (helm-python-sdk) and index the manifests for the tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "driftmon"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
#: the Kubernetes version manifests are validated against (kubernetes-validate's schemas)
KUBERNETES_VERSION = "1.33.0"
#: the oldest the chart supports (Chart.yaml kubeVersion), validated too
KUBERNETES_MINIMUM = "1.27.0"
RELEASE = "gen"
NAMESPACE = "imagegen"
CRD_GROUPS = ("monitoring.coreos.com/",)


@dataclass(frozen=True)
class Manifest:
    """One rendered object and the template it came from."""

    template: str
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body["kind"])

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])

    @property
    def is_crd_object(self) -> bool:
        return str(self.body["apiVersion"]).startswith(CRD_GROUPS)


EXPORTED_RULES = CHART / "files" / "prometheus-rules.yaml"


def exported_groups() -> list[Any]:
    """The rule groups helm/sync.py exported into the chart (empty before the first export)."""
    exported = yaml.safe_load(EXPORTED_RULES.read_text("utf-8")) or {}
    groups = exported.get("groups") or []
    assert isinstance(groups, list)
    return groups


def load_values(path: Path) -> dict[str, Any]:
    values = yaml.safe_load(path.read_text("utf-8")) or {}
    assert isinstance(values, dict)
    return values


def render(values: dict[str, Any], chart: Path = CHART) -> list[Manifest]:
    """Every object the chart renders for `values` (NOTES.txt and empty documents dropped)."""
    import helm_python as helm

    with helm.Chart.load(chart) as loaded:
        rendered = loaded.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    manifests = []
    for template, text in sorted(rendered.items()):
        if template.endswith("NOTES.txt"):
            continue
        for body in yaml.safe_load_all(text):
            if body:
                manifests.append(Manifest(template, body))
    return manifests


def one(manifests: list[Manifest], kind: str, suffix: str = "") -> Manifest:
    """The single manifest of `kind` whose name ends with `suffix`."""
    found = [m for m in manifests if m.kind == kind and m.name.endswith(suffix)]
    assert len(found) == 1, f"expected one {kind} *{suffix}, found {[m.name for m in found]}"
    return found[0]


def container(pod_spec: dict[str, Any], name: str) -> dict[str, Any]:
    """The container called `name` in a pod spec."""
    found = [c for c in pod_spec["containers"] if c["name"] == name]
    assert len(found) == 1, f"no single container {name!r}"
    return found[0]
