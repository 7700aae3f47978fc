"""Bundled and custom policies together: the source name ``bundled``; one payer in two
sources is an error naming both files, never a silent mix."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from payer_rules import Engine, PolicyError
from payer_rules.policy import bundled_dir

ACME = (bundled_dir() / "generic-commercial.yaml").read_text("utf-8").replace(
    "payer: generic-commercial", "payer: acme")


def test_bundled_and_custom_together(tmp_path):
    (tmp_path / "acme.yaml").write_text(ACME, "utf-8")
    import shutil
    shutil.copytree(bundled_dir() / "tables", tmp_path / "tables")
    e = Engine(["bundled", tmp_path])
    assert set(e.policies.payers()) == {"acme", "generic-commercial", "medicare"}
    out = subprocess.run([sys.executable, "-m", "payer_rules.cli", "payers", "--format", "json",
                          "--policies", "bundled", "--policies", str(tmp_path)], capture_output=True, text=True)
    assert {p["payer"] for p in json.loads(out.stdout)} == {"acme", "generic-commercial", "medicare"}


def test_one_payer_in_two_sources_is_an_error(tmp_path):
    import shutil
    shutil.copy(bundled_dir() / "medicare.yaml", tmp_path / "my-medicare.yaml")
    shutil.copytree(bundled_dir() / "tables", tmp_path / "tables")
    with pytest.raises(PolicyError) as exc:
        Engine(["bundled", tmp_path])
    text = str(exc.value)
    assert "payer 'medicare' is already defined in" in text and "nothing is merged" in text
    assert "my-medicare.yaml" in text and str(bundled_dir() / "medicare.yaml") in text
