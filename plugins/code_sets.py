"""Edits about codes the policy does not know.

A code that is neither timed nor untimed in the payer's policy is reported with the
severity the policy sets in ``unknown_codes`` (error, warning, info or off): it is
reported, never fatal, because the rest of the claim can still be checked.
"""

from __future__ import annotations

import re

from payer_rules import Edit, hookimpl

SOURCE = "code_sets"
PAYER_RULES_GLOBAL = True


@hookimpl
def register_edits(register):
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
    return None


@hookimpl
def check_claim(claim, policy, allocation):
    severity = policy.unknown_codes
    if severity == "off":
        return []
    timed, untimed = policy.timed, policy.untimed
    return [
        Edit(
            rule="code.unknown", category="coverage", severity=severity, lines=(ln.line,),
            message=(f"line {ln.line} {ln.code}: code is not in the {policy.payer} policy "
                     f"(version {policy.version}); its units and edits were not checked"),
            source=SOURCE,
        )
        for ln in claim.lines
        if ln.code not in timed and ln.code not in untimed
    ]
