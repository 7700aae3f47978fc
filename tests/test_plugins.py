"""Plugins: the documented example plugin loaded through a real entry point, payer scoping,
built-ins registered as entry points, and tracing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from payer_rules import Allocation, Engine, PluginError, UnitDecision, hookimpl
from payer_rules.policy import bundled_dir
from payer_rules.plugin_manager import load_plugins

from conftest import ROOT, claim, rules_of, units_of

EXAMPLE = ROOT / "docs" / "examples"


def test_builtins_are_entry_point_plugins():
    plugins = load_plugins()
    assert {"cms_total_time", "per_code_midpoint", "unit_checks", "code_sets"} <= set(plugins.names())
    assert plugins.unit_methods["cms_total_time"].plugin == "cms_total_time"


def test_example_plugin_overrides_units_for_its_payer_only(acme_installed):
    engine = Engine([bundled_dir(), EXAMPLE / "acme_policies"])
    acme = engine.evaluate(claim("acme", {"code": "97110", "minutes": 29, "units": 2}))
    assert units_of(acme) == {"97110": 1}
    assert acme.lines[0].source == "acme_units"
    assert "units.over_billed" in rules_of(acme)
    assert "acme.discipline_modifier" in rules_of(acme)
    # the same minutes under other payers: the plugin does not run
    med = engine.evaluate(claim("medicare", {"code": "97110", "minutes": 29, "modifiers": []}))
    assert units_of(med) == {"97110": 2} and med.lines[0].source == "cms_total_time"
    assert "acme.discipline_modifier" not in rules_of(med)
    gc = engine.evaluate(claim("generic-commercial", {"code": "97110", "minutes": 29}))
    assert units_of(gc) == {"97110": 2}


def test_example_plugin_from_cli(acme_installed, tmp_path):
    f = tmp_path / "c.json"
    f.write_text('{"claim_id": "A", "payer": "acme", "lines": [{"code": "97110", "minutes": 44, '
                 '"modifiers": ["GP"], "date_of_service": "2024-05-01"}]}')
    env_path = f"{tmp_path}:{EXAMPLE / 'acme_plugin'}"
    out = subprocess.run(
        [sys.executable, "-m", "payer_rules.cli", "check", str(f), "--policies", str(EXAMPLE / "acme_policies")],
        capture_output=True, text=True, env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    assert '"units":2' in out.stdout and '"source":"acme_units"' in out.stdout


def test_host_plugin_passed_to_engine(tmp_path):
    class Half:
        @hookimpl
        def compute_units(self, claim, policy, lines):
            return Allocation(source="half", method="half",
                              decisions={tl.line.line: UnitDecision(1, "one") for tl in lines})

    pol = tmp_path / "p.yaml"
    pol.write_text((EXAMPLE / "acme_policies" / "acme.yaml").read_text().replace("[acme_units]", "[half]"))
    engine = Engine(pol, plugins=[("half", Half())])
    assert units_of(engine.evaluate(claim("acme", {"code": "97110", "minutes": 60}))) == {"97110": 1}


def test_policy_naming_missing_plugin(tmp_path):
    pol = tmp_path / "p.yaml"
    pol.write_text((EXAMPLE / "acme_policies" / "acme.yaml").read_text().replace("[acme_units]", "[acme_unit]"))
    with pytest.raises(Exception) as exc:
        Engine(pol)
    assert "plugin 'acme_unit' is not installed" in str(exc.value)


def test_bad_plugin_result_is_an_error_record_not_a_crash(tmp_path):
    class Broken:
        @hookimpl
        def compute_units(self, claim, policy, lines):
            return {"not": "an allocation"}

    pol = tmp_path / "p.yaml"
    pol.write_text((EXAMPLE / "acme_policies" / "acme.yaml").read_text().replace("[acme_units]", "[broken]"))
    engine = Engine(pol, plugins=[("broken", Broken())])
    r = engine.evaluate(claim("acme", {"code": "97110", "minutes": 60}, claim_id="X"))
    assert r.status == "error" and r.claim_id == "X"
    assert r.error.startswith("plugin 'broken' failed in compute_units: returned something other than an Allocation")


def test_duplicate_unit_method_rejected():
    class Dup:
        @hookimpl
        def register_unit_methods(self, register):
            register("cms_total_time", lambda lines, params: None)

    with pytest.raises(PluginError, match="registered twice"):
        load_plugins([("dup", Dup())])


def test_trace_env_names_hooks_not_claim_data(tmp_path):
    f = tmp_path / "c.json"
    f.write_text('{"claim_id": "SECRET-ID", "payer": "medicare", "patient": {"id": "PATIENT-XYZ"}, '
                 '"lines": [{"code": "97110", "minutes": 44, "date_of_service": "2024-05-01"}]}')
    out = subprocess.run([sys.executable, "-m", "payer_rules.cli", "check", str(f)],
                         capture_output=True, text=True, env={"PAYER_RULES_TRACE": "1", "PATH": "/usr/bin:/bin"})
    assert "payer_rules trace: check_claim -> " in out.stderr
    assert "unit_checks" in out.stderr
    assert "SECRET-ID" not in out.stderr and "PATIENT-XYZ" not in out.stderr
    # traced calls go through pluggy's own caller; the result is the same as the direct path's
    plain = subprocess.run([sys.executable, "-m", "payer_rules.cli", "check", str(f)],
                           capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert "modifier.discipline_missing" in plain.stdout and "doc.diagnosis_pointer" in plain.stdout
    assert out.stdout == plain.stdout


def test_nothing_installed_under_a_generic_top_level_name():
    from importlib.metadata import PackageNotFoundError, files
    try:
        installed = files("payer-rules") or []
    except PackageNotFoundError:
        pytest.skip("payer-rules is not installed")
    tops = {str(f).split("/")[0] for f in installed if str(f).endswith(".py")}
    assert not tops & {"core", "plugins", "payer_configs", "tests"}, tops


class VisitLimits:
    """A plugin with its own policy section, validated like the built-in ones."""

    @hookimpl
    def register_policy_sections(self, register):
        register("visit_limits", {"type": "object", "additionalProperties": False, "required": ["per_day"],
                                  "properties": {"per_day": {"type": "integer", "minimum": 1}}})

    @hookimpl
    def register_edits(self, register):
        register("visits.too_many_lines", category="coverage", severity="warning", section="visit_limits",
                 description="more lines than the payer's visit limit")

    @hookimpl
    def prepare_policy(self, policy, base_dir):
        cfg = policy.settings.get("visit_limits")
        return cfg["per_day"] if cfg else None

    @hookimpl
    def check_claim(self, claim, policy, allocation, data):
        from payer_rules import Edit
        limit = data
        if limit is None or len(claim.lines) <= limit:
            return []
        return [Edit(rule="visits.too_many_lines", category="coverage", severity="warning", lines=(),
                     message=f"more than {limit} lines", source="visit_limits")]


def test_plugin_policy_section(tmp_path):
    pol = tmp_path / "p.yaml"
    text = (EXAMPLE / "acme_policies" / "acme.yaml").read_text().replace("plugins: [acme_units]",
                                                                         "plugins: [visit_limits]")
    pol.write_text(text + "visit_limits: {per_day: 1}\n")
    engine = Engine(pol, plugins=[("visit_limits", VisitLimits())])
    r = engine.evaluate(claim("acme", {"code": "97110", "minutes": 20}, {"code": "97140", "minutes": 20}))
    assert "visits.too_many_lines" in rules_of(r)
    pol.write_text(text + "visit_limits: {per_dya: 1}\n")
    with pytest.raises(Exception) as exc:
        Engine(pol, plugins=[("visit_limits", VisitLimits())])
    assert "unknown key 'per_dya' in visit_limits (did you mean 'per_day'?)" in str(exc.value)
    pol.write_text(text + "visit_limits: {per_day: 1}\n")
    with pytest.raises(Exception, match="unknown key 'visit_limits'"):
        Engine(pol)  # without the plugin the section is not allowed


def test_plugin_section_may_not_shadow_builtin():
    class Bad:
        @hookimpl
        def register_policy_sections(self, register):
            register("codes", {"type": "object"})

    with pytest.raises(PluginError, match="which payer-rules already has"):
        load_plugins([("bad", Bad())])
