"""The OpenAPI 3.1 document of the HTTP API, complete enough to generate a client from (pure).

    document = openapi_document(paths)      paths: the routes the app serves, e.g. {"/v1/samples"}

Every operation declares its parameters (path, query), its request bodies (both content types of
`POST /v1/samples`) and every response it can give, with JSON schemas: the error body
`{"error": "..."}` of each 4xx/5xx, `Retry-After` on 429/503, `Link` (rel="next") on the sample
listing, `image/png` for overlays, `text/plain` for `/metrics`. The meta schema is `MetaIn`'s and
the comparison's is `Comparison`'s (pydantic generates both), so they cannot drift from the code.
A route without an entry in `OPERATIONS` is missing from the document; tests check there is none.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, TypeAdapter

from driftmon.api.compare import Comparison

Schema = dict[str, Any]

#: `limit` bounds of the sample listing and of /v1/compare (out of range: 400)
RECENT_LIMIT = (1, 500, 50)
COMPARE_LIMIT = (1, 1000, 500)

REF = "#/components/schemas/{model}"


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(kind: str) -> Schema:
    return {"type": [kind, "null"]}


ERROR: Schema = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string", "description": "what was wrong, in words"}},
}

SAMPLE_FIELDS: dict[str, Schema] = {
    "id": {"type": "string"},
    "source": {"type": "string", "description": "push, probe or tap"},
    "received_at": {"type": "number", "description": "Unix seconds"},
    "scored_at": {"type": "number", "description": "Unix seconds"},
    "model_version": {"type": "string"},
    "request_id": _nullable("string"),
    "prompt": _nullable("string"),
    "expected_text": {"type": "string", "description": "the expected lines, one a line"},
    "ocr_text": {"type": "string"},
    "scores": {"type": "object", "additionalProperties": _nullable("number")},
    "latency_seconds": _nullable("number"),
    "steps": _nullable("integer"),
    "seed": _nullable("integer"),
    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
    "failing": {"type": "boolean"},
    "overlay_url": {**_nullable("string"), "description": "the picture with OCR boxes, when kept"},
}

SAMPLE: Schema = {"type": "object", "required": list(SAMPLE_FIELDS), "properties": SAMPLE_FIELDS}
SAMPLE_DETAIL: Schema = {
    "allOf": [
        _ref("Sample"),
        {"type": "object", "required": ["evidence"], "properties": {"evidence": {"type": "object"}}},
    ]
}
ACCEPTED: Schema = {
    "type": "object",
    "required": ["id", "sampled"],
    "properties": {
        "id": {"type": "string", "description": "the sample's id (GET /v1/samples/{sample_id})"},
        "sampled": {"type": "boolean", "description": "false: not kept by sample_ratio, not scored"},
    },
}
HEALTH: Schema = {
    "type": "object",
    "required": ["status", "version"],
    "properties": {"status": {"const": "ok"}, "version": {"type": "string"}},
}
READY: Schema = {
    "type": "object",
    "required": ["ready", "checks"],
    "properties": {
        "ready": {"type": "boolean"},
        "checks": {"type": "object", "additionalProperties": {"type": "boolean"}},
        "scorer": {"type": "object", "description": "the scorer process: state, up, restarts, pid"},
        "error": {"type": "string"},
    },
}
OBJECTS: Schema = {"type": "array", "items": {"type": "object"}}
RULES: Schema = {
    "anyOf": [
        {
            "type": "object",
            "required": ["groups", "files", "reload_error", "last_reload", "baseline"],
            "properties": {
                "groups": OBJECTS,
                "files": {"type": "array", "items": {"type": "string"}},
                "reload_error": _nullable("string"),
                "last_reload": _nullable("string"),
                "baseline": {"description": "the pinned baseline, or the words 'previous model version'"},
            },
        },
        {"type": "array", "maxItems": 0, "description": "no rule engine runs"},
    ]
}


def meta_schema() -> Schema:
    """`POST /v1/samples`'s meta fields (MetaIn), as JSON Schema."""
    from driftmon.api.server import MetaIn

    return _model_schema(MetaIn)


def _model_schema(model: type[BaseModel]) -> Schema:
    schema = model.model_json_schema(ref_template=REF)
    schema.pop("title", None)
    return schema


def comparison_schemas() -> dict[str, Schema]:
    """`Comparison` and the schemas it refers to, by name."""
    schema = TypeAdapter(Comparison).json_schema(ref_template=REF)
    defs: dict[str, Schema] = schema.pop("$defs", {})
    return {**defs, "Comparison": schema}


# -- pieces of operations --------------------------------------------------------------------------


def _json(schema: Schema, description: str, headers: dict[str, Any] | None = None) -> Schema:
    response: Schema = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


def _error(description: str, headers: dict[str, Any] | None = None) -> Schema:
    return _json(_ref("Error"), description, headers)


RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before retrying",
        "required": True,
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
}
LINK_NEXT = {
    "Link": {
        "description": 'the next page: `<URL>; rel="next"` (absent on the last page)',
        "required": False,
        "schema": {"type": "string"},
    }
}
UNAUTHORISED = {"401": _error("missing or wrong bearer token (when server.auth_token_file is set)")}


def _query(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _limit(bounds: tuple[int, int, int]) -> Schema:
    low, high, default = bounds
    schema = {"type": "integer", "minimum": low, "maximum": high, "default": default}
    return _query("limit", schema, f"how many samples ({low}–{high}; out of range: 400)")


SAMPLE_ID = {"name": "sample_id", "in": "path", "required": True, "schema": {"type": "string"}}
MODEL_VERSION = _query("model_version", {"type": "string"}, "only samples of this model version")
CURSOR = _query(
    "cursor", {"type": "string"}, "opaque: the page after the one whose Link header gave it"
)


def _post_sample() -> Schema:
    json_body = meta_schema()
    json_body["properties"] = {
        "image_b64": {"type": "string", "description": "the image (PNG, JPEG, WebP), base64"},
        **json_body.get("properties", {}),
    }
    json_body["required"] = ["image_b64", *json_body.get("required", [])]
    multipart = {
        "type": "object",
        "required": ["image"],
        "properties": {
            "image": {"type": "string", "format": "binary", "description": "the encoded image"},
            "meta": {"type": "string", "description": "the meta fields (see Meta) as JSON text, UTF-8"},
        },
    }
    return {
        "summary": "Submit one generated image with its meta",
        "operationId": "postSample",
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": multipart},
                "application/json": {"schema": json_body},
            },
        },
        "responses": {
            "202": _json(_ref("Accepted"), "accepted: on disk (sampled) or counted unsampled"),
            "400": _error("malformed body, meta not JSON or not UTF-8, JSON nested too deep"),
            **UNAUTHORISED,
            "404": _error("push intake is disabled (sources.push.enabled: false)"),
            "413": _error("body or pixel count over the limit"),
            "415": _error("content type neither multipart/form-data nor application/json"),
            "422": _error("invalid meta (naming the field) or image (naming what is wrong)"),
            "429": _error("the intake journal is full; retry after Retry-After seconds", RETRY_AFTER),
            "503": _error("the intake journal cannot be written; retry after Retry-After", RETRY_AFTER),
        },
    }


def _get(
    operation_id: str, summary: str, responses: Schema, parameters: list[Schema] | None = None
) -> Schema:
    operation: Schema = {"summary": summary, "operationId": operation_id, "responses": responses}
    if parameters:
        operation["parameters"] = parameters
    return operation


def _operations() -> dict[str, dict[str, Schema]]:
    bad_query = _error("a query parameter is malformed or out of range (naming it)")
    return {
        "/v1/samples": {"post": _post_sample()},
        "/v1/samples/recent": {"get": _get(
            "listSamples",
            "The newest scored samples, newest first; pages with a cursor (Link rel=next)",
            {"200": _json({"type": "array", "items": _ref("Sample")}, "one page of samples", LINK_NEXT),
             "400": bad_query, **UNAUTHORISED},
            [_limit(RECENT_LIMIT), MODEL_VERSION, CURSOR],
        )},
        "/v1/samples/worst": {"get": _get(
            "worstSample", "Redirect to the overlay of this pod's worst recent failing sample",
            {"307": {"description": "to /v1/samples/{id}/overlay.png (the lowest text fidelity)",
                     "headers": {"Location": {"schema": {"type": "string"}}}},
             **UNAUTHORISED, "404": _error("no recent failing sample with a picture (why, in words)")},
            [MODEL_VERSION],
        )},
        "/v1/samples/{sample_id}": {"get": _get(
            "getSample", "One scored sample with its evidence",
            {"200": _json(_ref("SampleDetail"), "the sample"), **UNAUTHORISED,
             "404": _error("unknown id")},
            [SAMPLE_ID],
        )},
        "/v1/samples/{sample_id}/overlay.png": {"get": _get(
            "getOverlay", "The sample's picture with OCR boxes (kept for failing samples)",
            {"200": {"description": "PNG", "content": {"image/png": {"schema": {"type": "string",
                                                                                 "format": "binary"}}}},
             **UNAUTHORISED, "404": _error("unknown id or no picture kept")},
            [SAMPLE_ID],
        )},
        "/v1/compare": {"get": _get(
            "compareVersions", "Two model versions side by side",
            {"200": {"description": "both summaries and b − a (format=json), else an HTML page",
                     "content": {"application/json": {"schema": _ref("Comparison")},
                                 "text/html": {"schema": {"type": "string"}}}},
             "400": _error("a or b missing, limit malformed or out of range"), **UNAUTHORISED,
             "404": _error("a=baseline and model version b has no baseline yet")},
            [{"name": "a", "in": "query", "required": True, "schema": {"type": "string", "minLength": 1},
              "description": "a model version, or `baseline`: b's baseline now"},
             {"name": "b", "in": "query", "required": True, "schema": {"type": "string", "minLength": 1}},
             _limit(COMPARE_LIMIT),
             _query("format", {"type": "string", "enum": ["html", "json"], "default": "html"},
                    "json: the summaries as JSON; html: a page with the worst pictures")],
        )},
        "/v1/alerts": {"get": _get(
            "listAlerts", "Alert states (pending, firing, recently resolved)",
            {"200": _json(OBJECTS, "a JSON list"), **UNAUTHORISED},
        )},
        "/v1/rules": {"get": _get(
            "listRules", "Rule groups with health, last evaluation, duration and last error",
            {"200": _json(RULES, "the rule groups and files, the last reload, the baseline"),
             **UNAUTHORISED},
        )},
        "/metrics": {"get": _get(
            "metrics", "Prometheus metrics",
            {"200": {"description": "text exposition format",
                     "content": {"text/plain": {"schema": {"type": "string"}}}}},
        )},
        "/healthz": {"get": _get(
            "healthz", "Liveness", {"200": _json(_ref("Health"), "the process serves")},
        )},
        "/readyz": {"get": _get(
            "readyz", "Readiness: the intake can accept and journal; the scorer's state in the body",
            {"200": _json(_ref("Ready"), "ready"), "503": _json(_ref("Ready"), "not ready, with reasons")},
        )},
    }


def _components() -> Schema:
    schemas = {
        "Error": ERROR, "Accepted": ACCEPTED, "Sample": SAMPLE, "SampleDetail": SAMPLE_DETAIL,
        "Meta": meta_schema(), "Health": HEALTH, "Ready": READY, **comparison_schemas(),
    }
    security = {"bearer": {"type": "http", "scheme": "bearer",
                           "description": "server.auth_token_file; guards every route under /v1/"}}
    return {"schemas": schemas, "securitySchemes": security}


def openapi_document(paths: set[str], version: str = "1") -> Schema:
    """The document for the routes in `paths` (routes without a description are left out)."""
    operations = _operations()
    for path, methods in operations.items():
        if path.startswith("/v1/"):
            for operation in methods.values():
                operation["security"] = [{}, {"bearer": []}]
    return {
        "openapi": "3.1.0",
        "info": {"title": "driftmon", "version": version},
        "paths": {path: methods for path, methods in operations.items() if path in paths},
        "components": _components(),
    }
