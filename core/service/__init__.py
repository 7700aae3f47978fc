"""The HTTP service: ``payer-rules serve`` and the app factory for hosts with their own
ASGI server (extra ``service``)::

    from payer_rules.service import create_app
    app = create_app(policies=["my_policies/"], tokens_file="/etc/payer-rules/tokens")

See docs/service.md for the endpoints, security, limits and the page at ``/``.
"""

from .app import ServiceConfig, create_app

__all__ = ["ServiceConfig", "create_app"]
