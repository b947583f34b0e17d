"""The tap's pure helpers: route matching, lookup_all, hop-by-hop headers, X-Forwarded-*, the
sampling decision and the bounded copy."""

from __future__ import annotations

import itertools

import pytest

from driftmon.sources.generators import lookup_all
from driftmon.sources.tap.config import TapConfig, TapRouteConfig
from driftmon.sources.tap.proxy import Tee, decide_sample, end_to_end, forwarded, is_upgrade
from driftmon.sources.tap.routes import A1111Route, GenericRoute, OpenAIImagesRoute, RouteTable


def table(**changes) -> RouteTable:
    return RouteTable.from_config(TapConfig(enabled=True, **changes))


@pytest.mark.parametrize(
    ("method", "path", "name"),
    [
        ("POST", "/v1/images/generations", "openai_images"),
        ("POST", "/v1/images/edits", "openai_images"),
        ("POST", "/sdapi/v1/txt2img", "a1111"),
        ("POST", "/sdapi/v1/img2img", "a1111"),
        ("GET", "/v1/images/generations", None),
        ("POST", "/v1/images/generations/extra", None),
        ("POST", "/sdapi/v1/options", None),
        ("POST", "/healthz", None),
    ],
)
def test_builtin_routes_match_exactly(method, path, name) -> None:
    route = table().match(method, path)
    assert (route.name if route else None) == name


def test_generic_routes_come_first_and_builtins_can_be_left_out() -> None:
    routes = table(
        builtin=["a1111"],
        routes=[TapRouteConfig(path="/v1/images/generations", image_path="out.*.b64")],
    )
    route = routes.match("POST", "/v1/images/generations")
    assert isinstance(route, GenericRoute) and route.name == "generic:/v1/images/generations"
    assert isinstance(routes.match("POST", "/sdapi/v1/txt2img"), A1111Route)
    assert not any(isinstance(r, OpenAIImagesRoute) for r in routes.routes)


def test_generic_route_matches_its_method_case_insensitively() -> None:
    route = GenericRoute(TapRouteConfig(path="/gen", method="put"))
    assert route.matches("PUT", "/gen") and not route.matches("POST", "/gen")


@pytest.mark.parametrize(
    ("data", "path", "expected"),
    [
        ({"data": [{"b64": "a"}, {"b64": "b"}]}, "data.*.b64", ["a", "b"]),
        ({"data": [{"b64": "a"}, {"url": "u"}]}, "data.*.b64", ["a"]),
        ({"images": ["x", "y"]}, "images.*", ["x", "y"]),
        ({"output": {"image": "z"}}, "output.image", ["z"]),
        ({"output": {"images": [["p", "q"], ["r"]]}}, "output.images.*.*", ["p", "q", "r"]),
        ({"data": [{"b64": "a"}]}, "data.0.b64", ["a"]),
        ({"data": {"b64": "a"}}, "data.*.b64", []),
        ({}, "data.*.b64", []),
        ({"a": 1}, "b", []),
        (["m", "n"], "*", ["m", "n"]),
    ],
)
def test_lookup_all(data, path, expected) -> None:
    assert lookup_all(data, path) == expected


def test_hop_by_hop_headers_and_those_connection_names_are_dropped() -> None:
    headers = [
        (b"Connection", b"keep-alive, X-Secret-Hop"),
        (b"Keep-Alive", b"timeout=5"),
        (b"Proxy-Connection", b"keep-alive"),
        (b"TE", b"trailers"),
        (b"Trailer", b"Expires"),
        (b"Transfer-Encoding", b"chunked"),
        (b"Upgrade", b"h2c"),
        (b"Proxy-Authenticate", b"Basic"),
        (b"Proxy-Authorization", b"Basic abc"),
        (b"x-secret-hop", b"1"),
        (b"Authorization", b"Bearer end-to-end"),
        (b"Content-Type", b"application/json"),
        (b"Cookie", b"a=b"),
    ]
    assert end_to_end(headers) == [
        (b"Authorization", b"Bearer end-to-end"),
        (b"Content-Type", b"application/json"),
        (b"Cookie", b"a=b"),
    ]


def test_end_to_end_keeps_order_and_duplicates() -> None:
    headers = [(b"set-cookie", b"a=1"), (b"x-a", b"1"), (b"set-cookie", b"b=2")]
    assert end_to_end(headers) == headers


def test_forwarded_sets_host_and_starts_the_chain() -> None:
    scope = {"client": ("10.0.0.7", 5555), "scheme": "http"}
    out = forwarded(scope, [(b"host", b"tap.example:9850"), (b"accept", b"*/*")], b"127.0.0.1:7860")
    assert out == [
        (b"accept", b"*/*"),
        (b"host", b"127.0.0.1:7860"),
        (b"x-forwarded-for", b"10.0.0.7"),
        (b"x-forwarded-proto", b"http"),
        (b"x-forwarded-host", b"tap.example:9850"),
    ]


def test_forwarded_extends_a_chain_and_keeps_what_a_front_proxy_set() -> None:
    scope = {"client": ("10.0.0.7", 5555), "scheme": "http"}
    headers = [
        (b"Host", b"internal:9850"),
        (b"X-Forwarded-For", b"203.0.113.9"),
        (b"X-Forwarded-Proto", b"https"),
        (b"X-Forwarded-Host", b"images.example.com"),
    ]
    out = dict(forwarded(scope, headers, b"gen:7860"))
    assert out[b"x-forwarded-for"] == b"203.0.113.9, 10.0.0.7"
    assert out[b"x-forwarded-proto"] == b"https"
    assert out[b"x-forwarded-host"] == b"images.example.com"
    assert out[b"host"] == b"gen:7860"
    assert b"Host" not in out and b"X-Forwarded-For" not in out


def test_forwarded_without_a_client_address_says_unknown() -> None:
    out = dict(forwarded({"scheme": "https"}, [], b"gen"))
    assert out[b"x-forwarded-for"] == b"unknown" and out[b"x-forwarded-proto"] == b"https"
    assert b"x-forwarded-host" not in out


def test_forwarded_drops_hop_by_hop_request_headers() -> None:
    out = dict(forwarded({"client": ("1.2.3.4", 1)}, [(b"connection", b"close"), (b"te", b"gzip")], b"g"))
    assert b"connection" not in out and b"te" not in out


def test_is_upgrade() -> None:
    assert is_upgrade([(b"Upgrade", b"websocket"), (b"Connection", b"Upgrade")])
    assert not is_upgrade([(b"connection", b"keep-alive")])


def draws(*values: float):
    it = iter(values)
    return lambda: next(it)


def test_sampling_decision() -> None:
    assert decide_sample(True, 0.5, draws(0.49))
    assert not decide_sample(True, 0.5, draws(0.5))
    assert decide_sample(True, 1.0, draws())  # always, without a draw
    assert not decide_sample(True, 0.0, draws())  # never, without a draw
    assert not decide_sample(False, 1.0, draws())  # an unrecognised route: never, no draw


def test_sampling_share_follows_the_ratio() -> None:
    counter = itertools.count()
    draw = lambda: (next(counter) % 1000) / 1000  # noqa: E731 - evenly spread draws
    kept = sum(decide_sample(True, 0.1, draw) for _ in range(10_000))
    assert kept == 1000


def test_tee_copies_up_to_its_limit_then_drops_the_copy() -> None:
    tee = Tee(limit=5)
    tee.add(b"ab")
    tee.add(b"cde")
    assert tee.value() == b"abcde" and not tee.overflow
    tee.add(b"f")
    assert tee.overflow and tee.value() == b""
    tee.add(b"g")
    assert tee.overflow and tee.value() == b""
