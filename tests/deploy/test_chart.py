"""The Helm chart, rendered and linted by real Helm, validated against Kubernetes' schemas."""

from __future__ import annotations

import json
import shutil
from pathlib import Path, PurePosixPath

import pytest
import yaml

from driftmon.config import load_config

from .chart import (
    CHART,
    CI_VALUES,
    KUBERNETES_MINIMUM,
    KUBERNETES_VERSION,
    ROOT,
    container,
    exported_groups,
    load_values,
    one,
    render,
)

pytestmark = pytest.mark.integration

STATE_DIR = PurePosixPath("/var/lib/driftmon")
VALUE_SETS = {path.name.removesuffix("-values.yaml"): path for path in CI_VALUES}


@pytest.fixture(scope="module", params=sorted(VALUE_SETS))
def value_set(request):
    return request.param, load_values(VALUE_SETS[request.param])


POD_SETS = sorted(name for name, path in VALUE_SETS.items() if load_values(path).get("mode") != "include")


@pytest.fixture(scope="module")
def manifests(value_set):
    return render(value_set[1])


@pytest.fixture(scope="module", params=POD_SETS)
def pod_value_set(request):
    """Value sets whose chart renders a pod (every mode but include)."""
    return request.param, load_values(VALUE_SETS[request.param])


@pytest.fixture(scope="module")
def pod_manifests(pod_value_set):
    return render(pod_value_set[1])


def pod_spec(manifests):
    return one(manifests, "Deployment").body["spec"]["template"]["spec"]


def rendered_config(manifests, tmp_path: Path):
    data = one(manifests, "ConfigMap", "-config").body["data"]["config.yaml"]
    path = tmp_path / "config.yaml"
    path.write_text(data, "utf-8")
    return load_config(path, environ={})


def test_value_sets_cover_every_mode_gpu_choice_and_operator_toggle():
    """The ci/ value sets include sidecar, standalone and include, GPU and CPU, with and without
    the Operator objects, so the tests below exercise each."""
    sets = [load_values(path) for path in CI_VALUES]
    assert {s.get("mode") for s in sets} >= {"sidecar", "standalone", "include"}
    assert {s.get("gpu", {}).get("count", 0) > 0 for s in sets} == {True, False}
    assert {s.get("serviceMonitor", {}).get("enabled", False) for s in sets} == {True, False}


def test_helm_lint_is_clean(value_set):
    """`helm lint --strict` (Helm 4 via helm-python-sdk) reports no warning or error."""
    import helm_python as helm

    report = helm.lint(str(CHART), value_set[1], strict=True, kube_version=f"v{KUBERNETES_VERSION}")
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not problems, problems
    assert not report["errors"], report["errors"]


@pytest.mark.parametrize("version", [KUBERNETES_MINIMUM, KUBERNETES_VERSION])
def test_every_manifest_validates_against_kubernetes(manifests, version):
    """Every built-in object validates (strict: unknown fields fail) against the pinned version and
    the oldest one Chart.yaml accepts."""
    import kubernetes_validate

    assert (
        yaml.safe_load((CHART / "Chart.yaml").read_text("utf-8"))["kubeVersion"]
        == f">={KUBERNETES_MINIMUM}-0"
    )
    checked = 0
    for manifest in manifests:
        if manifest.is_crd_object:
            continue
        try:
            kubernetes_validate.validate(manifest.body, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{manifest.template}: {manifest.kind}/{manifest.name}: {exc.message}")
        checked += 1
    assert checked >= 3


def test_operator_objects_are_well_formed_and_point_at_the_service(manifests, value_set):
    """ServiceMonitor selects the Service and scrapes its http port; PrometheusRule holds groups of
    alerting/recording rules with expressions (CRDs: no Kubernetes schema to validate against)."""
    values = value_set[1]
    service = one(manifests, "Service").body
    monitors = [m for m in manifests if m.kind == "ServiceMonitor"]
    assert len(monitors) == int(values.get("serviceMonitor", {}).get("enabled", False))
    for monitor in monitors:
        spec = monitor.body["spec"]
        assert monitor.body["apiVersion"] == "monitoring.coreos.com/v1"
        labels = service["metadata"]["labels"]
        assert spec["selector"]["matchLabels"].items() <= labels.items()
        port_names = {p["name"] for p in service["spec"]["ports"]}
        assert [e["port"] for e in spec["endpoints"]] == ["http"]
        assert "http" in port_names
        assert spec["endpoints"][0]["path"] == "/metrics"
        assert spec["namespaceSelector"]["matchNames"] == [service["metadata"].get("namespace", "imagegen")]
    for rule in [m for m in manifests if m.kind == "PrometheusRule"]:
        groups = rule.body["spec"]["groups"]
        assert groups
        for group in groups:
            assert group["name"] and group["rules"]
            for item in group["rules"]:
                assert ("alert" in item) != ("record" in item), item
                assert item["expr"]


def test_service_selects_the_pod_that_serves_http(pod_manifests, pod_value_set):
    """The Service's selector matches the pod template labels and targets the `http` port."""
    service = one(pod_manifests, "Service").body
    template = one(pod_manifests, "Deployment").body["spec"]["template"]
    assert service["spec"]["selector"].items() <= template["metadata"]["labels"].items()
    ports = [p["name"] for p in container(template["spec"], "driftmon")["ports"]]
    assert "http" in ports


def test_driftmon_container_is_locked_down(pod_manifests, pod_value_set):
    """Non-root, read-only root filesystem, no privilege escalation, every capability dropped."""
    spec = pod_spec(pod_manifests)
    security = container(spec, "driftmon")["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert spec["securityContext"]["runAsNonRoot"] is True


def test_probes_use_healthz_readyz_and_a_long_startup_budget(pod_manifests, pod_value_set):
    """Liveness on /healthz in every mode; standalone adds readiness on /readyz and at least ten
    minutes to start; beside a generator (sidecar) driftmon has neither (see the next test)."""
    driftmon = container(pod_spec(pod_manifests), "driftmon")
    assert driftmon["livenessProbe"]["httpGet"]["path"] == "/healthz"
    if pod_value_set[1].get("mode") != "standalone":
        assert "readinessProbe" not in driftmon and "startupProbe" not in driftmon
        return
    assert driftmon["readinessProbe"]["httpGet"]["path"] == "/readyz"
    startup = driftmon["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 600


@pytest.mark.parametrize("persistence", [False, True])
@pytest.mark.parametrize("value_set_name", ["sidecar-cpu", "sidecar-gpu", "sidecar-shared-nvml"])
def test_sidecar_mode_never_gates_the_generator(value_set_name, persistence):
    """Sidecar mode, with or without persistence: no readiness or startup probe on the driftmon
    container (either would gate the pod's readiness, hence the generator's traffic), liveness on
    /healthz kept, the generator's own probes untouched, and no Recreate strategy (a rollout
    never stops the generator)."""
    values = load_values(VALUE_SETS[value_set_name])
    values["persistence"] = {"enabled": persistence}
    values["generator"] = values["generator"] | {"readinessProbe": {"httpGet": {"path": "/ok", "port": 8000}}}
    deployment = one(render(values), "Deployment").body
    driftmon = container(deployment["spec"]["template"]["spec"], "driftmon")
    assert "readinessProbe" not in driftmon and "startupProbe" not in driftmon
    assert driftmon["livenessProbe"]["httpGet"]["path"] == "/healthz"
    generator = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] != "driftmon"]
    assert [c["readinessProbe"]["httpGet"]["path"] for c in generator] == ["/ok"]
    assert deployment["spec"].get("strategy", {}).get("type") != "Recreate"
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert ("persistentVolumeClaim" in volumes["driftmon-state"]) == persistence


@pytest.mark.parametrize("persistence", [False, True])
def test_standalone_mode_keeps_its_probes_and_recreates_with_a_volume(persistence):
    """Standalone mode: liveness, readiness and startup probes; Recreate exactly when a
    ReadWriteOnce volume must move from the old pod to the new one."""
    values = load_values(VALUE_SETS["standalone"])
    values["persistence"] = values.get("persistence", {}) | {"enabled": persistence}
    deployment = one(render(values), "Deployment").body
    driftmon = container(deployment["spec"]["template"]["spec"], "driftmon")
    assert {"livenessProbe", "readinessProbe", "startupProbe"} <= driftmon.keys()
    assert (deployment["spec"].get("strategy", {}).get("type") == "Recreate") == persistence


def test_config_loads_and_every_path_it_uses_is_mounted(manifests, value_set, tmp_path):
    """The rendered config passes driftmon's own loader; what it writes is on the state volume,
    what it reads (rules, probes, secret files) is mounted from the right volume and key."""
    config = rendered_config(manifests, tmp_path)
    for writable in (config.store.path, config.artifacts.dir, config.scoring.work_dir):
        assert PurePosixPath(writable).is_relative_to(STATE_DIR)
    assert config.server.port == value_set[1].get("port", 9844)
    assert config.sources.probe.enabled == (value_set[1].get("mode") == "standalone")
    if value_set[1].get("mode") == "include":
        return
    spec = pod_spec(manifests)
    mounts = {m["mountPath"]: m["name"] for m in container(spec, "driftmon")["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert mounts[str(STATE_DIR)] == "driftmon-state"
    assert "/tmp" in mounts
    for rules_path in config.rules.paths:
        assert "configMap" in volumes[mounts[str(rules_path).rstrip("/")]]
    secret_files = [config.server.auth_token_file, config.sources.probe.generator.api_key_file]
    for receiver in config.alerting.receivers:
        secret_files += [getattr(receiver, f, None) for f in ("url_file", "routing_key_file")]
    for path in filter(None, secret_files):
        volume = volumes[mounts[str(PurePosixPath(path).parent)]]
        assert [item["key"] for item in volume["secret"]["items"]] == [PurePosixPath(path).name]


def test_termination_grace_outlasts_the_daemons_shutdown_grace(pod_manifests, tmp_path):
    """Kubernetes waits longer than driftmon's own shutdown grace before SIGKILL, so queued
    samples are scored or kept in the intake journal on every rollout."""
    grace = pod_spec(pod_manifests)["terminationGracePeriodSeconds"]
    assert grace >= rendered_config(pod_manifests, tmp_path).server.shutdown_grace + 5


@pytest.mark.parametrize(
    ("shutdown_grace", "margin", "expected"),
    [(None, None, 30), (45, None, 55), ("1m30s", None, 100), ("2.5s", 5, 8), ("750ms", 6, 7)],
)
def test_termination_grace_is_derived_from_the_shutdown_grace(shutdown_grace, margin, expected, tmp_path):
    """terminationGracePeriodSeconds left null is config.server.shutdown_grace (number or
    duration, default 20) rounded up plus terminationGraceMargin (default 10), always at least
    the grace + 5 that the daemon's loader reads from the same rendered config."""
    values = load_values(VALUE_SETS["standalone"])
    if shutdown_grace is not None:
        values["config"] = {"server": {"shutdown_grace": shutdown_grace}}
    if margin is not None:
        values["terminationGraceMargin"] = margin
    manifests = render(values)
    grace = pod_spec(manifests)["terminationGracePeriodSeconds"]
    assert grace == expected
    assert grace >= rendered_config(manifests, tmp_path).server.shutdown_grace + 5


def test_a_termination_grace_shorter_than_the_shutdown_grace_fails_with_advice():
    """A terminationGracePeriodSeconds under shutdown_grace + 5 fails rendering and says what
    to set; one at least that is used as set; a shutdown_grace that is no duration fails too."""
    import helm_python as helm

    values = load_values(VALUE_SETS["sidecar-cpu"]) | {"config": {"server": {"shutdown_grace": "40s"}}}
    with pytest.raises(helm.HelmError, match=r"terminationGracePeriodSeconds: 44 .* at least 45"):
        render(values | {"terminationGracePeriodSeconds": 44})
    assert (
        pod_spec(render(values | {"terminationGracePeriodSeconds": 45}))["terminationGracePeriodSeconds"]
        == 45
    )
    with pytest.raises(helm.HelmError, match=r"shutdown_grace: \"soon\" is not a duration"):
        render(values | {"config": {"server": {"shutdown_grace": "soon"}}})


def test_gpu_choice_sets_the_resource_and_the_scoring_device(pod_manifests, pod_value_set, tmp_path):
    """gpu.count > 0 requests nvidia.com/gpu for driftmon and scores on CUDA; 0 requests none."""
    values = pod_value_set[1]
    count = values.get("gpu", {}).get("count", 0)
    limits = container(pod_spec(pod_manifests), "driftmon").get("resources", {}).get("limits", {})
    assert limits.get("nvidia.com/gpu", 0) == count
    device = rendered_config(pod_manifests, tmp_path).scoring.device
    assert device == ("cuda" if count else "cpu")


def test_nvml_settings_reach_the_pod(pod_manifests, pod_value_set):
    """nvml.visibleDevices becomes NVIDIA_VISIBLE_DEVICES ("void" by default without a GPU request,
    left to the device plugin with one) and nvml.hostPID the pod's hostPID."""
    values = pod_value_set[1]
    spec = pod_spec(pod_manifests)
    env = {e["name"]: e.get("value") for e in container(spec, "driftmon")["env"]}
    nvml = values.get("nvml", {})
    own_gpu = values.get("gpu", {}).get("count", 0) > 0
    expected = nvml.get("visibleDevices") or (None if own_gpu else "void")
    assert env.get("NVIDIA_VISIBLE_DEVICES") == expected
    assert spec.get("hostPID", False) == nvml.get("hostPID", False)


def test_dashboard_configmap_is_labelled_for_the_grafana_sidecar(manifests):
    """The dashboard ConfigMap carries grafana_dashboard: "1" and the checked-in JSON, intact."""
    dashboard = one(manifests, "ConfigMap", "-dashboard").body
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    shipped = json.loads((CHART / "dashboards" / "driftmon.json").read_text("utf-8"))
    assert json.loads(dashboard["data"]["driftmon.json"]) == shipped


def test_rules_configmap_ships_every_file_of_rules_dir(manifests):
    """The default rules ConfigMap holds each rules/*.yaml but the unit tests, byte for byte."""
    data = one(manifests, "ConfigMap", "-rules").body["data"]
    sources = [p for p in sorted((ROOT / "rules").glob("*.yaml")) if not p.name.endswith(".test.yaml")]
    assert sources, "rules/ has no rule files: the chart would ship an empty rules ConfigMap"
    assert sorted(data) == [p.name for p in sources]
    for source in sources:
        assert data[source.name] == source.read_text("utf-8")


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"serviceMonitr": {"enabled": True}}, "serviceMonitr"),
        ({"gpu": {"cuont": 1}}, "cuont"),
        ({"config": {"scoring": {"batchsize": 8}}}, "batchsize"),
        ({"mode": "daemonset"}, "/mode"),
        ({"alerting": {"receivers": [{"kind": "slack", "secret": {"name": "s"}}]}}, "key"),
    ],
)
def test_schema_rejects_misspelled_and_invalid_values(values, where):
    """values.schema.json makes Helm refuse a misspelled or invalid value, naming it."""
    import helm_python as helm

    base = load_values(VALUE_SETS["sidecar-cpu"])
    with pytest.raises(helm.HelmValuesError) as raised:
        render(base | values)
    assert where in str(raised.value)


def test_sidecar_mode_without_a_generator_image_fails_with_advice():
    """mode=sidecar with no generator image fails rendering and says what to set."""
    import helm_python as helm

    with pytest.raises(helm.HelmError, match=r"generator\.image\.repository"):
        render({})


def test_standalone_mode_without_a_generator_url_fails_with_advice():
    """mode=standalone needs probe.generator.url and the error says so."""
    import helm_python as helm

    with pytest.raises(helm.HelmError, match=r"probe\.generator\.url"):
        render({"mode": "standalone"})


def test_user_config_overrides_what_the_chart_derives(tmp_path):
    """Values under `config` win over the chart's derived configuration, false included."""
    values = load_values(VALUE_SETS["sidecar-cpu"]) | {
        "config": {"sources": {"push": {"enabled": False}}, "store": {"retention": "3d"}}
    }
    config = rendered_config(render(values), tmp_path)
    assert config.sources.push.enabled is False
    assert config.store.retention == 3 * 86400
    assert PurePosixPath(config.store.path).is_relative_to(STATE_DIR)


def test_parent_chart_can_include_the_sidecar_template(tmp_path):
    """A generator chart with driftmon as a subchart puts the driftmon container, its volumes and
    the shared objects into one pod with {{ include "driftmon.sidecar.container" ... }}."""
    import kubernetes_validate

    parent = tmp_path / "imagegen"
    (parent / "templates").mkdir(parents=True)
    shutil.copytree(CHART, parent / "charts" / "driftmon")
    (parent / "Chart.yaml").write_text(
        "apiVersion: v2\nname: imagegen\nversion: 1.0.0\n"
        "dependencies:\n  - name: driftmon\n    version: 0.1.0\n",
        "utf-8",
    )
    (parent / "values.yaml").write_text("driftmon:\n  mode: include\n", "utf-8")
    ctx = '(dict "Values" .Values.driftmon "Release" .Release)'
    (parent / "templates" / "deployment.yaml").write_text(
        f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: imagegen
spec:
  selector:
    matchLabels: {{app: imagegen}}
  template:
    metadata:
      labels:
        app: imagegen
        {{{{- include "driftmon.selectorLabels" {ctx} | nindent 8 }}}}
    spec:
      {{{{- include "driftmon.sidecar.podSpec" {ctx} | nindent 6 }}}}
      terminationGracePeriodSeconds: {{{{ include "driftmon.terminationGrace" {ctx} }}}}
      containers:
        - name: sdxl
          image: ghcr.io/example/sdxl-server:1.4.2
        {{{{- include "driftmon.sidecar.container" {ctx} | nindent 8 }}}}
      volumes:
        {{{{- include "driftmon.sidecar.volumes" {ctx} | nindent 8 }}}}
""",
        "utf-8",
    )
    manifests = render({}, chart=parent)
    deployment = one(manifests, "Deployment").body
    kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    spec = deployment["spec"]["template"]["spec"]
    assert [c["name"] for c in spec["containers"]] == ["sdxl", "driftmon"]
    driftmon = container(spec, "driftmon")
    assert "readinessProbe" not in driftmon and "startupProbe" not in driftmon
    assert spec["terminationGracePeriodSeconds"] == 30
    config_map = one(manifests, "ConfigMap", "-config").name
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["driftmon-config"]["configMap"]["name"] == config_map
    service = one(manifests, "Service").body
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()


def test_chart_files_are_in_sync_with_their_sources():
    """Generated chart files match their sources: rule copies, the config schema, the dashboard
    and the PrometheusRule's groups (`driftmon rules export rules/ --format prometheus`)."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, str(ROOT / "helm" / "sync.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert exported_groups(), "the exported rule file has no groups"


def test_prometheus_rule_embeds_every_exported_group(value_set):
    """With prometheusRule.enabled the chart's PrometheusRule holds the exported groups as they
    are, links resolved to the daemon's own (server.public_url, alerting.dashboard_url), plus any
    additionalGroups."""
    extra = {"name": "team-extra", "rules": [{"record": "team:up:sum", "expr": "sum(up)"}]}
    values = value_set[1] | {"prometheusRule": {"enabled": True, "additionalGroups": [extra]}}
    manifests = render(values)
    rule = one(manifests, "PrometheusRule").body
    config = yaml.safe_load(one(manifests, "ConfigMap", "-config").body["data"]["config.yaml"])
    links = {
        "${DRIFTMON_URL}": config["server"]["public_url"],
        "${DASHBOARD_URL}": config["alerting"]["dashboard_url"],
    }
    text = yaml.safe_dump(exported_groups())
    for placeholder, url in links.items():
        text = text.replace(placeholder, url)
    assert rule["spec"]["groups"] == [*yaml.safe_load(text), extra]


@pytest.mark.parametrize("rule_file", ["exported", "rendered"])
def test_promtool_accepts_the_exported_rules(rule_file, tmp_path):
    """`promtool check rules` passes on the exported file and on the PrometheusRule's spec."""
    import subprocess

    path = CHART / "files" / "prometheus-rules.yaml"
    if rule_file == "rendered":
        values = load_values(VALUE_SETS["sidecar-gpu"])
        spec = one(render(values), "PrometheusRule").body["spec"]
        path = tmp_path / "rendered-rules.yaml"
        path.write_text(yaml.safe_dump(spec), "utf-8")
    result = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rules = sum(len(group["rules"]) for group in yaml.safe_load(path.read_text("utf-8"))["groups"])
    assert f"SUCCESS: {rules} rules found" in result.stdout


def test_alerts_the_export_cannot_express_are_forwarded_from_the_daemon(tmp_path):
    """An alerting rule missing from the export gets a Prometheus alert on driftmon_alerts (firing)
    with its runbook, so it still reaches Alertmanager; promtool accepts the group."""
    import subprocess
    import sys

    sys.path.insert(0, str(ROOT / "helm"))
    try:
        import sync
    finally:
        sys.path.remove(str(ROOT / "helm"))
    names = sorted(sync.alert_rules())
    assert names, "rules/ has no alerting rule"
    shipped = {rule.get("alert") for group in exported_groups() for rule in group["rules"]}
    assert set(names) <= shipped, "every alert of rules/ reaches the chart's PrometheusRule"
    kept = {"groups": [{"name": "g", "rules": [{"alert": n, "expr": "vector(1)"} for n in names[1:]]}]}
    group = sync.forwarded_group(yaml.safe_dump(kept))
    assert group is not None
    assert [rule["alert"] for rule in group["rules"]] == [names[0]]
    assert f'driftmon_alerts{{alertname="{names[0]}", alertstate="firing"}}' in group["rules"][0]["expr"]
    runbook = sync.alert_rules()[names[0]].get("annotations", {}).get("runbook_url")
    assert group["rules"][0]["annotations"].get("runbook_url") == runbook
    path = tmp_path / "forwarded.yaml"
    path.write_text(yaml.safe_dump({"groups": [group]}), "utf-8")
    result = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ({"repository": "registry.example.com/sdxl", "tag": "1.4.2"}, "registry.example.com/sdxl:1.4.2"),
        (
            {"repository": "registry.example.com/sdxl@sha256:" + "a" * 64},
            "registry.example.com/sdxl@sha256:" + "a" * 64,
        ),
    ],
)
def test_generator_image_reference(image, expected):
    """The generator runs the image asked for: repository:tag, or the repository as given (digest)."""
    spec = pod_spec(render({"generator": {"image": image}}))
    assert container(spec, "generator")["image"] == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, "ghcr.io/driftmon/driftmon:{app}-cpu"),
        ({"gpu": {"count": 1}}, "ghcr.io/driftmon/driftmon:{app}-cuda"),
        ({"image": {"flavour": "cuda"}}, "ghcr.io/driftmon/driftmon:{app}-cuda"),
        (
            {"image": {"flavour": "cpu", "repository": "registry.example.com/dm"}},
            "registry.example.com/dm:{app}-cpu",
        ),
        ({"image": {"flavour": "cuda", "tag": "nightly"}}, "ghcr.io/driftmon/driftmon:nightly"),
        ({"image": {"digest": "sha256:" + "b" * 64}}, "ghcr.io/driftmon/driftmon@sha256:" + "b" * 64),
    ],
)
def test_image_flavour_selects_the_tag(values, expected):
    """image.flavour (cpu|cuda; empty follows gpu.count) suffixes the default tag; a tag or digest
    set by hand is used as it is."""
    base = load_values(VALUE_SETS["sidecar-cpu"])
    app_version = yaml.safe_load((CHART / "Chart.yaml").read_text("utf-8"))["appVersion"]
    spec = pod_spec(render(base | values))
    assert container(spec, "driftmon")["image"] == expected.format(app=app_version)


def test_gpu_request_only_with_the_cuda_image():
    """A GPU request with the cpu image fails rendering and says what to set."""
    import helm_python as helm

    base = load_values(VALUE_SETS["sidecar-cpu"])
    with pytest.raises(helm.HelmError, match=r"image\.flavour=cuda"):
        render(base | {"gpu": {"count": 1}, "image": {"flavour": "cpu"}})


def test_schema_rejects_an_unknown_image_flavour():
    """Only cpu, cuda or empty are image flavours."""
    import helm_python as helm

    with pytest.raises(helm.HelmValuesError) as raised:
        render(load_values(VALUE_SETS["sidecar-cpu"]) | {"image": {"flavour": "rocm"}})
    assert "flavour" in str(raised.value)


# -- the tap in the path (sidecar mode, tap.enabled) ----------------------------------------------


def tap_values(**tap) -> dict:
    return load_values(VALUE_SETS["sidecar-cpu"]) | {"tap": {"enabled": True, **tap}}


@pytest.fixture(scope="module")
def tap_manifests():
    return render(tap_values())


@pytest.mark.parametrize("version", [KUBERNETES_MINIMUM, KUBERNETES_VERSION])
def test_tap_renders_and_validates_against_kubernetes(tap_manifests, version):
    """With tap.enabled, every built-in object validates (strict) against the oldest Kubernetes
    the chart accepts and the pinned one, and `helm lint --strict` is clean."""
    import helm_python as helm
    import kubernetes_validate

    checked = 0
    for manifest in tap_manifests:
        if manifest.is_crd_object:
            continue
        try:
            kubernetes_validate.validate(manifest.body, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{manifest.template}: {manifest.kind}/{manifest.name}: {exc.message}")
        checked += 1
    assert checked >= 3
    report = helm.lint(str(CHART), tap_values(), strict=True, kube_version=f"v{version}")
    assert not [m for m in report["messages"] if m["severity"] >= 2]
    assert not report["errors"], report["errors"]


def test_tap_service_targets_the_tap_port(tap_manifests):
    """The Service's generator port reaches the tap's container port; the generator keeps its own
    port in the pod (the tap's upstream on 127.0.0.1); driftmon's http port is unchanged."""
    service = one(tap_manifests, "Service").body
    ports = {p["name"]: p for p in service["spec"]["ports"]}
    assert ports["generator"]["port"] == 8000 and ports["generator"]["targetPort"] == "tap"
    assert ports["http"]["targetPort"] == "http"
    spec = pod_spec(tap_manifests)
    driftmon_ports = {p["name"]: p["containerPort"] for p in container(spec, "driftmon")["ports"]}
    assert driftmon_ports == {"http": 9844, "tap": 9850}
    generator = [c for c in spec["containers"] if c["name"] != "driftmon"]
    assert [{p["name"]: p["containerPort"] for p in c["ports"]}.get("generator") for c in generator] == [8000]


def test_tap_port_follows_the_value(tmp_path):
    """tap.port moves the container port, the Service's target and sources.tap.listen together."""
    manifests = render(tap_values(port=9900, sampleRatio=0.5))
    ports = {p["name"]: p["containerPort"] for p in container(pod_spec(manifests), "driftmon")["ports"]}
    assert ports["tap"] == 9900
    config = rendered_config(manifests, tmp_path)
    assert config.sources.tap.listen == "0.0.0.0:9900" and config.sources.tap.sample_ratio == 0.5


def test_tap_readiness_is_the_tap_listening(tap_manifests):
    """With the tap in the path the pod cannot serve without it: the driftmon container is ready
    when the tap answers its own health path (never the scorer's /readyz), with no startup probe
    to hold the pod back while models load; the generator's probes are untouched."""
    from driftmon.sources.tap import HEALTH_PATH

    spec = pod_spec(tap_manifests)
    driftmon = container(spec, "driftmon")
    assert driftmon["readinessProbe"]["httpGet"] == {"path": HEALTH_PATH, "port": "tap"}
    assert "startupProbe" not in driftmon
    assert driftmon["livenessProbe"]["httpGet"]["path"] == "/healthz"
    generator = [c for c in spec["containers"] if c["name"] != "driftmon"]
    assert [c["readinessProbe"]["httpGet"]["path"] for c in generator] == ["/health"]


def test_tap_config_proxies_to_the_generator_on_localhost(tap_manifests, tmp_path):
    """The rendered config turns the tap on, listening on its port, upstream the generator's."""
    config = rendered_config(tap_manifests, tmp_path)
    tap = config.sources.tap
    assert tap.enabled is True
    assert tap.listen == "0.0.0.0:9850"
    assert tap.upstream == "http://127.0.0.1:8000"
    assert tap.sample_ratio == 0.1
    assert config.sources.push.enabled is True


def test_tap_off_keeps_the_service_on_the_generator_and_no_readiness():
    """tap.enabled false (the default): the Service reaches the generator directly and the
    driftmon container has no readiness probe, as before."""
    manifests = render(load_values(VALUE_SETS["sidecar-cpu"]))
    ports = {p["name"]: p for p in one(manifests, "Service").body["spec"]["ports"]}
    assert ports["generator"]["targetPort"] == "generator"
    driftmon = container(pod_spec(manifests), "driftmon")
    assert "readinessProbe" not in driftmon
    assert [p["name"] for p in driftmon["ports"]] == ["http"]


def test_tap_in_standalone_mode_fails_with_advice():
    """The tap lives in the generator's pod: standalone with tap.enabled fails and says so."""
    import helm_python as helm

    values = {
        "mode": "standalone",
        "probe": {"generator": {"url": "http://gen:8000"}},
        "tap": {"enabled": True},
    }
    with pytest.raises(helm.HelmError, match=r"mode=sidecar"):
        render(values)
