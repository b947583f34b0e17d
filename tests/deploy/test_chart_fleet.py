"""The chart in a fleet: who pages (alerting.mode), where alert links lead (publicUrl, Ingress),
who may reach driftmon (NetworkPolicy), and NOTES.txt commands that work as written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from driftmon.config import load_config

from .chart import CHART, NAMESPACE, RELEASE, load_values, one, render

pytestmark = pytest.mark.integration

FLEET = load_values(CHART / "ci" / "fleet-values.yaml")
STANDALONE = load_values(CHART / "ci" / "standalone-values.yaml")


def config_of(manifests, tmp_path: Path):
    path = tmp_path / "config.yaml"
    path.write_text(one(manifests, "ConfigMap", "-config").body["data"]["config.yaml"], "utf-8")
    return load_config(path, environ={})


@pytest.mark.parametrize(
    ("values", "mode"),
    [
        ({}, "local"),
        ({"prometheusRule": {"enabled": True}}, "prometheus"),
        ({"prometheusRule": {"enabled": True}, "alerting": {"mode": "both"}}, "both"),
    ],
)
def test_alerting_mode_is_prometheus_when_the_chart_renders_the_prometheus_rule(values, mode, tmp_path):
    manifests = render(STANDALONE | values)
    assert config_of(manifests, tmp_path).alerting.mode == mode


def test_alert_links_go_through_the_ingress_in_both_engines(tmp_path):
    """The Ingress host becomes server.public_url (the daemon's links) and replaces
    ${DRIFTMON_URL} in the PrometheusRule; dashboard.url replaces ${DASHBOARD_URL}."""
    manifests = render(FLEET)
    config = config_of(manifests, tmp_path)
    assert config.server.public_url == "https://driftmon.example.com"
    assert config.alerting.dashboard_url == FLEET["dashboard"]["url"]
    ingress = one(manifests, "Ingress").body
    assert ingress["spec"]["rules"][0]["host"] == "driftmon.example.com"
    text = yaml.safe_dump(one(manifests, "PrometheusRule").body)
    assert "${" not in text
    groups = one(manifests, "PrometheusRule").body["spec"]["groups"]
    alerts = [r for g in groups for r in g["rules"] if "alert" in r]
    assert alerts
    for alert in alerts:
        annotations = alert["annotations"]
        assert annotations["dashboard_url"].startswith(FLEET["dashboard"]["url"]), alert["alert"]
        if "overlay_url" in annotations:
            assert annotations["overlay_url"].startswith(
                "https://driftmon.example.com/v1/samples/worst?model_version="
            )


def test_public_url_defaults_to_the_service():
    manifests = render(STANDALONE)
    config = yaml.safe_load(one(manifests, "ConfigMap", "-config").body["data"]["config.yaml"])
    assert config["server"]["public_url"] == f"http://{RELEASE}-driftmon.{NAMESPACE}.svc:9844"


def test_network_policy_admits_the_generator_and_prometheus_only():
    policy = one(render(FLEET), "NetworkPolicy").body["spec"]
    (rule,) = policy["ingress"]
    peers = rule["from"]
    assert peers[0] == {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "sdxl"}}}
    assert peers[1]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "monitoring"}
    assert [p["port"] for p in rule["ports"]] == [9844]
    assert policy["policyTypes"] == ["Ingress"]


def test_network_policy_in_sidecar_mode_keeps_the_generator_port_open():
    values = load_values(CHART / "ci" / "sidecar-cpu-values.yaml") | {"networkPolicy": {"enabled": True}}
    policy = one(render(values), "NetworkPolicy").body["spec"]
    driftmon_rule, generator_rule = policy["ingress"]
    assert [p["port"] for p in driftmon_rule["ports"]] == [9844]
    assert "from" not in generator_rule and generator_rule["ports"]


def test_network_policy_in_standalone_mode_needs_the_generator_labels():
    import helm_python as helm

    with pytest.raises(helm.HelmError, match=r"generatorPodLabels"):
        render(STANDALONE | {"networkPolicy": {"enabled": True}})


def test_notes_commands_work_as_written():
    """The port-forward runs in the background (it blocks), and curl is a command of its own."""
    import helm_python as helm

    with helm.Chart.load(CHART) as loaded:
        rendered = loaded.render(FLEET, name=RELEASE, namespace=NAMESPACE, is_install=True)
    notes = next(text for name, text in rendered.items() if name.endswith("NOTES.txt"))
    lines = [line.strip() for line in notes.splitlines()]
    forward = [line for line in lines if line.startswith("kubectl") and "port-forward" in line]
    assert forward and all(line.endswith("& sleep 2") and "&&" not in line for line in forward)
    assert any(line.startswith("curl -s localhost:9844/metrics") for line in lines)
    assert "https://driftmon.example.com" in notes and "Alerting mode: prometheus" in notes


def test_gpu_series_get_the_node_name_dcgm_exporter_uses():
    """NODE_NAME (the downward API's spec.nodeName) becomes the GPU series' Hostname label."""
    values = load_values(CHART / "ci" / "sidecar-gpu-values.yaml")
    pod = one(render(values), "Deployment").body["spec"]["template"]["spec"]
    (driftmon,) = [c for c in pod["containers"] if c["name"] == "driftmon"]
    env = {e["name"]: e.get("valueFrom") for e in driftmon["env"]}
    assert env["NODE_NAME"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
