"""HTTP routes (Starlette). Handlers parse and hand off; they never wait on scoring.

A pushed sample goes through the daemon's one door, `Intake.offer` (driftmon.sources.intake),
which samples, validates, journals and counts; this module only maps its refusals to HTTP:
`Rejected` → 413 (too many pixels) or 422, `Shed` → 429 with Retry-After (503 when the journal
cannot be written, `JournalUnavailable`).
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import structlog
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from driftmon.api.cursor import decode_cursor, encode_cursor
from driftmon.api.openapi import COMPARE_LIMIT, RECENT_LIMIT, openapi_document
from driftmon.errors import BadRequest, JournalUnavailable, Rejected, Shed
from driftmon.samples import SampleMeta, ScoredSample
from driftmon.signals import TEXT_FIDELITY
from driftmon.sources.bounds import check_json_depth
from driftmon.sources.intake import Intake, Offer
from driftmon.store import Store

log = structlog.get_logger("driftmon.server")

class MetaIn(BaseModel):
    """The meta fields of `POST /v1/samples` (unknown fields are rejected, naming them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt: str | None = Field(None, max_length=10_000)
    expected_text: str | None = Field(None, max_length=10_000)
    model_version: str = Field("unknown", min_length=1, max_length=128)
    request_id: str | None = Field(None, max_length=256)
    latency_seconds: float | None = Field(None, ge=0)
    steps: int | None = Field(None, ge=0)
    seed: int | None = None
    labels: dict[str, str] = Field(default_factory=dict, max_length=16)
    size: tuple[int, int] | None = None
    expected_objects: dict[str, int] | None = None

    def to_meta(self) -> SampleMeta:
        return SampleMeta(**self.model_dump())


@dataclass
class AppState:
    """What the routes need; everything injected so tests can build it from fakes."""

    #: the one door (journal-backed): sampling, validation, counts
    intake: Intake
    store: Store
    registry: CollectorRegistry
    max_body_bytes: int = 20 * 1024 * 1024
    sample_ratio: float = 1.0
    push_enabled: bool = True
    auth_token: str | None = None
    public_url: str = ""
    retry_after_seconds: int = 5
    rules: Any | None = None
    extra_ready_checks: dict[str, Callable[[], bool]] = field(default_factory=dict)
    #: the scorer process's state for /readyz's body (the daemon's supervisor); None: left out
    scorer_state: Callable[[], dict[str, Any]] | None = None


#: recent samples /v1/samples/worst looks through
WORST_SCAN = 200


def error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=dict(headers or {}))


def _validation_message(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'meta'}: {e['msg']}" for e in exc.errors())


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BadRequest(413, f"body of {int(declared)} bytes exceeds the limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadRequest(413, f"body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_meta(raw: Any) -> SampleMeta:
    if not isinstance(raw, dict):
        raise BadRequest(422, "meta must be a JSON object")
    try:
        return MetaIn.model_validate(raw).to_meta()
    except ValidationError as exc:
        raise BadRequest(422, _validation_message(exc)) from exc


def _from_json(body: bytes) -> tuple[str, SampleMeta]:
    """The base64 image text and the meta; the image is decoded only if the sample is kept."""
    try:
        check_json_depth(body)
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError, Rejected, RecursionError) as exc:
        raise BadRequest(400, f"body is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("image_b64"), str):
        raise BadRequest(422, "image_b64: a base64 string is required")
    encoded = payload.pop("image_b64")
    return encoded, _parse_meta(payload)


async def _from_multipart(request: Request, body: bytes) -> tuple[bytes, SampleMeta]:
    async def replay() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        async with Request(request.scope, receive=replay).form() as form:
            upload = form.get("image")
            raw_meta = form.get("meta")
            if upload is None or isinstance(upload, str):
                raise BadRequest(422, "image: a file field named 'image' is required")
            image = await upload.read()
            meta_text = raw_meta if isinstance(raw_meta, str) else "{}"
    except BadRequest:
        raise
    except Exception as exc:
        raise BadRequest(400, f"malformed multipart body: {exc}") from exc
    if meta_text.encode("utf-8", "surrogatepass") not in body:
        # the form parser falls back to Latin-1 for a field that is not UTF-8: then the text's
        # UTF-8 bytes are not what was sent
        raise BadRequest(400, "meta is not valid UTF-8 text")
    try:
        check_json_depth(meta_text)
        return image, _parse_meta(json.loads(meta_text))
    except (json.JSONDecodeError, Rejected, RecursionError) as exc:
        raise BadRequest(400, f"meta is not valid JSON: {exc}") from exc


def _authorised(state: AppState, request: Request) -> bool:
    if state.auth_token is None:
        return True
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.encode(), state.auth_token.encode())


async def post_sample(request: Request) -> Response:
    """
    summary: Submit one generated image with its meta
    responses:
      202: {description: "accepted: {id, sampled}"}
      400: {description: malformed body}
      401: {description: missing or wrong bearer token}
      413: {description: body or pixel count over the limit}
      415: {description: unsupported content type}
      422: {description: invalid meta or image}
      429: {description: scoring queue full; retry after Retry-After seconds}
      503: {description: the intake journal cannot be written; retry after Retry-After seconds}
    """
    state: AppState = request.app.state.driftmon
    if not state.push_enabled:
        raise BadRequest(404, "push intake is disabled")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("application/json", "multipart/form-data"):
        raise BadRequest(415, "use multipart/form-data (image + meta) or application/json (image_b64 + meta)")
    body = await _read_body(request, state.max_body_bytes)
    data: bytes | str
    if content_type == "application/json":
        # parsing a multi-megabyte base64 body takes milliseconds: keep it off the event loop
        data, meta = await anyio.to_thread.run_sync(_from_json, body)
    else:
        data, meta = await _from_multipart(request, body)
    admitted = await state.intake.offer(Offer("push", data, meta, state.sample_ratio))
    return JSONResponse({"id": admitted.id, "sampled": admitted.sampled}, status_code=202)


def sample_json(sample: ScoredSample, public_url: str = "") -> dict[str, Any]:
    """A scored sample as the API shows it."""
    overlay = f"{public_url}/v1/samples/{sample.id}/overlay.png" if sample.overlay_path else None
    return {
        "id": sample.id,
        "source": sample.source,
        "received_at": sample.received_at,
        "scored_at": sample.scored_at,
        "model_version": sample.meta.model_version,
        "request_id": sample.meta.request_id,
        "prompt": sample.meta.prompt,
        "expected_text": sample.expected_text,
        "ocr_text": sample.ocr_text,
        "scores": dict(sample.scores),
        "latency_seconds": sample.meta.latency_seconds,
        "steps": sample.meta.steps,
        "seed": sample.meta.seed,
        "labels": dict(sample.meta.labels),
        "failing": sample.failing,
        "overlay_url": overlay,
    }


def query_limit(request: Request, bounds: tuple[int, int, int]) -> int:
    """The `limit` query parameter within `bounds` (low, high, default); 400 naming the bound."""
    low, high, default = bounds
    text = request.query_params.get("limit")
    if text is None:
        return default
    try:
        limit = int(text)
    except ValueError as exc:
        raise BadRequest(400, f"limit must be an integer from {low} to {high}") from exc
    if not low <= limit <= high:
        raise BadRequest(400, f"limit must be from {low} to {high} ({limit} given)")
    return limit


async def recent_samples(request: Request) -> Response:
    """The newest scored samples, one page (limit, model_version, cursor); Link rel="next"."""
    state: AppState = request.app.state.driftmon
    limit = query_limit(request, RECENT_LIMIT)
    version = request.query_params.get("model_version")
    cursor = request.query_params.get("cursor")
    try:
        before = decode_cursor(cursor) if cursor is not None else None
    except ValueError as exc:
        raise BadRequest(400, str(exc)) from exc
    samples = await anyio.to_thread.run_sync(state.store.recent, limit, version, before)
    headers = {}
    if len(samples) == limit:
        after = encode_cursor(samples[-1].received_at, samples[-1].id)
        headers["Link"] = f'<{request.url.include_query_params(cursor=after)}>; rel="next"'
    return JSONResponse([sample_json(s, state.public_url) for s in samples], headers=headers)


async def get_sample(request: Request) -> Response:
    """
    summary: One scored sample with its evidence
    responses: {200: {description: the sample}, 404: {description: unknown id}}
    """
    state: AppState = request.app.state.driftmon
    sample = await anyio.to_thread.run_sync(state.store.get, request.path_params["sample_id"])
    if sample is None:
        raise BadRequest(404, "no such sample")
    return JSONResponse({**sample_json(sample, state.public_url), "evidence": dict(sample.evidence)})


async def get_overlay(request: Request) -> Response:
    """
    summary: The sample's picture with OCR boxes (kept for failing samples)
    responses: {200: {description: PNG}, 404: {description: unknown id or no picture kept}}
    """
    state: AppState = request.app.state.driftmon
    sample = await anyio.to_thread.run_sync(state.store.get, request.path_params["sample_id"])
    if sample is None:
        raise BadRequest(404, "no such sample")
    if not sample.overlay_path or not await anyio.Path(sample.overlay_path).is_file():
        raise BadRequest(404, "no picture kept for this sample (pictures are kept for failing samples)")
    return FileResponse(sample.overlay_path, media_type="image/png")


async def worst_sample(request: Request) -> Response:
    """The worst recent failing sample's overlay on this pod (exported alerts link here)."""
    from driftmon.api.links import overlay_path, worst_failing

    state: AppState = request.app.state.driftmon
    version = request.query_params.get("model_version") or None
    recent = await anyio.to_thread.run_sync(state.store.recent, WORST_SCAN, version)
    worst = worst_failing(recent)
    if worst is None:
        which = f" of model version {version}" if version else ""
        raise BadRequest(
            404,
            f"no failing sample{which} with a kept picture among this pod's {len(recent)} most recent "
            "(pictures are kept for failing samples while artifacts are enabled)",
        )
    return RedirectResponse(f"{state.public_url}{overlay_path(worst)}", status_code=307)


def baseline_of(state: AppState, version: str) -> str:
    """The model version `version` is compared with now (pinned, or the previous one)."""
    reference = None if state.rules is None else state.rules.baselines.reference(version, time.time())
    if reference is None:
        raise BadRequest(404, f"model version {version} has no baseline yet (docs/rules.md, baselines)")
    return str(reference.model_version)


async def compare_versions(request: Request) -> Response:
    """
    summary: Two model versions side by side (query a, b, limit ≤ 1000, format html|json)
    responses:
      200: {description: scores, latency and failing pictures of both}
      400: {description: missing a or b}
    """
    from driftmon.api.compare import compare, render_html

    state: AppState = request.app.state.driftmon
    a, b = request.query_params.get("a"), request.query_params.get("b")
    if not a or not b:
        raise BadRequest(400, "give both model versions: ?a=v1&b=v2")
    if a == "baseline":  # alerts link b's comparison with whatever its baseline is now
        a = baseline_of(state, b)
    limit = query_limit(request, COMPARE_LIMIT)
    samples_a = await anyio.to_thread.run_sync(state.store.recent, limit, a)
    samples_b = await anyio.to_thread.run_sync(state.store.recent, limit, b)
    result = compare(a, samples_a, b, samples_b)
    if request.query_params.get("format") == "json":
        return JSONResponse(result.to_json())
    worst = {
        version: sorted(
            (s for s in found if s.overlay_path), key=lambda s: s.scores.get(TEXT_FIDELITY) or 0.0
        )[:6]
        for version, found in ((a, samples_a), (b, samples_b))
    }
    return HTMLResponse(render_html(result, worst))


async def metrics(request: Request) -> Response:
    """
    summary: Prometheus metrics
    responses: {200: {description: text exposition format}}
    """
    state: AppState = request.app.state.driftmon
    body = await anyio.to_thread.run_sync(generate_latest, state.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


async def healthz(request: Request) -> Response:
    """
    summary: Liveness
    responses: {200: {description: the process serves; the body has driftmon's version}}
    """
    from driftmon import __version__

    return JSONResponse({"status": "ok", "version": __version__})


async def readyz(request: Request) -> Response:
    """
    summary: Readiness (the intake can accept and journal); the scorer's state is in the body
    responses: {200: {description: ready}, 503: {description: not ready, with reasons}}
    """
    state: AppState = request.app.state.driftmon
    intake = await anyio.to_thread.run_sync(state.intake.can_accept)
    checks = {"intake": intake, **{k: f() for k, f in state.extra_ready_checks.items()}}
    body: dict[str, Any] = {"ready": all(checks.values()), "checks": checks}
    if state.scorer_state is not None:  # the scorer's state: shown, never a reason for 503
        body["scorer"] = state.scorer_state()
    return JSONResponse(body, status_code=200 if body["ready"] else 503)


async def alerts(request: Request) -> Response:
    """
    summary: Alert states (pending, firing, recently resolved)
    responses: {200: {description: a JSON list}}
    """
    state: AppState = request.app.state.driftmon
    return JSONResponse(state.rules.alerts() if state.rules is not None else [])


async def rules(request: Request) -> Response:
    """
    summary: Rule groups with health, last evaluation, duration and last error
    responses: {200: {description: a JSON list}}
    """
    state: AppState = request.app.state.driftmon
    return JSONResponse(state.rules.rules_status() if state.rules is not None else [])


async def openapi(request: Request) -> Response:
    """The OpenAPI 3.1 document (driftmon/api/openapi.py) of the routes this app serves."""
    from driftmon import __version__

    paths = {route.path for route in request.app.routes if getattr(route, "include_in_schema", False)}
    return JSONResponse(openapi_document(paths, __version__))


async def _bad_request(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BadRequest)
    return error(exc.status, exc.message, exc.headers)


async def _rejected(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Rejected)
    return error(413 if exc.reason == "too_large" else 422, str(exc))


async def _shed(request: Request, exc: Exception) -> Response:
    state: AppState = request.app.state.driftmon
    status = 503 if isinstance(exc, JournalUnavailable) else 429
    return error(status, str(exc), {"Retry-After": str(state.retry_after_seconds)})


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error(exc.status_code, exc.detail, exc.headers)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("request_failed", path=request.url.path, error=repr(exc))
    return error(500, "internal error; see the daemon's log")


def make_app(state: AppState, protected_prefix: str = "/v1/") -> Starlette:
    """The ASGI app; bearer auth (when configured) guards every route under /v1/."""
    routes = [
        Route("/v1/samples", post_sample, methods=["POST"]),
        Route("/v1/samples/recent", recent_samples, methods=["GET"]),
        Route("/v1/samples/worst", worst_sample, methods=["GET"]),
        Route("/v1/samples/{sample_id}", get_sample, methods=["GET"]),
        Route("/v1/samples/{sample_id}/overlay.png", get_overlay, methods=["GET"]),
        Route("/v1/compare", compare_versions, methods=["GET"]),
        Route("/v1/alerts", alerts, methods=["GET"]),
        Route("/v1/rules", rules, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"], include_in_schema=False),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(BearerAuth, state=state, prefix=protected_prefix)],
        exception_handlers={
            BadRequest: _bad_request,
            Rejected: _rejected,
            Shed: _shed,
            HTTPException: _http_exception,
            Exception: _unexpected,
        },
    )
    app.state.driftmon = state
    return app


class BearerAuth:
    """ASGI middleware: routes under `prefix` need the configured bearer token (when one is set)."""

    def __init__(self, app: ASGIApp, state: AppState, prefix: str) -> None:
        self.app = app
        self.state = state
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefix):
            request = Request(scope)
            if not _authorised(self.state, request):
                response = error(401, "missing or invalid bearer token", {"WWW-Authenticate": "Bearer"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
