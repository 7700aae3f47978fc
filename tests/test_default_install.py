"""The README's main command installs no extra (``pip install .``): the CLI, and every
command but ``serve``, must work without the optional libraries. Run in a fresh
interpreter in which importing them fails, as on a default install."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BLOCK = """
import sys
OPTIONAL = {"starlette", "uvicorn", "httpx", "pyarrow", "pyspark", "durable", "playwright",
            "schemathesis", "pyx12", "duckdb", "polars", "hypothesis"}
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in OPTIONAL:
            raise ImportError(f"No module named {name!r} (blocked: not in the default install)")
sys.meta_path.insert(0, Block())
from payer_rules.cli import main
sys.exit(main(sys.argv[1:]))
"""


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_main_command_without_extras():
    got = run("check", "docs/examples/claims.jsonl", "--format", "text")
    assert "Traceback" not in got.stderr, got.stderr
    assert got.returncode in (0, 1), got.stderr
    assert "medicare" in got.stdout


def test_serve_without_the_extra_says_which_extra():
    got = run("serve", "--no-auth", "--port", "0")
    assert got.returncode == 2
    assert "Traceback" not in got.stderr
    assert "pip install 'payer-rules[service]'" in got.stderr
