"""The synthetic generator: a stand-in for a diffusion server in tests and ``driftmon demo``.

Routes (`make_generator_app`):

    POST /v1/images/generations   the OpenAI Images API (``response_format: b64_json``)
    POST /sdapi/v1/txt2img        the AUTOMATIC1111 / Forge API
    GET  /admin/model             the model version answering, and counters
    POST /admin/model             ``{"version": "v2"}`` swaps the model at run time
    GET  /healthz                 liveness

Every image is a pure function of (prompt, seed, size, version) unless `noise` is on (then the
background, the sign's place and an occasional slipped character vary per call): a sky, hills,
a sun, trees and a sign with the prompt's quoted text in DejaVu Sans Bold, dark on light, 48–64 px where it
fits. `v1` draws the text exactly and answers in about 85 ms; `v2` garbles a third of the
characters, sometimes pushes the sign past the image border, and answers in about 320 ms —
the incident driftmon exists to catch. Responses name the version (header ``X-Model-Version``;
``model_version`` in OpenAI responses, ``info.sd_model_name`` in A1111 ones).

With `push_to` (the daemon's ``POST /v1/samples``) a `push_ratio` share of production outputs
is pushed in the background. Requests from driftmon's prober (User-Agent ``driftmon-probe/…``)
are never pushed, so a probe is not counted twice.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import random
import time
import uuid
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import structlog
from PIL import Image, ImageDraw, ImageFont, PngImagePlugin
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from driftmon.expectations import expected_lines
from driftmon.http import make_client

FONT_PATH = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
INK = (24, 22, 30)
BOARD = (246, 241, 226)
FRAME = (92, 64, 40)
#: latency jitter: ± this share of the model's latency, drawn from a seeded generator
JITTER = 0.15
#: the sampler the synthetic generator reports (it has none; a real one would)
DEFAULT_SAMPLER = "Euler a"
MIN_SIDE, MAX_SIDE = 64, 2048
DEMO_SERVICE = "demo-generator"

#: production prompts for the demo's traffic: quoted text of varied length
DEMO_PROMPTS = (
    'a cozy coffee shop storefront with a chalkboard sign that says "OPEN DAILY"',
    'a wooden trail marker in a pine forest reading "NORTH RIDGE"',
    'a bakery window with a hand painted sign "FRESH BREAD"',
    'a bus stop at dusk, the sign says "ROUTE 42"',
    'a vintage cinema marquee announcing "MIDNIGHT SHOW"',
    'a farmers market stall with a banner "LOCAL HONEY"',
    'a beach kiosk with a board that reads "SURF RENTALS"',
    'a bookshop on a rainy street, sign "USED BOOKS"',
    'a mountain hut with a carved sign "SUMMIT 2450 M"',
    'a city park entrance with a sign "CITY GARDEN" and another "NO DOGS"',
    'a small harbor office with a plaque "HARBOR MASTER"',
    'a roadside diner with a neon sign saying "EAT HERE"',
)


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """How one simulated model version behaves."""

    name: str
    latency_seconds: float
    #: share of the non-space characters replaced by wrong ones
    garble_ratio: float
    #: probability that the sign is pushed past the image border (text clipped)
    off_edge_chance: float
    sd_model_hash: str
    #: with noise on: the chance that one character comes out wrong (the model's own error rate)
    slip_chance: float = 0.0


MODELS: dict[str, ModelSpec] = {
    "v1": ModelSpec("v1", 0.085, 0.0, 0.0, "a1b2c3d4e5", slip_chance=0.02),
    "v2": ModelSpec("v2", 0.320, 1 / 3, 0.35, "f6e5d4c3b2", slip_chance=0.02),
}


def stable_seed(prompt: str) -> int:
    """A seed derived from the prompt (for requests without one); the same on every run."""
    return zlib.crc32(prompt.encode("utf-8"))


def _substitute(char: str, rng: random.Random) -> str:
    if char.isdigit():
        pool = "0123456789"
    elif char.isalpha() and char.islower():
        pool = "abcdefghijklmnopqrstuvwxyz"
    else:
        pool = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return rng.choice([c for c in pool if c != char])


def garble(text: str, seed: int, ratio: float) -> str:
    """`text` with round(ratio × non-space characters) of them replaced, chosen by `seed` (pure)."""
    positions = [i for i, char in enumerate(text) if not char.isspace()]
    count = round(len(positions) * ratio)
    if count == 0:
        return text
    rng = random.Random(f"garble:{seed}:{text}")
    chars = list(text)
    for index in sorted(rng.sample(positions, count)):
        chars[index] = _substitute(chars[index], rng)
    return "".join(chars)


def drawn_lines(prompt: str, seed: int, version: str) -> tuple[str, ...]:
    """The lines `version` draws for `prompt`: the quoted text, garbled by v2."""
    spec = MODELS[version]
    lines = expected_lines(prompt)
    return tuple(garble(line, seed + index, spec.garble_ratio) for index, line in enumerate(lines))


def slip(lines: tuple[str, ...], noise: random.Random, chance: float) -> tuple[str, ...]:
    """With probability `chance`, one character of one line replaced (a model's occasional slip)."""
    if not lines or noise.random() >= chance:
        return lines
    index = noise.randrange(len(lines))
    positions = [i for i, char in enumerate(lines[index]) if not char.isspace()]
    if not positions:
        return lines
    chars = list(lines[index])
    at = noise.choice(positions)
    chars[at] = _substitute(chars[at], noise)
    return (*lines[:index], "".join(chars), *lines[index + 1 :])


@lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if FONT_PATH.is_file():
        return ImageFont.truetype(str(FONT_PATH), size)
    return ImageFont.load_default(size=size)  # pragma: no cover - DejaVu is a dependency


def _wrap(lines: tuple[str, ...], font: Any, width: float) -> list[str]:
    wrapped: list[str] = []
    for line in lines:
        current = ""
        for word in line.split():
            candidate = f"{current} {word}".strip()
            if current and font.getlength(candidate) > width:
                wrapped.append(current)
                current = word
            else:
                current = candidate
        wrapped.append(current)
    return wrapped


def _widest(lines: list[str], font: Any) -> float:
    return float(max(font.getlength(line) for line in lines))


def fit_text(lines: tuple[str, ...], max_width: float) -> tuple[list[str], int]:
    """The lines to draw and the font size: 64→48 px as is; else wrapped into the fewest lines
    at 48–64 px; else smaller (a single word too long for the board)."""
    for size in range(64, 47, -4):
        if _widest(list(lines), _font(size)) <= max_width:
            return list(lines), size
    wrapped = [(_wrap(lines, _font(size), max_width), size) for size in range(64, 47, -4)]
    fitting = [(found, size) for found, size in wrapped if _widest(found, _font(size)) <= max_width]
    if fitting:
        return min(fitting, key=lambda item: (len(item[0]), -item[1]))
    for size in range(44, 11, -4):
        candidate = _wrap(lines, _font(size), max_width)
        if _widest(candidate, _font(size)) <= max_width:
            return candidate, size
    return _wrap(lines, _font(12), max_width), 12


def _sky(size: tuple[int, int], rng: random.Random) -> Image.Image:
    width, height = size
    top = np.array([rng.randint(40, 110), rng.randint(90, 160), rng.randint(170, 235)], np.float32)
    low = np.array([rng.randint(190, 250), rng.randint(200, 240), rng.randint(200, 250)], np.float32)
    ramp = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    pixels = top * (1 - ramp) + low * ramp
    canvas = np.broadcast_to(pixels, (height, width, 3)).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(canvas), "RGB")


def _landscape(draw: ImageDraw.ImageDraw, size: tuple[int, int], rng: random.Random) -> None:
    width, height = size
    horizon = int(height * rng.uniform(0.58, 0.68))
    sun_r = int(min(size) * rng.uniform(0.05, 0.08))
    sun_x, sun_y = int(width * rng.uniform(0.1, 0.9)), int(height * rng.uniform(0.08, 0.2))
    draw.ellipse((sun_x - sun_r, sun_y - sun_r, sun_x + sun_r, sun_y + sun_r), fill=(255, 214, 90))
    for _ in range(rng.randint(2, 3)):
        peak_x, peak_y = rng.uniform(0, width), horizon - rng.uniform(0.08, 0.2) * height
        shade = rng.randint(60, 110)
        points = [(peak_x - width * 0.45, horizon), (peak_x, peak_y), (peak_x + width * 0.45, horizon)]
        draw.polygon(points, fill=(shade - 20, shade + 30, shade - 30))
    green = (rng.randint(60, 100), rng.randint(130, 170), rng.randint(50, 80))
    draw.rectangle((0, horizon, width, height), fill=green)
    for _ in range(rng.randint(2, 5)):
        x, base = rng.uniform(0, width), horizon + rng.uniform(0.02, 0.3) * height
        tree_h = rng.uniform(0.1, 0.18) * height
        draw.rectangle((x - 4, base - tree_h * 0.3, x + 4, base), fill=(100, 70, 40))
        crown = base - tree_h * 0.3
        points = [(x - tree_h * 0.3, crown), (x, base - tree_h), (x + tree_h * 0.3, crown)]
        draw.polygon(points, fill=(30, 100, 45))


def _sign_box(
    size: tuple[int, int], text_w: float, text_h: float, pad: int, rng: random.Random, spec: ModelSpec
) -> tuple[int, int, int, int]:
    width, height = size
    board_w, board_h = int(text_w + 2 * pad), int(text_h + 2 * pad)
    cx = width / 2 + rng.uniform(-0.04, 0.04) * width
    cy = height * rng.uniform(0.45, 0.55)
    if rng.random() < spec.off_edge_chance:
        # the failure mode of a worse model: the sign drifts into the margin and is clipped
        cx += rng.choice((-1, 1)) * board_w * rng.uniform(0.3, 0.45)
    else:
        # a good model keeps the text itself well inside driftmon's 5% safe area
        half = max(board_w / 2 + 0.04 * width, text_w / 2 + 0.1 * width)
        cx = min(max(cx, half), width - half)
    cy = min(max(cy, board_h / 2 + 0.04 * height), height - board_h / 2 - 0.04 * height)
    return int(cx - board_w / 2), int(cy - board_h / 2), int(cx + board_w / 2), int(cy + board_h / 2)


def _sign(
    image: Image.Image, lines: tuple[str, ...], rng: random.Random, spec: ModelSpec
) -> list[tuple[str, tuple[int, int, int, int]]]:
    width, _ = image.size
    drawn, font_size = fit_text(lines, width * 0.76)
    font = _font(font_size)
    pad, line_h = int(font_size * 0.45), int(font_size * 1.25)
    text_w = max(font.getlength(line) for line in drawn)
    box = _sign_box(image.size, text_w, line_h * len(drawn), pad, rng, spec)
    draw = ImageDraw.Draw(image)
    for post_x in (box[0] + (box[2] - box[0]) // 4, box[2] - (box[2] - box[0]) // 4):
        draw.rectangle((post_x - 5, box[3], post_x + 5, image.size[1]), fill=FRAME)
    draw.rectangle(box, fill=BOARD, outline=FRAME, width=max(3, font_size // 12))
    center_x = (box[0] + box[2]) / 2
    text_boxes = []
    for index, line in enumerate(drawn):
        center_y = box[1] + pad + line_h * index + line_h / 2
        draw.text((center_x, center_y), line, font=font, fill=INK, anchor="mm")
        left, top, right, bottom = draw.textbbox((center_x, center_y), line, font=font, anchor="mm")
        text_boxes.append((line, (int(left), int(top), int(right), int(bottom))))
    return text_boxes


def render_scene(
    prompt: str, seed: int, size: tuple[int, int], version: str = "v1", noise: random.Random | None = None
) -> bytes:
    """The PNG `version` generates for (prompt, seed, size); identical inputs, identical bytes.

    With `noise` (a per-call generator, not tied to the seed) the background and the sign's place
    vary from call to call, and one character slips at the model's `slip_chance`. The PNG's
    ``driftmon-demo`` text chunk records what was drawn (lines and their boxes) for tests.
    """
    spec = MODELS[version]
    rng = random.Random(seed if noise is None else noise.getrandbits(64))
    image = _sky(size, rng)
    _landscape(ImageDraw.Draw(image), size, rng)
    lines = drawn_lines(prompt, seed, version)
    if noise is not None:
        lines = slip(lines, noise, spec.slip_chance)
    boxes: list[tuple[str, tuple[int, int, int, int]]] = []
    if lines:
        sign_seed = f"sign:{seed}:{version}" if noise is None else f"sign:{noise.getrandbits(64)}"
        boxes = _sign(image, lines, random.Random(sign_seed), spec)
    info = PngImagePlugin.PngInfo()
    info.add_text("driftmon-demo", json.dumps({"version": version, "drawn": boxes}))
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=3, pnginfo=info)
    return out.getvalue()


@dataclass(frozen=True, slots=True)
class Rendered:
    """One served image and what a real generator would report about it."""

    png: bytes
    model_version: str
    latency_seconds: float
    request_id: str
    prompt: str
    seed: int
    steps: int
    size: tuple[int, int]
    #: the simulated compute time (what a GPU would be busy for), reported as X-GPU-Seconds
    gpu_seconds: float = 0.0


class DemoGenerator:
    """The generator's state: which model answers, simulated latency, pushes to the daemon.

    `latency_scale` multiplies the simulated latency (0 in tests: no sleeping). `push_to` is
    the daemon's ``POST /v1/samples`` URL; a `push_ratio` share of production outputs (chosen by
    a generator seeded with `seed`) is sent there in the background, at most
    `max_pending_pushes` at a time (beyond that, dropped and counted).
    """

    def __init__(
        self,
        version: str = "v1",
        *,
        latency_scale: float = 1.0,
        push_to: str | None = None,
        push_ratio: float = 0.0,
        push_token: str | None = None,
        push_transport: httpx.AsyncBaseTransport | None = None,
        seed: int = 0,
        max_pending_pushes: int = 32,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        noise: bool = False,
        noise_seed: int | None = None,
    ) -> None:
        if not 0.0 <= push_ratio <= 1.0:
            raise ValueError("push_ratio must be within 0..1")
        self._version = self._check(version)
        self.latency_scale = latency_scale
        self.push_to = push_to
        self.push_ratio = push_ratio
        self.max_pending_pushes = max_pending_pushes
        self.served: Counter[str] = Counter()
        self.pushes: Counter[str] = Counter()
        self._rng = random.Random(seed)
        self._push_rng = random.Random(seed + 1)
        #: per-call variation not tied to the request's seed (off: images are pure functions);
        #: with `noise_seed` the n-th call for one (prompt, seed, size) varies reproducibly
        self.noise = noise
        self.noise_seed = noise_seed
        self._calls: Counter[tuple[str, int, tuple[int, int]]] = Counter()
        self._sleep = sleep
        self._pending: set[asyncio.Task[None]] = set()
        self._push_failing = False
        self._log = structlog.get_logger("driftmon.demo")
        headers = {"Authorization": f"Bearer {push_token}"} if push_token else None
        self._client = (
            make_client(timeout=10.0, connect_timeout=2.0, transport=push_transport, headers=headers)
            if push_to
            else None
        )

    @staticmethod
    def _check(version: str) -> str:
        if version not in MODELS:
            raise ValueError(f"unknown model version {version!r} (known: {', '.join(MODELS)})")
        return version

    @property
    def version(self) -> str:
        """The model version answering new requests."""
        return self._version

    def set_version(self, version: str) -> None:
        """Swap the model: requests from now on are served by `version` (ValueError if unknown)."""
        self._version = self._check(version)
        self._log.info("demo_model_swapped", model_version=version)

    def _noise_for(self, prompt: str, seed: int, size: tuple[int, int]) -> random.Random | None:
        if not self.noise:
            return None
        if self.noise_seed is None:
            return random.Random()
        call = self._calls[(prompt, seed, size)]
        self._calls[(prompt, seed, size)] += 1
        return random.Random(f"noise:{self.noise_seed}:{prompt}:{seed}:{size}:{call}")

    def latency_for(self, version: str) -> float:
        """The next simulated latency of `version`: its mean ± JITTER, drawn deterministically."""
        jitter = 1.0 + JITTER * (2.0 * self._rng.random() - 1.0)
        return MODELS[version].latency_seconds * jitter * self.latency_scale

    async def generate(
        self, prompt: str, seed: int, size: tuple[int, int], *, steps: int = 20, push: bool = True
    ) -> Rendered:
        """Render one image, taking the simulated latency; push it if chosen (and `push`)."""
        version = self._version  # a swap mid-request does not change this request's model
        started = time.perf_counter()
        target = self.latency_for(version)
        noise = self._noise_for(prompt, seed, size)
        png = await asyncio.to_thread(render_scene, prompt, seed, size, version, noise)
        remaining = target - (time.perf_counter() - started)
        if remaining > 0:
            await self._sleep(remaining)
        rendered = Rendered(
            png=png,
            model_version=version,
            latency_seconds=time.perf_counter() - started,
            request_id=uuid.uuid4().hex,
            prompt=prompt,
            seed=seed,
            steps=steps,
            size=size,
            gpu_seconds=target,
        )
        self.served[version] += 1
        if push and self._client is not None and self._push_rng.random() < self.push_ratio:
            self._schedule_push(rendered)
        return rendered

    def _schedule_push(self, rendered: Rendered) -> None:
        if len(self._pending) >= self.max_pending_pushes:
            self.pushes["dropped"] += 1
            return
        task = asyncio.create_task(self._push(rendered))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _push(self, rendered: Rendered) -> None:
        assert self._client is not None and self.push_to is not None
        body = push_body(rendered)
        try:
            response = await self._client.post(self.push_to, json=body)
            outcome = "ok" if response.is_success else "rejected"
            detail = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            outcome, detail = "error", f"{type(exc).__name__}: {exc}"
        self.pushes[outcome] += 1
        if outcome != "ok" and not self._push_failing:
            self._log.warning("demo_push_failing", outcome=outcome, detail=detail)
        elif outcome == "ok" and self._push_failing:
            self._log.info("demo_push_recovered")
        self._push_failing = outcome != "ok"

    async def flush(self, timeout: float = 5.0) -> bool:
        """Wait at most `timeout` seconds for pending pushes; whether they all finished."""
        if not self._pending:
            return True
        _, pending = await asyncio.wait(set(self._pending), timeout=timeout)
        return not pending

    async def aclose(self, timeout: float = 5.0) -> None:
        """Let pending pushes finish (bounded), cancel the rest, close the push client."""
        await self.flush(timeout)
        for task in list(self._pending):
            task.cancel()
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=1.0)
        if self._client is not None:
            await self._client.aclose()

    def status(self) -> dict[str, Any]:
        """The model version, the versions known, and the served and push counters."""
        return {
            "version": self._version,
            "versions": list(MODELS),
            "served": dict(self.served),
            "pushes": dict(self.pushes),
        }


def push_body(rendered: Rendered) -> dict[str, Any]:
    """The JSON body of ``POST /v1/samples`` for one output: ``image_b64`` beside the meta fields."""
    return {
        "image_b64": base64.b64encode(rendered.png).decode("ascii"),
        "prompt": rendered.prompt,
        "model_version": rendered.model_version,
        "request_id": rendered.request_id,
        "latency_seconds": rendered.latency_seconds,
        "steps": rendered.steps,
        "seed": rendered.seed,
        "labels": {"service": DEMO_SERVICE},
    }


class BadRequest(Exception):
    """A request the demo generator refuses; carries the message and the parameter."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except ValueError as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def _int(body: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = body.get(key, default)
    if value is None:
        value = default
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise BadRequest(f"{key} must be an integer within {low}..{high}", key)
    return value


def _prompt(body: dict[str, Any], required: bool) -> str:
    prompt = body.get("prompt", "")
    if not isinstance(prompt, str) or (required and not prompt.strip()):
        raise BadRequest("prompt must be a non-empty string", "prompt")
    return prompt


def _openai_size(body: dict[str, Any]) -> tuple[int, int]:
    raw = body.get("size") or "512x512"
    width, _, height = str(raw).partition("x")
    if not (width.isdigit() and height.isdigit()):
        raise BadRequest("size must look like 512x512", "size")
    size = (int(width), int(height))
    if not all(MIN_SIDE <= side <= MAX_SIDE for side in size):
        raise BadRequest(f"each side must be within {MIN_SIDE}..{MAX_SIDE}", "size")
    return size


def _is_production(request: Request) -> bool:
    return not request.headers.get("user-agent", "").startswith("driftmon-probe")


def _generator(request: Request) -> DemoGenerator:
    generator: DemoGenerator = request.app.state.generator
    return generator


async def openai_generations(request: Request) -> JSONResponse:
    """``POST /v1/images/generations``: OpenAI's Images API, b64_json only; `seed` is accepted."""
    try:
        body = await _json_object(request)
        prompt = _prompt(body, required=True)
        if body.get("response_format", "b64_json") != "b64_json":
            raise BadRequest("this generator only returns response_format b64_json", "response_format")
        count = _int(body, "n", 1, 1, 4)
        size = _openai_size(body)
        seed = _int(body, "seed", stable_seed(prompt), 0, 2**32 - 1)
    except BadRequest as exc:
        error = {"message": str(exc), "type": "invalid_request_error", "param": exc.param, "code": None}
        return JSONResponse({"error": error}, status_code=400)
    generator, push = _generator(request), _is_production(request)
    outputs = [await generator.generate(prompt, seed + i, size, push=push) for i in range(count)]
    version = outputs[0].model_version
    data = [{"b64_json": base64.b64encode(o.png).decode("ascii"), "revised_prompt": prompt} for o in outputs]
    payload = {
        "created": int(time.time()),
        "data": data,
        "model_version": version,
        "steps": outputs[0].steps,
        "sampler": DEFAULT_SAMPLER,
    }
    return JSONResponse(payload, headers={"X-Model-Version": version, **_gpu_header(outputs)})


def _gpu_header(outputs: list[Rendered]) -> dict[str, str]:
    """``X-GPU-Seconds``: the simulated compute of the request's images."""
    return {"X-GPU-Seconds": f"{sum(o.gpu_seconds for o in outputs):.6f}"}


def _a1111_params(body: dict[str, Any]) -> dict[str, Any]:
    prompt = _prompt(body, required=False)
    seed = _int(body, "seed", -1, -1, 2**32 - 1)
    return {
        "prompt": prompt,
        "negative_prompt": str(body.get("negative_prompt") or ""),
        "seed": stable_seed(prompt) if seed == -1 else seed,
        "width": _int(body, "width", 512, MIN_SIDE, MAX_SIDE),
        "height": _int(body, "height", 512, MIN_SIDE, MAX_SIDE),
        "steps": _int(body, "steps", 20, 1, 150),
        "batch_size": _int(body, "batch_size", 1, 1, 4),
        "n_iter": 1,
        "sampler_name": str(body.get("sampler_name") or DEFAULT_SAMPLER),
    }


async def a1111_txt2img(request: Request) -> JSONResponse:
    """``POST /sdapi/v1/txt2img``: AUTOMATIC1111's API; ``info`` is a JSON string as there."""
    try:
        params = _a1111_params(await _json_object(request))
    except BadRequest as exc:
        detail = [{"loc": ["body", exc.param or "body"], "msg": str(exc), "type": "value_error"}]
        return JSONResponse({"detail": detail}, status_code=422)
    generator, push = _generator(request), _is_production(request)
    size, seed = (params["width"], params["height"]), params["seed"]
    outputs = [
        await generator.generate(params["prompt"], seed + i, size, steps=params["steps"], push=push)
        for i in range(params["batch_size"])
    ]
    version = outputs[0].model_version
    info = {
        **{key: params[key] for key in ("prompt", "negative_prompt", "seed", "width", "height", "steps")},
        "all_prompts": [params["prompt"]] * len(outputs),
        "all_seeds": [o.seed for o in outputs],
        "sampler_name": params["sampler_name"],
        "sd_model_name": version,
        "sd_model_hash": MODELS[version].sd_model_hash,
        "version": "driftmon-demo",
    }
    images = [base64.b64encode(o.png).decode("ascii") for o in outputs]
    payload = {"images": images, "parameters": params, "info": json.dumps(info)}
    return JSONResponse(payload, headers={"X-Model-Version": version, **_gpu_header(outputs)})


async def get_model(request: Request) -> JSONResponse:
    """``GET /admin/model``: the model version answering, the known ones, the counters."""
    return JSONResponse(_generator(request).status())


async def set_model(request: Request) -> JSONResponse:
    """``POST /admin/model {"version": "v2"}``: swap the model; 400 for an unknown version."""
    try:
        version = (await _json_object(request)).get("version")
        _generator(request).set_version(str(version))
    except (BadRequest, ValueError) as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    return JSONResponse({"version": _generator(request).version})


async def healthz(request: Request) -> JSONResponse:
    """``GET /healthz``: alive, and which model answers."""
    return JSONResponse({"status": "ok", "model_version": _generator(request).version})


def make_generator_app(generator: DemoGenerator | None = None, **options: Any) -> Starlette:
    """The ASGI app serving `generator` (or a new ``DemoGenerator(**options)``).

    The app's lifespan closes the generator (pending pushes get a bounded grace); the generator
    is at ``app.state.generator``.
    """
    state = generator if generator is not None else DemoGenerator(**options)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await state.aclose()

    routes = [
        Route("/v1/images/generations", openai_generations, methods=["POST"]),
        Route("/sdapi/v1/txt2img", a1111_txt2img, methods=["POST"]),
        Route("/admin/model", get_model, methods=["GET"]),
        Route("/admin/model", set_model, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.generator = state
    return app


def main(argv: list[str] | None = None) -> None:
    """``python -m driftmon.demo.generator [--port 7860] [--version v1] [--push-to URL]``."""
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(description="driftmon's synthetic image generator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--version", choices=sorted(MODELS), default="v1")
    parser.add_argument("--latency-scale", type=float, default=1.0)
    parser.add_argument("--push-to", help="the daemon's POST /v1/samples URL")
    parser.add_argument("--push-ratio", type=float, default=0.1)
    parser.add_argument(
        "--noise",
        action="store_true",
        help="per-call variation not tied to the seed: background, sign position, occasional slips",
    )
    parser.add_argument("--noise-seed", type=int, help="seed the per-call variation (reproducible runs)")
    args = parser.parse_args(argv)
    generator = DemoGenerator(
        args.version,
        latency_scale=args.latency_scale,
        push_to=args.push_to,
        push_ratio=args.push_ratio if args.push_to else 0.0,
        noise=args.noise,
        noise_seed=args.noise_seed,
    )
    uvicorn.run(make_generator_app(generator), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":  # pragma: no cover
    main()
