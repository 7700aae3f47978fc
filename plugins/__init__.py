"""Built-in behaviour of payer-rules, written as ordinary plugins.

Each module here is registered through the ``payer_rules`` entry-point group in
pyproject.toml, exactly as a third-party plugin would be; the engine core never
imports them by name.
"""


import json
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=None)
def section_schema(name: str) -> dict:
    """The JSON Schema of a built-in plugin's policy section (plugins/schemas/NAME.schema.json),
    registered through ``register_policy_sections`` like a third-party plugin's. It may use
    the core schema's ``$defs`` (code, date, severity, denial)."""
    text = resources.files(__name__).joinpath("schemas", f"{name}.schema.json").read_text("utf-8")
    return json.loads(text)
