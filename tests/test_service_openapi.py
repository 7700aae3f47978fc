"""Property tests of the HTTP API from its own OpenAPI document (schemathesis, bounded).

Every operation in /openapi.json is called in process (ASGI, no network) with requests
generated from the document: bodies from the project's claim schema, query and path
parameters from theirs. Each response must not be a server error, and its status code,
content type and body must be ones the document declares for that operation. Auth is the
real auth: the check token on claim endpoints, the admin token on ``/v1/reload``, and
schemathesis' ``ignored_auth`` check sends each operation again with no token and with a
wrong one and wants 401. Two more cases per protected operation hold the 401 and 403
answers to the document too.

Bounded and repeatable: a fixed number of generated examples per operation plus the
coverage phase's fixed set, ``derandomize`` and a fixed seed (the same requests every
run), no example database, no deadline. The app
is this module's own instance (its jobs folder, its reloads), so other tests never see
its state. Skipped without the ``schemathesis`` package (extra ``service-tests``).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

pytest.importorskip("starlette")
schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    ignored_auth,
    response_schema_conformance,
    status_code_conformance,
)

from payer_rules.service import create_app  # noqa: E402

CHECK_TOKEN = "c" * 24
ADMIN_TOKEN = "a" * 24
#: examples per operation: enough to reach every body shape (object, array, JSON lines,
#: X12 text) and the parameters, small enough for the whole file to run in well under a minute
EXAMPLES = 12
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          ignored_auth]


# JSON lines and X12 bodies are text in the document: send the generated text as it is
schemathesis.serializer.alias(["application/x-ndjson", "application/edi-x12"], "text/plain")

#: tokens and job files of this module's app; removed when the module's tests end
FOLDER = Path(tempfile.mkdtemp(prefix="payer-rules-openapi-"))
(FOLDER / "tokens").write_text(f"check {CHECK_TOKEN}\nadmin {ADMIN_TOKEN}\n")
# small limits, so generated bodies reach the 413 answers as well as the 200s
APP = create_app(tokens_file=str(FOLDER / "tokens"), max_claims=20, max_lines=30, max_body_bytes=64_000,
                 jobs_dir=str(FOLDER / "jobs"))
# The document is read from the app itself (GET /openapi.json): the test checks what is served.
# (Built at import: schemathesis' fixture-based loader does not run under pytest 9.)
# An explicit configuration (no schemathesis.toml is looked for) with a fixed seed: with
# ``derandomize`` below, the same requests every run. The coverage phase adds the boundary
# and negative cases the document defines (a finite, fixed set; max_examples bounds the rest).
schema = schemathesis.openapi.from_asgi("/openapi.json", APP, config=schemathesis.Config.from_dict({"seed": 15}))


@pytest.fixture(scope="module", autouse=True)
def _cleanup():
    yield
    APP.state.service.jobs.close()
    shutil.rmtree(FOLDER, ignore_errors=True)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@schema.parametrize()
@settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_every_operation_conforms_to_the_document(case):
    if not case.operation.definition.raw.get("security"):
        case.call_and_validate(checks=CHECKS)
        return
    admin = case.path == "/v1/reload"
    case.call_and_validate(headers=_bearer(ADMIN_TOKEN if admin else CHECK_TOKEN), checks=CHECKS)
    if case.method.upper() != case.operation.method.upper() or (case.meta and case.meta.generation.mode.is_negative):
        return  # the coverage phase's own probes (another method, a header left out) test refusals themselves
    # the refusals are answers of the document too: no token is 401, a check token on reload 403
    refused = case.call()
    assert refused.status_code == 401
    case.validate_response(refused, checks=CHECKS[:4])
    if admin:
        refused = case.call(headers=_bearer(CHECK_TOKEN))
        assert refused.status_code == 403
        case.validate_response(refused, checks=CHECKS[:4])


def test_the_run_reached_every_operation_and_answer():
    """The property test above ran (in this module, before this test) and reached each
    operation, the claim endpoints with bodies the engine evaluated."""
    seen = APP.state.service.metrics.requests
    routes = {route for route, _ in seen}
    assert {"/v1/check", "/v1/explain", "/v1/fix", "/v1/payers", "/v1/edits", "/v1/reload", "/v1/jobs",
            "/v1/jobs/{id}", "/v1/jobs/{id}/results", "/healthz", "/readyz", "/metrics"} <= routes
    for route in ("/v1/check", "/v1/fix", "/v1/reload"):
        assert seen[(route, 200)] and seen[(route, 401)]
    assert seen[("/v1/reload", 403)]
    assert sum(APP.state.service.metrics.claims.values()) > 0
