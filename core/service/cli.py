"""``payer-rules serve``: the service on uvicorn. Parsing needs no web library; running
does (extra ``service``)."""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import sys

LOOPBACK = ("127.0.0.1", "::1", "localhost")


def _loopback(host: str) -> bool:
    if host in LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cmd_serve(args: argparse.Namespace) -> int:
    from ..cli.common import EXIT_USAGE, UsageError
    try:
        import uvicorn
        from .app import ServiceConfig, create_app
        from .auth import TokenError
    except ImportError:
        raise UsageError("serve needs the 'service' extra: pip install 'payer-rules[service]'") from None
    if args.no_auth and not _loopback(args.host):
        raise UsageError("--no-auth is allowed only on a loopback address (127.0.0.1, ::1)")
    config = ServiceConfig(
        policies=tuple(args.policies) if args.policies else None, rules_evaluator=args.rules_evaluator,
        table_roots=tuple(args.table_root), tokens_file=args.tokens_file, auth=not args.no_auth,
        max_body_bytes=args.max_body_bytes, max_claims=args.max_claims, max_lines=args.max_lines,
        time_limit=args.time_limit, jobs_dir=args.jobs_dir)
    try:
        create_app(config=config)  # fail here, once, with a clear message, before any worker starts
    except TokenError as exc:
        sys.stderr.write(f"payer-rules: {exc}\n")
        return EXIT_USAGE
    os.environ["PAYER_RULES_SERVE_CONFIG"] = json.dumps(config.__dict__)
    tls = {"ssl_certfile": args.ssl_certfile, "ssl_keyfile": args.ssl_keyfile} if args.ssl_certfile else {}
    uvicorn.run("payer_rules.service.app:app_from_env", factory=True, host=args.host, port=args.port,
                workers=args.workers, access_log=False, log_level=args.log_level, http=args.http, loop=args.loop,
                **tls)
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..cli.common import with_policies
    p = sub.add_parser("serve", help="the HTTP API and the page for billers (extra 'service'; docs/service.md)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--workers", type=int, default=1, help="server processes")
    p.add_argument("--tokens-file", help="file of 'ROLE TOKEN' lines (else $PAYER_RULES_TOKENS_FILE or "
                                         "$PAYER_RULES_TOKENS); tokens are never given on the command line")
    p.add_argument("--no-auth", action="store_true", help="no tokens (a local trial; loopback only)")
    p.add_argument("--max-body-bytes", type=int, default=10 * 1024 * 1024)
    p.add_argument("--max-claims", type=int, default=1000, help="claims per request")
    p.add_argument("--max-lines", type=int, default=999, help="service lines per claim")
    p.add_argument("--time-limit", type=float, default=30.0, help="seconds one request may evaluate")
    p.add_argument("--jobs-dir", help="where job files are kept (default a temporary folder)")
    p.add_argument("--ssl-certfile", help="serve HTTPS with this certificate (PEM)")
    p.add_argument("--ssl-keyfile", help="the certificate's private key (PEM)")
    p.add_argument("--log-level", default="info")
    p.add_argument("--http", choices=["auto", "httptools", "h11"], default="auto",
                   help="HTTP parser (auto: httptools when installed, else h11)")
    p.add_argument("--loop", choices=["auto", "uvloop", "asyncio"], default="auto",
                   help="event loop (auto: uvloop when installed, else asyncio)")
    with_policies(p)
    p.set_defaults(func=cmd_serve)
