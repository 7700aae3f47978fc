"""Bearer tokens and roles.

Tokens come from a file (``--tokens-file`` / ``PAYER_RULES_TOKENS_FILE``) or from the
environment (``PAYER_RULES_TOKENS``), never from the command line, where any user of the
machine could read them in the process list. Two roles: ``check`` (every claim endpoint)
and ``admin`` (also reload); an admin token can do what a check token can. Tokens are
compared in constant time (hmac.compare_digest) against every known token, so the time a
request takes says nothing about how much of a token was right. The set is read again on
reload, so tokens rotate without a restart.

File format: one ``ROLE TOKEN`` pair a line; blank lines and ``#`` comments are ignored.
The environment variable holds the same pairs separated by commas (``check:abc,admin:xyz``).
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

ROLES = ("check", "admin")
TOKENS_ENV = "PAYER_RULES_TOKENS"
TOKENS_FILE_ENV = "PAYER_RULES_TOKENS_FILE"
#: tokens shorter than this are refused: a guessable token is no token
MIN_TOKEN = 16


class TokenError(ValueError):
    """The token source is malformed; the message names the file and line, never a token."""


@dataclass(frozen=True)
class Tokens:
    """(role, token bytes) pairs; ``role_of`` is the one check every request goes through."""

    pairs: tuple[tuple[str, bytes], ...]
    source: str

    def role_of(self, presented: str | None) -> str | None:
        """The role of a presented token, or None. Every known token is compared, each in
        constant time, so the answer takes as long for a near miss as for nothing."""
        if not presented:
            return None
        got = presented.encode("utf-8", "surrogateescape")
        found = None
        for role, token in self.pairs:
            if hmac.compare_digest(got, token) and (found is None or role == "admin"):
                found = role
        return found


def _parse(pairs: list[tuple[str, str, str]]) -> tuple[tuple[str, bytes], ...]:
    out = []
    for where, role, token in pairs:
        if role not in ROLES:
            raise TokenError(f"{where}: role must be one of {', '.join(ROLES)}")
        if len(token) < MIN_TOKEN:
            raise TokenError(f"{where}: token shorter than {MIN_TOKEN} characters")
        out.append((role, token.encode("utf-8")))
    return tuple(out)


def load_tokens(tokens_file: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Tokens:
    """Tokens from ``tokens_file`` (else ``$PAYER_RULES_TOKENS_FILE``), else from
    ``$PAYER_RULES_TOKENS``; an empty set when neither is given (every request is then 401)."""
    env = os.environ if environ is None else environ
    path = tokens_file or env.get(TOKENS_FILE_ENV) or None
    if path:
        try:
            text = Path(path).read_text("utf-8")
        except OSError as exc:
            raise TokenError(f"cannot read tokens file {path}: {exc.strerror or exc.__class__.__name__}") from None
        rows = []
        for no, line in enumerate(text.splitlines(), start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            role, _, token = line.partition(" ")
            rows.append((f"{path}:{no}", role.strip(), token.strip()))
        return Tokens(_parse(rows), str(path))
    raw = env.get(TOKENS_ENV, "")
    rows = []
    for i, item in enumerate((x.strip() for x in raw.split(",")), start=1):
        if item:
            role, _, token = item.partition(":")
            rows.append((f"${TOKENS_ENV} entry {i}", role.strip(), token.strip()))
    return Tokens(_parse(rows), f"${TOKENS_ENV}" if rows else "(none)")


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer TOKEN`` header."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None
