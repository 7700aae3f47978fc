"""Edits about codes the policy does not know.

A code that is neither timed nor untimed in the payer's policy is reported with the
severity the policy sets in ``unknown_codes`` (error, warning, info or off): it is
reported, never fatal, because the rest of the claim can still be checked.
"""

from __future__ import annotations

import re

from payer_rules import Edit, hookimpl
from payer_rules.plugins import section_schema

SOURCE = "code_sets"
PAYER_RULES_GLOBAL = True


@hookimpl
def register_policy_sections(register):
    register("code_dates", section_schema("code_dates"))


@hookimpl
def register_edits(register):
    register("code.not_in_effect", category="coverage", severity="error", section="code_dates",
             description="a code billed on a date before it existed or after it was deleted",
             denial={"group": "CO", "carc": "181", "rarc": None})
    register("modifier.not_in_effect", category="modifier", severity="warning", section="code_dates",
             description="a modifier used on a date outside the dates the policy gives it")
    register("code.unknown", category="coverage", severity="warning", section="unknown_codes",
             description="a code that is neither timed nor untimed in the payer's policy (not checked)")


#: CPT Category I (five digits), Category II (four digits and F), Category III (four digits
#: and T), HCPCS Level II (a letter and four digits): the shapes a procedure code may have
CODE_SHAPE = re.compile(r"^(?:[0-9]{5}|[0-9]{4}[FT]|[A-Z][0-9]{4})$")
_LOOKALIKE = str.maketrans({"O": "0", "o": "0", "I": "1", "l": "1", "S": "5"})


def code_shape_problem(code: str) -> str | None:
    """Why ``code`` is not shaped like a CPT/HCPCS code, with a did-you-mean, or None."""
    if CODE_SHAPE.match(code):
        return None
    guess = None
    fixed = code[0] + code[1:].translate(_LOOKALIKE) if code and code[0].isalpha() else code.translate(_LOOKALIKE)
    if CODE_SHAPE.match(fixed.upper()):
        guess = fixed.upper()
    elif code.isdigit() and len(code) > 5:
        guess = code[:5]
    hint = f" (did you mean '{guess}'?)" if guess else ""
    return (f"'{code}' is not a CPT/HCPCS code: CPT is five digits, Category II/III four digits and F/T, "
            f"HCPCS Level II a letter and four digits{hint}")


def policy_code_problems(policy) -> list[str]:
    """Codes in the policy's ``codes`` and ``code_sets`` lists that are not code-shaped."""
    out = []
    for where, codes in (("codes.timed", policy.timed), ("codes.untimed", policy.untimed)):
        for c in sorted(codes):
            why = code_shape_problem(c)
            if why:
                out.append(f"{where}: {why}")
    for name, codes in sorted((policy.settings.get("code_sets") or {}).items()):
        for c in codes:
            why = code_shape_problem(str(c))
            if why:
                out.append(f"code_sets.{name}: {why}")
    return out


@hookimpl
def prepare_policy(policy, base_dir, options):
    """Refuse a policy whose code lists hold something that cannot be a code ("9711O" with a
    letter O, "971610"): such an entry would silently never match a claim."""
    problems = policy_code_problems(policy)
    if problems:
        raise ValueError("; ".join(problems[:10]))
    cfg = policy.settings.get("code_dates")
    if not cfg:
        return None
    window = lambda w: (w.get("from", "0000-00-00"), w.get("to", "9999-12-31"), w.get("note", ""))  # noqa: E731
    return {"codes": {str(c): window(w) for c, w in (cfg.get("codes") or {}).items()},
            "modifiers": {str(m): window(w) for m, w in (cfg.get("modifiers") or {}).items()}}


def _outside(window, dos: str) -> str | None:
    lo, hi, note = window
    if dos < lo:
        return f"it begins {lo}" + (f" ({note})" if note else "")
    if dos > hi:
        return f"it ended {hi}" + (f" ({note})" if note else "")
    return None


def _dates(claim, data) -> list[Edit]:
    out = []
    codes, mods = data["codes"], data["modifiers"]
    for ln in claim.lines:
        w = codes.get(ln.code)
        why = _outside(w, ln.date_of_service) if w else None
        if why:
            out.append(Edit(rule="code.not_in_effect", category="coverage", severity="error", lines=(ln.line,),
                            source=SOURCE, message=f"line {ln.line} {ln.code}: the code did not exist on "
                                                   f"{ln.date_of_service}: {why}"))
        for m in ln.modifiers:
            w = mods.get(m)
            why = _outside(w, ln.date_of_service) if w else None
            if why:
                out.append(Edit(rule="modifier.not_in_effect", category="modifier", severity="warning",
                                lines=(ln.line,), source=SOURCE,
                                message=f"line {ln.line} {ln.code}: modifier {m} on {ln.date_of_service}: {why}"))
    return out


@hookimpl
def check_claim(claim, policy, allocation, data):
    edits = _dates(claim, data) if data else []
    severity = policy.unknown_codes
    if severity == "off":
        return edits
    timed, untimed = policy.timed, policy.untimed
    return edits + [
        Edit(
            rule="code.unknown", category="coverage", severity=severity, lines=(ln.line,),
            message=(f"line {ln.line} {ln.code}: code is not in the {policy.payer} policy "
                     f"(version {policy.version}); its units and edits were not checked"),
            source=SOURCE,
        )
        for ln in claim.lines
        if ln.code not in timed and ln.code not in untimed
    ]
