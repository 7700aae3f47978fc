"""The ASGI application: ``create_app`` builds it (``payer-rules serve`` runs it on uvicorn).

Consistency under reload: the app holds one :class:`Generation` (engine, tokens, number)
and replaces it in one assignment on reload. A request reads it once and evaluates every
one of its claims on that engine, so a request's results all come from one policy set,
whatever reloads happen meanwhile (``X-Policy-Generation`` says which). The engine is
read-only while evaluating, so requests share it across threads.

Results are written with ``Result.to_json`` exactly as ``payer-rules check`` writes them
(index set, one line per claim), so the same bytes in give the same bytes out.
"""

from __future__ import annotations

import io
import json
import logging
import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Iterator

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ..engine import Engine
from ..policy import PolicyError
from ..readers import ReadError, ReadOptions
from ..writers import fix_text, open_writer, write_result
from .auth import TokenError, Tokens, bearer, load_tokens
from .jobs import Jobs
from .metrics import Metrics
from .openapi import build_openapi
from .reading import read_body, reader_for

access_log = logging.getLogger("payer_rules.access")
NDJSON = "application/x-ndjson"


@dataclass(frozen=True)
class ServiceConfig:
    """Everything the app is built from; every limit has a default fit for real claims."""

    policies: tuple[str, ...] | None = None
    rules_evaluator: str = "builtin"
    table_roots: tuple[str, ...] = ()
    tokens_file: str | None = None
    #: False only for a local trial: every endpoint open (serve allows it on loopback only)
    auth: bool = True
    max_body_bytes: int = 10 * 1024 * 1024
    max_claims: int = 1000
    max_lines: int = 999
    #: seconds one request may spend evaluating (checked between claims)
    time_limit: float = 30.0
    max_job_bytes: int = 1024 * 1024 * 1024
    jobs_dir: str | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ServiceConfig":
        d = dict(d)
        for k in ("policies", "table_roots"):
            if d.get(k) is not None:
                d[k] = tuple(d[k])
        return cls(**d)


@dataclass(frozen=True)
class Generation:
    """One policy set and token set, swapped whole on reload."""

    number: int
    engine: Engine
    tokens: Tokens
    #: the readers' limits and the X12 payer map, read once per generation, not per request
    read_options: ReadOptions


class HTTPProblem(Exception):
    def __init__(self, status: int, message: str):
        self.status, self.message = status, message


class OverTime(Exception):
    pass


@dataclass
class Service:
    config: ServiceConfig
    current: Generation = field(init=False)
    metrics: Metrics = field(default_factory=Metrics)

    def __post_init__(self) -> None:
        self.current = self._generation(1)
        self.jobs = Jobs(Path(self.config.jobs_dir) if self.config.jobs_dir else None)
        import threading
        self._reload_lock = threading.Lock()

    def _engine(self) -> Engine:
        c = self.config
        return Engine(list(c.policies) if c.policies else None, rules_evaluator=c.rules_evaluator,
                      table_roots=c.table_roots)

    def _tokens(self) -> Tokens:
        return load_tokens(self.config.tokens_file) if self.config.auth else Tokens((), "(auth off)")

    def _generation(self, number: int) -> Generation:
        engine = self._engine()
        return Generation(number, engine, self._tokens(), ReadOptions.from_env(x12_payers=engine.x12_payers()))

    def reload(self) -> Generation:
        """New engine and tokens, swapped in one assignment; on failure the old ones stay."""
        with self._reload_lock:
            self.current = self._generation(self.current.number + 1)
            return self.current

    # -- per request --------------------------------------------------------------------
    def authorize(self, request: Request, gen: Generation, role: str) -> None:
        if not self.config.auth:
            return
        got = gen.tokens.role_of(bearer(request.headers.get("authorization")))
        if got is None:
            raise HTTPProblem(401, "a bearer token is required (Authorization: Bearer TOKEN)")
        if role == "admin" and got != "admin":
            raise HTTPProblem(403, "this token's role (check) may not do this; an admin token is required")

    async def body(self, request: Request, limit: int) -> bytes:
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > limit:
            raise HTTPProblem(413, f"the body exceeds the limit of {limit:,} bytes; send large files as a job "
                                   "(POST /v1/jobs)")
        chunks = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise HTTPProblem(413, f"the body exceeds the limit of {limit:,} bytes; send large files as a job "
                                       "(POST /v1/jobs)")
            chunks.append(chunk)
        return b"".join(chunks)

    def records(self, gen: Generation, data: bytes, content_type: str | None) -> Iterator[tuple[int, Any]]:
        """The body's records, read as they are evaluated (each claim's dict is freed before
        the next is read), through :meth:`checked`."""
        return self.checked(read_body(gen.engine, data, reader_for(content_type), gen.read_options))

    def checked(self, records: Iterable[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
        """Past ``max_claims`` a 413; a claim with more than ``max_lines`` lines an error
        record in its place (a request never drops a claim)."""
        c = self.config
        for n, raw in records:
            if n > c.max_claims:
                raise HTTPProblem(413, f"more than {c.max_claims:,} claims in one request; send large files as a "
                                       "job (POST /v1/jobs)")
            if type(raw) is dict:
                lines = raw.get("lines")
                if type(lines) is list and len(lines) > c.max_lines:
                    raw = ReadError(f"request: claim {n}: {len(lines):,} service lines exceed the limit of "
                                    f"{c.max_lines:,} lines per claim")
            yield n, raw

    def evaluate(self, gen: Generation, data: bytes, content_type: str | None, kind: str, payer: str | None,
                 words: bool) -> tuple[bytes, int]:
        """A request's response body and its number of claims, in one call (run in a worker
        thread). Each claim is read, evaluated and written through the CLI's own ``json``
        writer into one buffer before the next is read, so the bytes are the CLI's and a
        result is freed at once (the next claim reuses memory still in the CPU cache); the
        metrics are gathered on the way and added once. Over the time limit (checked between
        claims): OverTime."""
        engine = gen.engine
        deadline = time.monotonic() + self.config.time_limit
        out = io.BytesIO()
        count = 0
        records = self.records(gen, data, content_type)
        if kind == "explain":
            for count, raw in records:
                if time.monotonic() > deadline:
                    raise OverTime()
                out.write(json.dumps(engine.explain(raw, payer), ensure_ascii=False).encode("utf-8") + b"\n")
            return out.getvalue(), count
        statuses: list[str] = []
        categories: list[str] = []
        writer = open_writer(engine.plugins, "json", out)
        evaluate, clock = engine.evaluate, time.monotonic
        plain = kind == "check" and not words
        for count, raw in records:
            if clock() > deadline:
                raise OverTime()
            result = evaluate(raw, payer)
            result.index = count
            if plain:
                writer.write(result)
            else:
                write_result(writer, result, self._extra(engine, raw, result, kind, payer, words))
            statuses.append(result.status)
            if result.edits:
                categories += [e.category for e in result.edits]
        writer.close()
        self.metrics.add(Counter(statuses), Counter(categories))
        return out.getvalue(), count

    @staticmethod
    def _extra(engine: Engine, raw: Any, result: Any, kind: str, payer: str | None, words: bool) -> dict | None:
        """The keys ``/v1/fix`` (as ``check --fix``) and ``?fix_text=1`` add to a result."""
        extra = None
        if kind == "fix" and type(raw) is dict and result.status != "error":
            after, fixed, applied, left = engine.fix(raw, payer)
            extra = {"fixed_claim": fixed, "fixes_applied": applied, "fixes_left": left, "fixed_status": after.status}
        if words:
            extra = dict(extra or {}, fixes_in_words=[fix_text(e.fix) or None for e in result.edits])
        return extra


def _problem(status: int, message: str, request: Request) -> JSONResponse:
    return JSONResponse({"error": message, "request_id": request.scope.get("request_id")}, status_code=status)


def create_app(policies: Iterable[str] | str | None = None, *, config: ServiceConfig | None = None,
               **settings: Any) -> Starlette:
    """The ASGI app. ``policies``: folders or files (default the bundled policies);
    ``settings``: any :class:`ServiceConfig` field (``tokens_file``, ``max_claims``...).
    Raises PolicyError or TokenError when the policies or tokens cannot be loaded."""
    if config is None:
        if isinstance(policies, (str, Path)):
            policies = [str(policies)]
        config = ServiceConfig(policies=tuple(map(str, policies)) if policies else None,
                               **{k: tuple(v) if k == "table_roots" else v for k, v in settings.items()})
    svc = Service(config)
    page = _static()

    async def claims_endpoint(request: Request, kind: str) -> Response:
        gen = svc.current  # one read: every claim of this request on one policy generation
        svc.authorize(request, gen, "check")
        data = await svc.body(request, config.max_body_bytes)
        payer = request.query_params.get("payer") or None
        words = request.query_params.get("fix_text") in ("1", "true", "yes")
        content_type = request.headers.get("content-type")
        try:
            # one worker-thread call for the whole request: reading, every claim, the bytes out
            body, count = await run_in_threadpool(svc.evaluate, gen, data, content_type, kind, payer, words)
        except OverTime:
            raise HTTPProblem(503, f"the request took longer than its time limit of {config.time_limit:g} s; "
                                   "send fewer claims, or the file as a job (POST /v1/jobs)") from None
        request.scope["claims"] = count
        return Response(body, media_type=NDJSON, headers={"X-Policy-Generation": str(gen.number)})

    async def check(request: Request) -> Response:
        return await claims_endpoint(request, "check")

    async def explain(request: Request) -> Response:
        return await claims_endpoint(request, "explain")

    async def fix(request: Request) -> Response:
        return await claims_endpoint(request, "fix")

    async def payers(request: Request) -> Response:
        gen = svc.current
        svc.authorize(request, gen, "check")
        return JSONResponse(gen.engine.payers(), headers={"X-Policy-Generation": str(gen.number)})

    async def edits(request: Request) -> Response:
        gen = svc.current
        svc.authorize(request, gen, "check")
        payer = request.query_params.get("payer") or None
        if payer is not None and payer not in gen.engine.policies.payers():
            raise HTTPProblem(404, "unknown payer; GET /v1/payers lists them")
        return JSONResponse([s.to_dict() for s in gen.engine.edits(payer)])

    async def reload(request: Request) -> Response:
        svc.authorize(request, svc.current, "admin")
        try:
            gen = await run_in_threadpool(svc.reload)
        except PolicyError as exc:
            return JSONResponse({"error": "the policies did not load; the ones in force stay",
                                 "problems": [str(p) for p in exc.problems],
                                 "request_id": request.scope.get("request_id")}, status_code=422)
        except TokenError as exc:
            return JSONResponse({"error": f"the tokens did not load; the ones in force stay: {exc}",
                                 "request_id": request.scope.get("request_id")}, status_code=422)
        return JSONResponse({"generation": gen.number, "payers": gen.engine.policies.payers()})

    async def submit_job(request: Request) -> Response:
        gen = svc.current
        svc.authorize(request, gen, "check")
        job = svc.jobs.new(gen.engine, gen.number, request.query_params.get("payer") or None)
        size = 0
        try:
            with open(job.input, "wb") as fh:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > config.max_job_bytes:
                        raise HTTPProblem(413, f"the job's file exceeds the limit of {config.max_job_bytes:,} bytes")
                    fh.write(chunk)
        except BaseException:
            svc.jobs.discard(job)
            raise
        svc.jobs.submit(job)
        return JSONResponse(job.to_dict(), status_code=202, headers={"Location": f"/v1/jobs/{job.id}"})

    def _job(request: Request):
        svc.authorize(request, svc.current, "check")
        job = svc.jobs.get(request.path_params["job_id"])
        if job is None:
            raise HTTPProblem(404, "no such job (finished jobs are kept until newer ones push them out)")
        return job

    async def job_status(request: Request) -> Response:
        return JSONResponse(_job(request).to_dict())

    async def job_results(request: Request) -> Response:
        job = _job(request)
        if job.status != "done":
            raise HTTPProblem(409, f"the job is {job.status}; poll GET /v1/jobs/{job.id} until it is done")
        from starlette.responses import FileResponse
        return FileResponse(job.output, media_type=NDJSON)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        gen = svc.current
        return JSONResponse({"status": "ready", "generation": gen.number,
                             "payers": len(gen.engine.policies.payers())})

    async def metrics(request: Request) -> Response:
        return PlainTextResponse(svc.metrics.text(), media_type="text/plain; version=0.0.4")

    async def openapi(request: Request) -> Response:
        return JSONResponse(build_openapi())

    async def index(request: Request) -> Response:
        name = request.path_params.get("name", "index.html")
        if name not in page:
            return PlainTextResponse("not found", status_code=404)
        body, media = page[name]
        return Response(body, media_type=media, headers={
            "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; connect-src 'self'",
            "X-Content-Type-Options": "nosniff"})

    routes = [
        Route("/", index), Route("/static/{name}", index),
        Route("/v1/check", check, methods=["POST"]),
        Route("/v1/explain", explain, methods=["POST"]),
        Route("/v1/fix", fix, methods=["POST"]),
        Route("/v1/payers", payers), Route("/v1/edits", edits),
        Route("/v1/reload", reload, methods=["POST"]),
        Route("/v1/jobs", submit_job, methods=["POST"]),
        Route("/v1/jobs/{job_id}", job_status), Route("/v1/jobs/{job_id}/results", job_results),
        Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics),
        Route("/openapi.json", openapi),
    ]

    async def on_problem(request: Request, exc: HTTPProblem) -> Response:
        return _problem(exc.status, exc.message, request)

    async def on_http(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        return _problem(status, str(getattr(exc, "detail", "")) or "error", request)

    app = Starlette(routes=routes, exception_handlers={HTTPProblem: on_problem, 404: on_http, 405: on_http})
    app.state.service = svc
    return AccessLog(app, svc)


class AccessLog:
    """ASGI middleware: a request id (the caller's ``X-Request-ID`` if it is short and
    plain, else a new one) on the response, and one log line a request with method, path,
    status, duration and claim count: never a body, a query value or any claim field."""

    def __init__(self, app: Starlette, svc: Service):
        self.app, self.service = app, svc
        self.state = app.state

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        given = dict(scope.get("headers") or ()).get(b"x-request-id", b"").decode("latin-1")
        rid = given if 0 < len(given) <= 64 and given.replace("-", "").isalnum() else uuid.uuid4().hex
        scope["request_id"] = rid
        status = [500]

        async def sending(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [(b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            seconds = time.perf_counter() - started
            route = _route_name(scope)
            self.service.metrics.observe(route, status[0], seconds)
            access_log.info("%s %s %d %.1fms claims=%s request_id=%s", scope.get("method"), route, status[0],
                            seconds * 1000, scope.get("claims", "-"), rid)


def _route_name(scope) -> str:
    """The path with a job id replaced, so logs and metrics carry no caller-chosen text."""
    path = scope.get("path", "")
    if path.startswith("/v1/jobs/"):
        return "/v1/jobs/{id}/results" if path.endswith("/results") else "/v1/jobs/{id}"
    if path.startswith("/static/"):
        return "/static"
    known = {"/", "/v1/check", "/v1/explain", "/v1/fix", "/v1/payers", "/v1/edits", "/v1/reload", "/v1/jobs",
             "/healthz", "/readyz", "/metrics", "/openapi.json"}
    return path if path in known else "(other)"


def _static() -> dict[str, tuple[bytes, str]]:
    """The page's files, read once from the package (no file from the network)."""
    files = {"index.html": "text/html; charset=utf-8", "page.js": "text/javascript; charset=utf-8",
             "page.css": "text/css; charset=utf-8"}
    root = resources.files("payer_rules.service").joinpath("static")
    return {name: (root.joinpath(name).read_bytes(), media) for name, media in files.items()}


def app_from_env() -> Any:
    """The app ``payer-rules serve`` hands uvicorn (as a factory, so each worker builds its
    own): its settings come in ``$PAYER_RULES_SERVE_CONFIG`` as JSON, never tokens."""
    return create_app(config=ServiceConfig.from_dict(json.loads(os.environ["PAYER_RULES_SERVE_CONFIG"])))
