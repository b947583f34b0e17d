"""The signal catalogue: every score and event driftmon computes, and everywhere it goes.

One `Signal` per name. From `CATALOGUE` come the score-name lists the scorers fill, the
Prometheus families the daemon registers (driftmon/metrics.py, scoring/composition_metrics.py),
the signals rules may name (rules/compile.py), the PromQL each exports to (rules/export.py), the
recording rules every export carries (`STANDING_RECORDINGS`, read by helm/dashboard.py), the
columns of `driftmon score`, and the docs tables (`python -m driftmon.signals --check`).

A new score is one check module (driftmon/scoring/checks/) and one entry here. Pure: no
third-party imports.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Kind = Literal["score", "flag", "event", "gauge"]
MetricType = Literal["histogram", "counter", "gauge"]
ExportHow = Literal["histogram", "gauge", "counter_share"]

SAMPLE_LABELS = ("source", "model_version")
#: dcgm-exporter 4.x names (UUID, modelName, Hostname) beside uuid/name (deprecated, one release)
GPU_LABELS = ("gpu", "uuid", "name", "UUID", "modelName", "Hostname")
#: the target labels Prometheus adds (plain scrape configs: instance; the Operator: namespace, pod)
#: that per-pod exported rules group by besides the rule's own `by`
POD_LABELS = ("namespace", "pod", "instance")

#: text scores (0..1), fine around the default failing threshold 0.85
RATIO_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.98, 1.0)
#: composition shares (of area, words, objects), where "all but a little" (0.99) matters
SHARE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
#: variance of the Laplacian: < 100 is commonly blurred, sharp photos reach thousands
SHARPNESS_BUCKETS = (10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0, 30000.0)
CLIP_SCORE_BUCKETS = (0.25, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 2.0, 2.5)
LATENCY_BUCKETS = (0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10, 30, 60, 120)
#: sampling steps: distilled models take 1-8, SD/SDXL schedulers 20-50
STEPS_BUCKETS = (1, 2, 4, 8, 12, 16, 20, 25, 30, 40, 50, 75, 100, 150)


@dataclass(frozen=True, slots=True)
class Metric:
    """A Prometheus family, by its exposed name: counters end in ``_total``; a histogram's name is
    the stem of its ``_bucket``/``_sum``/``_count`` series."""

    name: str
    type: MetricType
    labels: tuple[str, ...]
    help: str
    buckets: tuple[float, ...] = ()
    #: counters fed by a 0/1 signal: the value that counts one
    counts: float | None = None


@dataclass(frozen=True, slots=True)
class Recording:
    """A series Prometheus computes with a recording rule (the daemon exposes its inputs)."""

    name: str
    expr: str
    labels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Export:
    """How a rule on the signal is written in PromQL (see rules/export.py)."""

    how: ExportHow
    #: counter_share: the `outcome` label value whose share is the signal
    outcome: str | None = None
    #: gauge computed by a recording rule rather than exposed by the daemon
    recording: Recording | None = None
    #: an infrastructure signal (probe, intake, queue, GPU, scorer): exported rules on it keep
    #: each pod's series apart (`POD_LABELS`) instead of aggregating the fleet by model version
    per_pod: bool = False


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a signal's readings come from, and the labels they carry (for the docs)."""

    key: str
    source: str
    labels: str


@dataclass(frozen=True, slots=True)
class Column:
    """A column of `driftmon score`'s table: header, place, and the words for 0 and 1."""

    header: str
    position: int
    flag_words: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Signal:
    """One score or event: its name (the rule signal name), unit, kind and destinations."""

    name: str
    kind: Kind
    unit: str
    origin: Origin
    description: str
    metric: Metric | None = None
    export: Export | None = None
    aliases: tuple[str, ...] = ()
    column: Column | None = None
    #: docs: the published convention the definition follows
    convention: str = ""
    #: docs: when the value is None
    none_when: str = ""

    @property
    def rule_names(self) -> tuple[str, ...]:
        """The names rules may use for it."""
        return (self.name, *self.aliases)

    @property
    def export_series(self) -> str | None:
        """The series exported rules select (None: not exported)."""
        if self.export is None:
            return None
        if self.export.recording is not None:
            return self.export.recording.name
        return None if self.metric is None else self.metric.name

    @property
    def export_labels(self) -> frozenset[str]:
        """The labels the exported series carries (the counted outcome excluded)."""
        if self.export is not None and self.export.recording is not None:
            return frozenset(self.export.recording.labels)
        if self.metric is None:
            return frozenset()
        return frozenset(self.metric.labels) - {"outcome"}


TEXT = Origin("text", "each scored sample", "`source`, `model_version`, sample labels")
COMPOSITION = Origin(
    "composition", "composition and alignment checks, where enabled",
    "`source`, `model_version`, sample labels",
)
META = Origin("meta", "each scored sample's meta", "`source`, `model_version`, sample labels")
PROMPT = Origin(
    "prompt", "each scored sample's prompt, with `scoring.tokenizer_dir` set",
    "`source`, `model_version`, sample labels",
)
#: the sample's expected text falls past the tokenizer's limit (driftmon/tokens/live.py)
PROMPT_TRUNCATED = "prompt_truncated"
PROBE = Origin("probe", "each canary probe call", '`source="probe"`, `probe`')
INTAKE = Origin("intake", "each sample offered to intake", "`source`")
GPU = Origin("gpu", "NVML readings", "`gpu`")
QUEUE = Origin("queue", "the scoring queue", "—")
SCORER = Origin("scorer", "the scorer process's supervisor", "—")
EMBEDDINGS = Origin("embeddings", "the embedding-drift check, per model version", "`model_version`")
READERS = Origin(
    "readers", "each sample read by both OCR readers (`scoring.second_reader`)",
    "`source`, `model_version`, sample labels",
)
#: the readers' verdicts (fidelity below `failing_below` or not) differ on a sample
READER_DISAGREEMENT = "reader_disagreement"

#: driftmon_samples_total: every sample's outcome (the `shed` signal is one of them)
SAMPLES = Metric(
    "driftmon_samples_total", "counter", (*SAMPLE_LABELS, "outcome"),
    "Samples seen, by source, model version and outcome.",
)
#: driftmon_composition_checks_total: every composition score with a value counts here
COMPOSITION_CHECKS = Metric(
    "driftmon_composition_checks_total", "counter", (*SAMPLE_LABELS, "check"),
    "Images on which a composition or alignment check produced a value, by check.",
)
#: the statistics and their p-values are two families (a statistic and a probability never share
#: one); `method` is mean_distance or classifier_auc in both
EMBEDDING_DRIFT_STATISTIC = Metric(
    "driftmon_embedding_drift_statistic", "gauge", ("method", "model_version"),
    "Embedding drift of recent images against the baseline, by method: mean_distance (distance "
    "between the mean embeddings) or classifier_auc (a classifier two-sample test's ROC AUC).",
)
EMBEDDING_DRIFT_P_VALUE = Metric(
    "driftmon_embedding_drift_p_value", "gauge", ("method", "model_version"),
    "p-value of each method's drift statistic (mean_distance: a permutation test; classifier_auc: "
    "a one-sided Mann-Whitney U test); small: the drift is not chance.",
)
EMBEDDING_DRIFT_THRESHOLD = Metric(
    "driftmon_embedding_drift_threshold", "gauge", ("method",),
    "Drift is reported when a statistic is above its threshold (by method) and its p-value below "
    "driftmon_embedding_drift_alpha.",
)
EMBEDDING_DRIFT_ALPHA = Metric(
    "driftmon_embedding_drift_alpha", "gauge", (),
    "The p-value below which a statistic over its threshold reports drift.",
)
EMBEDDING_DRIFT_DETECTED = Metric(
    "driftmon_embedding_drift_detected", "gauge", ("model_version",),
    "1 when either method reports embedding drift for the model version, else 0.",
)

GENERATION_LATENCY = Metric(
    "driftmon_generation_latency_seconds", "histogram", SAMPLE_LABELS,
    "Generation latency reported or measured per sample.", LATENCY_BUCKETS,
)


def _rate_by(metric: Metric, series: str, labels: tuple[str, ...], window: str) -> Recording:
    """``sum by (labels) (rate(<metric><series>[window]))``, named ``level:metric:operations``
    as Prometheus's recording-rule convention writes it (e.g. ``model_version:x_count:rate5m``)."""
    name = f"{'_'.join(labels)}:{metric.name}{series}:rate{window}"
    return Recording(name, f"sum by ({', '.join(labels)}) (rate({metric.name}{series}[{window}]))", labels)


#: images per second of each model version, fleet-wide (samples that report a latency)
IMAGES_RATE = _rate_by(GENERATION_LATENCY, "_count", ("model_version",), "5m")
#: GPU-seconds per second of each model version = mean latency × images/s (an upper bound:
#: latency includes queueing); a model swap's cost shows as a step
GPU_SECONDS_RATE = _rate_by(GENERATION_LATENCY, "_sum", ("model_version",), "5m")
#: recording rules `driftmon rules export` always writes, whatever the rules (the dashboard's Cost
#: row reads them)
STANDING_RECORDINGS: tuple[Recording, ...] = (IMAGES_RATE, GPU_SECONDS_RATE)

_HISTOGRAM = Export("histogram")
_GAUGE = Export("gauge")
_POD_GAUGE = Export("gauge", per_pod=True)


def _ratio(name: str, what: str) -> Metric:
    return Metric(name, "histogram", SAMPLE_LABELS, f"Per-sample {what} (0..1).", RATIO_BUCKETS)


def _share(name: str, help_text: str) -> Metric:
    return Metric(name, "histogram", SAMPLE_LABELS, help_text, SHARE_BUCKETS)


def _flag_counter(name: str, help_text: str, counts: float = 1.0) -> Metric:
    return Metric(name, "counter", SAMPLE_LABELS, help_text, counts=counts)


_NONE_OFF = "check off"
CATALOGUE: tuple[Signal, ...] = (
    # ------------------------------------------------------------------------- text scores
    Signal(
        "text_fidelity", "score", "0..1", TEXT,
        "`1 − Levenshtein(expected, read) / max(len(expected), len(read))` where *read* is the "
        "OCR detections in reading order, joined by spaces: box geometry deskewed by the boxes' "
        "median text angle, boxes grouped into lines by vertical overlap (≥ 50% of the smaller "
        "box), lines top to bottom, boxes left to right; lines split at gaps ≥ 1.5 text heights "
        "stack into blocks (columns), read block by block. With several expected lines, the read "
        "lines (or blocks) are first put in the order of the expected lines they match (an "
        "assignment maximising edit similarity) and the better of row and block reading counts: "
        "another line or block order costs nothing, swapped words inside a line do. When the "
        "reader's character set lacks a character of the expected text (`fold_accents: auto`; or "
        "`always`), both texts are compared accent-folded (NFKD without combining marks)",
        _ratio("driftmon_text_fidelity_ratio", "text fidelity"), _HISTOGRAM,
        aliases=("fidelity",), column=Column("fidelity", 1),
        convention="AnyText's NED similarity; pbevan1's spelling score",
    ),
    Signal(
        "word_precision", "score", "0..1", TEXT,
        "read words that are expected ÷ read words (multisets of whitespace tokens, surrounding "
        "punctuation stripped)",
        convention="TextDiffuser MARIO-Eval",
    ),
    Signal(
        "word_recall", "score", "0..1", TEXT,
        "expected words that are read ÷ expected words (multisets, as above)",
        convention="TextDiffuser MARIO-Eval",
    ),
    Signal(
        "word_f1", "score", "0..1", TEXT,
        "harmonic mean of `word_precision` and `word_recall`",
        _ratio("driftmon_word_f1_ratio", "word f1"), _HISTOGRAM, column=Column("word F1", 2),
        convention="TextDiffuser MARIO-Eval",
    ),
    Signal(
        "exact_match", "flag", "0/1", TEXT,
        "the bags of read and expected words are equal (1) or not (0)",
        _flag_counter(
            "driftmon_exact_match_total",
            "Scored samples whose words exactly matched the expected text.",
        ),
        column=Column("exact", 3, ("no", "yes")), convention="MARIO-Eval accuracy",
    ),
    Signal(
        "hallucination", "score", "0..1", TEXT,
        "characters of read words that resemble no expected word (similarity < 0.5) ÷ all read "
        "characters; 1.0 when text is read and none was expected",
        _ratio("driftmon_hallucination_ratio", "hallucination"), _HISTOGRAM,
        column=Column("halluc.", 4), convention="driftmon's own",
    ),
    # ------------------------------------------------------------------ composition scores
    Signal(
        "margin_violation", "flag", "0/1", COMPOSITION,
        "some expected-text or object box leaves the safe area, or text is clipped",
        _flag_counter(
            "driftmon_composition_margin_violations_total",
            "Images with expected text or an object outside the safe area, or clipped text.",
        ),
        column=Column("margin", 6, ("ok", "violated")),
        none_when="check off, or nothing to check",
    ),
    Signal(
        "safe_area_ratio", "score", "0..1", COMPOSITION,
        "share of the checked boxes' area inside the safe area",
        _share(
            "driftmon_composition_safe_area_ratio",
            "Share of the checked boxes' area inside the safe area.",
        ),
        _HISTOGRAM, none_when="as above",
    ),
    Signal(
        "legibility", "score", "0..1", COMPOSITION,
        "share of expected words that are legible",
        _share("driftmon_composition_legibility_ratio", "Share of expected words that are legible."),
        _HISTOGRAM, column=Column("legible", 5), none_when="check off, or no text expected",
    ),
    Signal(
        "blank", "flag", "0/1", COMPOSITION,
        "the image is uniform or near-black",
        _flag_counter("driftmon_composition_blank_images_total", "Uniform or near-black images."),
        none_when=_NONE_OFF,
    ),
    Signal(
        "sharpness", "score", "≥ 0", COMPOSITION,
        "variance of the Laplacian of the grey image",
        Metric(
            "driftmon_composition_sharpness", "histogram", SAMPLE_LABELS,
            "Variance of the Laplacian of the grey image.", SHARPNESS_BUCKETS,
        ),
        _HISTOGRAM, none_when=_NONE_OFF,
    ),
    Signal(
        "size_ok", "flag", "0/1", COMPOSITION,
        "the image has the requested width × height",
        _flag_counter(
            "driftmon_composition_size_mismatches_total",
            "Images whose size differs from the requested size.", counts=0.0,
        ),
        none_when="check off, or no size requested",
    ),
    Signal(
        "object_count_match", "score", "0..1", COMPOSITION,
        "share of expected objects found in the expected number",
        _share(
            "driftmon_composition_object_count_match_ratio",
            "Share of expected objects found in the expected number.",
        ),
        _HISTOGRAM, none_when="no detector, or no counts expected",
    ),
    Signal(
        "clip_score", "score", "0..2.5", COMPOSITION,
        "CLIPScore between prompt and image",
        Metric(
            "driftmon_alignment_clip_score", "histogram", SAMPLE_LABELS,
            "CLIPScore between prompt and image (0..2.5).", CLIP_SCORE_BUCKETS,
        ),
        _HISTOGRAM, none_when="no CLIP model, or no prompt",
    ),
    # --------------------------------------------------------------- events and readings
    Signal(
        "latency_seconds", "event", "seconds", META,
        "generation latency the sample reports (or the probe measured)",
        GENERATION_LATENCY, _HISTOGRAM,
    ),
    Signal(
        "steps", "event", "steps", META, "diffusion steps the sample reports",
        Metric(
            "driftmon_generation_steps", "histogram", SAMPLE_LABELS,
            "Sampling steps reported per sample (pushes, the tap, probes).", STEPS_BUCKETS,
        ),
        _HISTOGRAM,
    ),
    Signal(
        PROMPT_TRUNCATED, "flag", "0/1", PROMPT,
        "the prompt's expected text (quoted spans) falls past the tokenizer's `model_max_length`, "
        "so the text encoder never sees it (1), or is kept whole (0)",
        Metric(
            "driftmon_prompt_truncation_checks_total", "counter", (*SAMPLE_LABELS, "outcome"),
            "Prompts checked against scoring.tokenizer_dir, by outcome: truncated (expected text "
            "past the cut) or intact.",
        ),
        Export("counter_share", outcome="truncated"),
        none_when="no `scoring.tokenizer_dir`, or no prompt",
    ),
    Signal(
        READER_DISAGREEMENT, "event", "0/1", READERS,
        "the first (EasyOCR) and second (RapidOCR) reader's verdicts differ (1) or agree (0); "
        "the better reading counts, so a sample fails only when both readers fail it",
        _flag_counter(
            "driftmon_reader_disagreements_total",
            "Samples read by both OCR readers whose verdicts (failing or not) differ.",
        ),
        none_when="read by one reader only",
    ),
    Signal(
        "probe_failure", "event", "0/1", PROBE,
        "the canary probe's generator call failed (1) or returned an image (0)",
        Metric(
            "driftmon_probe_requests_total", "counter", ("probe", "outcome"),
            "Probe requests by probe and outcome: ok, failed (the generator call), dropped "
            "(intake refused).",
        ),
        Export("counter_share", outcome="failed", per_pod=True),
    ),
    Signal(
        "shed", "event", "0/1", INTAKE,
        "the sample was shed (1) because the scoring queue was full, or taken (0)",
        SAMPLES, Export("counter_share", outcome="shed", per_pod=True),
    ),
    Signal(
        "gpu_memory_used_ratio", "gauge", "ratio", GPU,
        "GPU memory used ÷ total, per device",
        export=Export("gauge", recording=Recording(
            "driftmon:gpu_memory_used:ratio",
            "driftmon_gpu_memory_used_bytes / driftmon_gpu_memory_total_bytes", GPU_LABELS,
        ), per_pod=True),
    ),
    Signal(
        "gpu_utilization_ratio", "gauge", "ratio", GPU,
        "GPU utilization, per device",
        Metric(
            "driftmon_gpu_utilization_ratio", "gauge", GPU_LABELS,
            "Share of the last sample period in which a kernel ran on the GPU (absent under MIG).",
        ),
        _POD_GAUGE,
    ),
    Signal(
        "queue_fill_ratio", "gauge", "ratio", QUEUE,
        "samples waiting to be scored ÷ the queue's capacity",
        export=Export("gauge", recording=Recording(
            "driftmon:queue_fill:ratio", "driftmon_queue_depth / driftmon_queue_capacity", (),
        ), per_pod=True),
    ),
    Signal(
        "scorer_up", "gauge", "0/1", SCORER,
        "the scorer process runs with its models loaded (1), or is starting or restarting (0)",
        Metric(
            "driftmon_scorer_up", "gauge", (),
            "1 while the scorer process runs with its models loaded (0: starting, restarting).",
        ),
        _POD_GAUGE,
    ),
    Signal(
        "embedding_drift", "event", "0/1", EMBEDDINGS,
        "either embedding-drift method reports drift against the previous version",
        EMBEDDING_DRIFT_DETECTED,
    ),
    Signal(
        "embedding_drift_auc", "event", "0..1", EMBEDDINGS,
        "the classifier two-sample test's ROC AUC "
        "(`driftmon_embedding_drift_statistic{method=\"classifier_auc\"}`)",
        EMBEDDING_DRIFT_STATISTIC,
    ),
    Signal(
        "embedding_drift_distance", "event", "distance", EMBEDDINGS,
        "distance between the mean embeddings "
        "(`driftmon_embedding_drift_statistic{method=\"mean_distance\"}`)",
        EMBEDDING_DRIFT_STATISTIC,
    ),
)

BY_NAME: Mapping[str, Signal] = {s.name: s for s in CATALOGUE}


def of(origin: Origin) -> tuple[Signal, ...]:
    """The signals from `origin`, in catalogue order."""
    return tuple(s for s in CATALOGUE if s.origin is origin)


#: the score names every scored sample carries (None where not applicable)
TEXT_SCORES = tuple(s.name for s in of(TEXT))
#: the score names the composition checks fill (None where a check is off or n/a)
COMPOSITION_SCORES = tuple(s.name for s in of(COMPOSITION))
#: the score names a scorer with a second reader adds (None where one reader read)
READER_SCORES = tuple(s.name for s in of(READERS))
#: every name a rule may use (aliases included)
RULE_SIGNALS = frozenset(name for s in CATALOGUE for name in s.rule_names)
#: alias → the signal it means
ALIASES: Mapping[str, str] = {alias: s.name for s in CATALOGUE for alias in s.aliases}
#: signals whose rules export to PromQL
EXPORTED: Mapping[str, Signal] = {s.name: s for s in CATALOGUE if s.export is not None}
#: the score columns of `driftmon score`'s table, in order
TABLE_COLUMNS = tuple(
    sorted(
        (s for s in CATALOGUE if s.column is not None),
        key=lambda s: 0 if s.column is None else s.column.position,
    )
)


def _score(name: str) -> str:
    """`name`, checked to be a catalogue signal (for the constants below)."""
    if name not in BY_NAME:
        raise KeyError(name)
    return name


#: score names read by name outside the checks (comparisons, failing pictures, reports)
TEXT_FIDELITY = _score("text_fidelity")
WORD_F1 = _score("word_f1")
HALLUCINATION = _score("hallucination")
LEGIBILITY = _score("legibility")
SAFE_AREA_RATIO = _score("safe_area_ratio")
CLIP_SCORE = _score("clip_score")
MARGIN_VIOLATION = _score("margin_violation")
BLANK = _score("blank")


def format_cell(signal: Signal, value: float | bool | None) -> str:
    """A score as `driftmon score`'s table shows it."""
    if value is None:
        return "—"
    words = signal.column.flag_words if signal.column is not None else None
    if words is not None:
        return words[1] if float(value) == 1.0 else words[0]
    return f"{value:.3f}"


# -------------------------------------------------------------------------- docs tables


def _code(names: Iterable[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _export_text(signal: Signal) -> str:
    if signal.export is None:
        return "no (no metric)" if signal.metric is None else "no"
    series = f"`{signal.export_series}`"
    if signal.export.how == "counter_share":
        return f'share of `{signal.export_series}{{outcome="{signal.export.outcome}"}}`'
    if signal.export.recording is not None:
        return f"{series} (recording rule: `{signal.export.recording.expr}`)"
    return f"{signal.export.how} {series}"


def readme_scores() -> str:
    """README's score table (the text scores)."""
    return _table(
        ("score", "definition", "convention"),
        ((f"`{s.name}`", s.description, s.convention) for s in of(TEXT)),
    )


def rules_signals() -> str:
    """docs/rules.md's table of the signals rules may use."""
    def name(s: Signal) -> str:
        alias = f" (alias {_code(s.aliases)})" if s.aliases else ""
        return f"`{s.name}`{alias}"

    return _table(
        ("signal", "unit", "from", "labels", "exported to PromQL as"),
        ((name(s), s.unit, s.origin.source, s.origin.labels, _export_text(s)) for s in CATALOGUE),
    )


def composition_scores() -> str:
    """docs/composition.md's score table."""
    return _table(
        ("score", "type", "meaning", "`None` when"),
        ((f"`{s.name}`", s.unit, s.description, s.none_when) for s in of(COMPOSITION)),
    )


def composition_metrics() -> str:
    """docs/composition.md's metric table."""
    def labels(metric: Metric) -> str:
        return ", ".join(f"`{label}`" for label in metric.labels)

    metrics = [COMPOSITION_CHECKS, *(s.metric for s in of(COMPOSITION) if s.metric is not None),
               EMBEDDING_DRIFT_STATISTIC, EMBEDDING_DRIFT_P_VALUE, EMBEDDING_DRIFT_THRESHOLD,
               EMBEDDING_DRIFT_ALPHA, EMBEDDING_DRIFT_DETECTED]
    return _table(
        ("name", "type", "labels", "meaning"),
        ((f"`{m.name}`", m.type, labels(m), m.help) for m in metrics),
    )


#: generated tables: marker name → (the file under the repository root, the renderer)
TABLES: Mapping[str, tuple[str, Callable[[], str]]] = {
    "readme-scores": ("README.md", readme_scores),
    "rules-signals": ("docs/rules.md", rules_signals),
    "composition-scores": ("docs/composition.md", composition_scores),
    "composition-metrics": ("docs/composition.md", composition_metrics),
}


def fill_tables(text: str, names: Iterable[str]) -> str:
    """`text` with each table between ``<!-- signals:NAME -->`` and ``<!-- /signals:NAME -->``
    regenerated; a missing marker pair is a ValueError."""
    for name in names:
        pattern = re.compile(
            rf"(<!-- signals:{re.escape(name)} -->\n).*?(<!-- /signals:{re.escape(name)} -->)",
            re.DOTALL,
        )
        found = pattern.search(text)
        if found is None:
            raise ValueError(f"no <!-- signals:{name} --> … <!-- /signals:{name} --> markers")
        text = f"{text[: found.end(1)]}{TABLES[name][1]()}\n{text[found.start(2) :]}"
    return text


def stale_docs(root: Path) -> dict[Path, str]:
    """Each doc under `root` whose generated tables differ from the catalogue → its new text."""
    by_file: dict[str, list[str]] = {}
    for name, (doc, _) in TABLES.items():
        by_file.setdefault(doc, []).append(name)
    stale: dict[Path, str] = {}
    for relative, names in by_file.items():
        path = root / relative
        text = path.read_text("utf-8")
        fresh = fill_tables(text, names)
        if fresh != text:
            stale[path] = fresh
    return stale


def main(argv: Sequence[str]) -> int:
    """``--markdown``: print every table; ``--write``/``--check`` the docs under the cwd."""
    if "--markdown" in argv:
        for name, (doc, render) in TABLES.items():
            print(f"<!-- signals:{name} ({doc}) -->\n{render()}\n")
        return 0
    stale = stale_docs(Path.cwd())
    for path, text in stale.items():
        if "--write" in argv:
            path.write_text(text, "utf-8")
        print(f"{path}: {'regenerated' if '--write' in argv else 'stale'}", file=sys.stderr)
    return 1 if stale and "--check" in argv else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
