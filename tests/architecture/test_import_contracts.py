"""import-linter's contracts hold for the project, and each contract breaks on one planted import in a copy of it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PACKAGES = ("apps", "gateway", "config", "legacy")
CONTRACTS: dict[str, str] = {
    contract["id"]: contract["name"]
    for contract in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
}
PLANTED_PUBLIC = '"""A planted public interface."""\n'


def _lint(cwd: Path) -> tuple[int, str]:
    """Run lint-imports in `cwd` on the packages found there; returns the exit code and the output, one line each."""
    env = {**os.environ, "PYTHONPATH": str(cwd), "COLUMNS": "1000"}  # wide, so no contract name is wrapped
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    return result.returncode, result.stdout + result.stderr


def _statuses(output: str) -> dict[str, str]:
    """{contract id: KEPT or BROKEN} as the summary reports it."""
    statuses = {}
    for contract_id, name in CONTRACTS.items():
        found = re.search(rf"^{re.escape(name)} (KEPT|BROKEN)\b", output, re.MULTILINE)
        if found:
            statuses[contract_id] = found.group(1)
    return statuses


def _copy_of_the_project(destination: Path) -> Path:
    """The project's Python packages (.py files only) and its pyproject.toml, ready for planting."""
    for package in PACKAGES:
        for source in (ROOT / package).rglob("*.py"):
            if "__pycache__" not in source.parts:
                target = destination / source.relative_to(ROOT)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
    shutil.copyfile(ROOT / "pyproject.toml", destination / "pyproject.toml")
    return destination


def _plant(tree: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        (tree / relative).write_text(text)


# id -> (files to plant, ids of the contracts that must break, what the report must mention)
VIOLATIONS: dict[str, tuple[dict[str, str], set[str], str]] = {
    "_case-context-imports-another-contexts-models": (
        {"apps/jobs/planted.py": "from apps.users import models\n"},
        {"contexts-via-public", "legacy-apart"},
        r"apps\.jobs\.planted -> apps\.users\.models",
    ),
    "_case-gateway-imports-a-contexts-models": (
        {"gateway/planted.py": "from apps.jobs import models\n"},
        {"gateway-thin"},
        r"gateway\.planted -> apps\.jobs\.models",
    ),
    "_case-legacy-imports-a-context-even-its-public-module": (
        {"apps/jobs/public.py": PLANTED_PUBLIC, "legacy/imputation/planted.py": "from apps.jobs import public\n"},
        {"legacy-apart"},
        r"legacy\.imputation\.planted -> apps\.jobs\.public",
    ),
    "_case-context-imports-legacy": (
        {"apps/jobs/planted.py": "from legacy.imputation import apps\n"},
        {"legacy-apart"},
        r"apps\.jobs\.planted -> legacy\.imputation\.apps",
    ),
    "_case-node-imports-a-context": (
        {"apps/node/planted.py": "import apps.jobs\n"},
        {"node-standalone", "contexts-via-public"},
        r"apps\.node\.planted -> apps\.jobs\b",
    ),
    "_case-context-imports-the-node": (
        {"apps/jobs/planted.py": "from apps.node import apps\n"},
        {"contexts-via-public"},
        r"apps\.jobs\.planted -> apps\.node\.apps",
    ),
    "_case-legacy-imports-the-gateway": (
        {"legacy/imputation/planted.py": "from gateway import views\n"},
        {"layers"},
        r"legacy\.imputation\.planted -> gateway\.views",
    ),
    "_case-httpx-outside-remote": (
        {"apps/jobs/planted.py": "import httpx\n"},
        {"httpx-at-the-edges"},
        r"apps\.jobs\.planted -> httpx",
    ),
    "_case-cycle-between-two-contexts-public-modules": (
        {
            "apps/jobs/public.py": "from apps.files import public\n",
            "apps/files/public.py": "from apps.jobs import public\n",
        },
        {"no-cycles"},
        r"\.(jobs -> \.files|files -> \.jobs) \(1 import\)",
    ),
    "_case-library-imports-a-context": (
        {"apps/kernel/planted.py": "from apps.jobs import models\n"},
        {"layers", "no-cycles"},  # jobs.models already imports the kernel, so this is a cycle too
        r"apps\.kernel\.planted -> apps\.jobs\.models",
    ),
    "_case-context-imports-the-gateway": (
        {"apps/jobs/planted.py": "from gateway import views\n"},
        {"layers"},
        r"apps\.jobs\.planted -> gateway\.views",
    ),
    "_case-library-imports-its-independent-sibling": (
        {"apps/connectors/planted.py": "from apps.genomics import apps\n"},
        {"layers"},
        r"apps\.connectors\.planted -> apps\.genomics\.apps",
    ),
}

ALLOWED = [
    pytest.param(
        {"apps/users/public.py": PLANTED_PUBLIC, "apps/jobs/planted.py": "from apps.users import public\n"},
        id="_case-context-imports-another-contexts-public",
    ),
    pytest.param({"apps/jobs/remote.py": "import httpx\n"}, id="_case-httpx-in-a-contexts-remote"),
    pytest.param(
        {"apps/users/public.py": PLANTED_PUBLIC, "gateway/planted.py": "from apps.users import public\n"},
        id="_case-gateway-imports-a-contexts-public",
    ),
    pytest.param({"apps/jobs/planted.py": "from apps.kernel import envelope\n"}, id="_case-context-imports-the-kernel"),
]


def test_the_project_keeps_every_contract() -> None:
    code, output = _lint(ROOT)

    assert code == 0, output
    assert "0 broken" in output
    assert _statuses(output) == dict.fromkeys(CONTRACTS, "KEPT")


@pytest.mark.parametrize(
    ("files", "broken", "mention"), [pytest.param(*case, id=case_id) for case_id, case in VIOLATIONS.items()]
)
def test_a_planted_import_breaks_its_contract(
    tmp_path: Path, files: dict[str, str], broken: set[str], mention: str
) -> None:
    tree = _copy_of_the_project(tmp_path)
    _plant(tree, files)

    code, output = _lint(tree)

    assert code != 0, output
    statuses = _statuses(output)
    assert statuses.keys() == CONTRACTS.keys(), output
    assert {contract for contract, status in statuses.items() if status == "BROKEN"} == broken, output
    assert re.search(mention, " ".join(output.split())), output


@pytest.mark.parametrize("files", ALLOWED)
def test_a_planted_import_through_the_allowed_paths_breaks_nothing(tmp_path: Path, files: dict[str, str]) -> None:
    tree = _copy_of_the_project(tmp_path)
    _plant(tree, files)

    code, output = _lint(tree)

    assert code == 0, output
    assert _statuses(output) == dict.fromkeys(CONTRACTS, "KEPT")


def test_every_contract_has_a_planted_violation() -> None:
    """A new contract in pyproject.toml must come with a case proving it bites."""
    exercised = {contract for _, broken, _ in VIOLATIONS.values() for contract in broken}

    assert exercised == CONTRACTS.keys()
