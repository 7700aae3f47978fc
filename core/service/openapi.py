"""The OpenAPI 3.1 document, built from the project's own JSON Schemas (the claim and
result schemas ``payer-rules schema`` prints), so the API and the files cannot disagree.
docs/openapi.json is this document; a test keeps it current."""

from __future__ import annotations

import copy
import json
from typing import Any

from .. import __version__
from ..policy import load_schema


def _component(name: str, prefix: str, out: dict[str, Any]) -> dict[str, Any]:
    """A shipped schema as a component; its ``$defs`` become components of their own
    (``Claim_date``...) and its ``$ref``\\ s point at them."""
    schema = copy.deepcopy(load_schema(name))
    defs = schema.pop("$defs", {})
    schema.pop("$schema", None)
    schema.pop("$id", None)

    def fix(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                node["$ref"] = f"#/components/schemas/{prefix}_{ref[len('#/$defs/'):]}"
            for v in node.values():
                fix(v)
        elif isinstance(node, list):
            for v in node:
                fix(v)
        return node

    for key, sub in defs.items():
        out[f"{prefix}_{key}"] = fix(sub)
    return fix(schema)


def _body(*media: str) -> dict[str, Any]:
    claims = {"oneOf": [{"$ref": "#/components/schemas/Claim"},
                        {"type": "array", "items": {"$ref": "#/components/schemas/Claim"}}]}
    content: dict[str, Any] = {}
    for m in media:
        if m == "application/json":
            content[m] = {"schema": claims}
        elif m == "application/x-ndjson":
            content[m] = {"schema": {"type": "string", "description": "one claim (JSON object) per line"}}
        else:
            content[m] = {"schema": {"type": "string", "description": "an X12 837P interchange"}}
    return {"required": True, "content": content}


def _resp(desc: str, media: str = "application/json", schema: dict | None = None) -> dict[str, Any]:
    return {"description": desc, "content": {media: {"schema": schema or {"type": "object"}}}}


def _problem(desc: str) -> dict[str, Any]:
    return {"description": desc, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


#: the error answers, each declared only on the operations that can give it
AUTH = {"401": _problem("no valid bearer token")}
ADMIN = {**AUTH, "403": _problem("the token's role (check) may not do this; an admin token is required")}
TOO_LARGE = {"413": _problem("the body, the claims or the lines of a claim exceed a limit")}
OVER_TIME = {"503": _problem("the request took longer than its time limit")}


def build_openapi() -> dict[str, Any]:
    """The document served at /openapi.json."""
    schemas: dict[str, Any] = {}
    schemas["Claim"] = _component("claim", "Claim", schemas)
    schemas["Result"] = _component("result", "Result", schemas)
    schemas["Problem"] = {"type": "object", "required": ["error"], "properties": {
        "error": {"type": "string"}, "request_id": {"type": "string"},
        "problems": {"type": "array", "items": {"type": "string"}}}}
    schemas["Job"] = {"type": "object", "required": ["id", "status"], "properties": {
        "id": {"type": "string"}, "status": {"enum": ["queued", "running", "done", "failed"]},
        "summary": {"type": ["object", "null"]}, "error": {"type": ["string", "null"]},
        "policy_generation": {"type": "integer"}}}
    claims_in = _body("application/json", "application/x-ndjson", "application/edi-x12")
    ndjson = {"description": "one result per claim, in input order: the bytes `payer-rules check` writes",
              "content": {"application/x-ndjson": {"schema": {"type": "string"}}}}
    check = {"security": [{"bearer": []}], "requestBody": claims_in,
             "parameters": [{"name": "payer", "in": "query", "required": False, "schema": {"type": "string"},
                             "description": "evaluate every claim under this payer"}],
             "responses": {"200": ndjson, **AUTH, **TOO_LARGE, **OVER_TIME}}
    doc = {
        "openapi": "3.1.0",
        "info": {"title": "payer-rules", "version": __version__,
                 "description": "Check outpatient therapy claims against each payer's billing policy."},
        "paths": {
            "/v1/check": {"post": {"summary": "check one claim or a list", **check}},
            "/v1/explain": {"post": {"summary": "everything behind each claim's result", **check,
                                     "responses": {"200": {"description": "one explanation per claim (JSON lines)",
                                                           "content": {"application/x-ndjson": {
                                                               "schema": {"type": "string"}}}},
                                                           **AUTH, **TOO_LARGE, **OVER_TIME}}},
            "/v1/fix": {"post": {"summary": "each result with the corrected claim (as `check --fix`)", **check}},
            "/v1/payers": {"get": {"summary": "payers and their policy versions", "security": [{"bearer": []}],
                                   "responses": {"200": _resp("payers", schema={"type": "array"}), **AUTH}}},
            "/v1/edits": {"get": {"summary": "the edit catalogue", "security": [{"bearer": []}],
                                  "parameters": [{"name": "payer", "in": "query", "required": False,
                                                  "schema": {"type": "string"}}],
                                  "responses": {"200": _resp("edits", schema={"type": "array"}),
                                                "404": _problem("unknown payer"), **AUTH}}},
            "/v1/reload": {"post": {"summary": "read policies and tokens again; swap atomically (admin)",
                                    "security": [{"bearer": []}],
                                    "responses": {"200": _resp("the new policy generation"),
                                                  "422": _resp("the policies or tokens did not load; the ones in force stay",
                                                               schema={"$ref": "#/components/schemas/Problem"}),
                                                  **ADMIN}}},
            "/v1/jobs": {"post": {"summary": "submit a large file (JSON lines or X12) as a job",
                                  "security": [{"bearer": []}],
                                  "requestBody": _body("application/x-ndjson", "application/edi-x12"),
                                  "responses": {"202": _resp("the job", schema={"$ref": "#/components/schemas/Job"}),
                                                **AUTH, **TOO_LARGE}}},
            "/v1/jobs/{job_id}": {"get": {
                "summary": "a job's status and summary", "security": [{"bearer": []}],
                "parameters": [{"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": _resp("the job", schema={"$ref": "#/components/schemas/Job"}),
                              "404": _problem("no such job"), **AUTH}}},
            "/v1/jobs/{job_id}/results": {"get": {
                "summary": "a finished job's results (JSON lines)", "security": [{"bearer": []}],
                "parameters": [{"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": ndjson, "404": _problem("no such job"), "409": _problem("the job is not done"),
                              **AUTH}}},
            "/healthz": {"get": {"summary": "the process is up", "responses": {"200": _resp("ok")}}},
            "/readyz": {"get": {"summary": "policies are loaded", "responses": {"200": _resp("ready")}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {
                "description": "text exposition format", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        },
        "components": {"schemas": schemas,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
    return doc


def openapi_json() -> str:
    return json.dumps(build_openapi(), indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":
    import sys
    sys.stdout.write(openapi_json())
