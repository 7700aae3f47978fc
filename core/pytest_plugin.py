"""pytest plugin (entry point ``pytest11``): collects policy test files (``*.test.yaml``)
as pytest items, with the same checks and messages as ``payer-rules test``, but only where
the user asks for it: ``pytest --policy-tests``, or ``policy_tests = true`` in the pytest
configuration. Installing payer-rules must not change an unrelated project's test run
that happens to hold a ``*.test.yaml`` file.

The policies a test file is checked against are the ones in its own folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .policy_tests import Case, check, is_test_file, read_test_file

_ENGINES: dict[Path, object] = {}


def _engine(folder: Path):
    from .engine import Engine
    if folder not in _ENGINES:
        _ENGINES[folder] = Engine(folder)
    return _ENGINES[folder]


def pytest_addoption(parser) -> None:
    parser.addoption("--policy-tests", action="store_true", default=False,
                     help="payer-rules: collect policy test files (*.test.yaml) as tests")
    parser.addini("policy_tests", type="bool", default=False,
                  help="payer-rules: collect policy test files (*.test.yaml) as tests")


def _wanted(config) -> bool:
    return bool(config.getoption("--policy-tests") or config.getini("policy_tests"))


def pytest_collect_file(parent, file_path: Path):
    if is_test_file(file_path) and _wanted(parent.config):
        return PolicyTestFile.from_parent(parent, path=file_path)
    return None


class PolicyTestFile(pytest.File):
    def collect(self):
        for case in read_test_file(self.path):
            yield PolicyCase.from_parent(self, name=case.name, case=case)


class PolicyCase(pytest.Item):
    def __init__(self, *, case: Case, **kwargs):
        super().__init__(**kwargs)
        self.case = case

    def runtest(self) -> None:
        engine = _engine(self.path.parent)
        results = [engine.evaluate(c) for c in self.case.claims]
        problems = check(self.case, results)
        if problems:
            raise PolicyCaseFailed(problems)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, PolicyCaseFailed):
            return f"{self.case.path}:{self.case.line}: {self.case.name}\n  " + "\n  ".join(excinfo.value.problems)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, (self.case.line or 1) - 1, f"policy case: {self.case.name}"


class PolicyCaseFailed(Exception):
    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems
