"""The exceptions driftmon raises on purpose.

DriftmonError                 base of everything below; never escapes the daemon's loops
├── ConfigError               a configuration file or variable is invalid (names field and file)
├── ImageRejected             an input image cannot be scored (names the reason)
│   ├── ImageTooLarge         pixel count over the configured limit (checked before decoding)
│   └── ImageUnreadable       empty, truncated, corrupt, or not an image at all
├── Refused                   `Intake.offer` did not take a sample (counted once, by outcome)
│   ├── Rejected              bad input: the message says what was wrong (HTTP 413/422)
│   └── Shed                  no room to take it now: retry later (HTTP 429/503 + Retry-After)
│       ├── JournalFull       the intake journal is at its bounds (HTTP 429 + Retry-After)
│       └── JournalUnavailable  the journal cannot be written: disk full, read-only, I/O
│                             error (HTTP 503 + Retry-After, still counted `shed`)
├── ModelUnavailable          OCR or model weights cannot be found or loaded
├── RuleError                 a rule file is invalid (names file:line:col)
│   ├── ExprSyntaxError       a rule expression cannot be parsed or means nothing (carries `pos`)
│   ├── TemplateError         an annotation template cannot be parsed (carries `pos`)
│   └── Unexportable          a rule PromQL over driftmon's metrics cannot express (export skips it)
├── BadRequest                an HTTP client error: status, message, headers (driftmon/api/server.py)
├── StoreError                the SQLite store failed after its retries
└── GeneratorError            a probe's call to the generator failed (carries a `reason` label)
"""

from __future__ import annotations

from collections.abc import Mapping


class DriftmonError(Exception):
    """Base class of every error driftmon raises on purpose."""


class ConfigError(DriftmonError):
    """A configuration value is invalid; the message names the field and the file."""


class ImageRejected(DriftmonError):
    """An image cannot be scored; `reason` is a short machine-readable label."""

    reason = "invalid"


class ImageTooLarge(ImageRejected):
    """The image has more pixels than the configured limit."""

    reason = "too_large"


class ImageUnreadable(ImageRejected):
    """The bytes are empty, truncated, corrupt or not an image."""

    reason = "unreadable"


class Refused(DriftmonError):
    """`Intake.offer` did not take the sample; `outcome` is its `driftmon_samples_total` label."""

    outcome = "refused"


class Rejected(Refused):
    """The sample is bad input; the message names what was wrong, `reason` is a short label."""

    outcome = "rejected"

    def __init__(self, message: str, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason


class Shed(Refused):
    """No room to take the sample now (the journal is full or cannot be written); it may be
    offered again later."""

    outcome = "shed"


class JournalFull(Shed):
    """The intake journal holds its most entries or bytes; the sample may be offered again later."""


class JournalUnavailable(Shed):
    """The intake journal cannot be written or read (disk full, read-only, I/O error); retry later.

    Raised by every `driftmon.store.journal.Journal` method; at intake it is a 503, not a 429.
    """


class ModelUnavailable(DriftmonError):
    """Model weights are missing or cannot be loaded."""


class RuleError(DriftmonError):
    """A rule file is invalid."""


class ExprSyntaxError(RuleError):
    """A syntax or meaning error at `pos` (0-based offset in the expression text)."""

    def __init__(self, pos: int, message: str) -> None:
        super().__init__(message)
        self.pos = pos
        self.message = message


class TemplateError(RuleError):
    """A template that cannot be parsed; `pos` is the 0-based offset in the template."""

    def __init__(self, pos: int, message: str) -> None:
        super().__init__(message)
        self.pos = pos
        self.message = message


class Unexportable(RuleError):
    """Part of an expression that PromQL (over driftmon's metrics) cannot express."""


class BadRequest(DriftmonError):
    """An HTTP client error: status and message for the JSON body, and extra headers."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


class StoreError(DriftmonError):
    """The store failed after its retries."""


class GeneratorError(DriftmonError):
    """A generator call failed; `reason` is a bounded label for metrics."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
