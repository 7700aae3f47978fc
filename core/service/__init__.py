"""The HTTP service: ``payer-rules serve`` and the app factory for hosts with their own
ASGI server (extra ``service``)::

    from payer_rules.service import create_app
    app = create_app(policies=["my_policies/"], tokens_file="/etc/payer-rules/tokens")

See docs/service.md for the endpoints, security, limits and the page at ``/``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ServiceConfig", "create_app"]


def __getattr__(name: str) -> Any:
    """The app is imported when asked for, not with the package: ``payer-rules`` imports
    ``payer_rules.service.cli`` to parse ``serve``, and that must work without the
    ``service`` extra (the default install has no starlette)."""
    if name in __all__:
        from . import app
        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
