"""Built-in behaviour of payer-rules, written as ordinary plugins.

Each module here is registered through the ``payer_rules`` entry-point group in
pyproject.toml, exactly as a third-party plugin would be; the engine core never
imports them by name.
"""
