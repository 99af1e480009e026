"""`make test`: every check the project has, in order, then one honest summary (a failing step fails the run).

Steps: ruff (lint + format), import-linter, mypy, pytest, and the frontend's type check and Vitest suite.
Test counts come from the runners' JUnit reports, so skipped tests are shown as skipped, never as passed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
REPORTS = ROOT / "var" / "test-reports"


@dataclass
class Step:
    name: str
    argv: list[str]
    cwd: Path = ROOT
    junit: Path | None = None
    ok: bool = False
    seconds: float = 0.0


@dataclass
class Counts:
    passed: int = 0
    failed: int = 0
    skipped: int = 0


def junit_counts(path: Path) -> Counts:
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    tests = sum(int(s.get("tests", 0)) for s in suites)
    failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    skipped = sum(int(s.get("skipped", 0)) for s in suites)
    return Counts(passed=tests - failed - skipped, failed=failed, skipped=skipped)


def main() -> int:
    REPORTS.mkdir(parents=True, exist_ok=True)
    pytest_xml, vitest_xml = REPORTS / "pytest.xml", REPORTS / "vitest.xml"
    steps = [
        Step("ruff check", [str(BIN / "ruff"), "check", "."]),
        Step("ruff format", [str(BIN / "ruff"), "format", "--check", "."]),
        Step("import-linter", [str(BIN / "lint-imports"), "--no-cache"]),
        Step("mypy", [str(BIN / "mypy"), "."]),
        Step("pytest", [str(BIN / "pytest"), f"--junitxml={pytest_xml}", *sys.argv[1:]], junit=pytest_xml),
        Step("frontend typecheck", ["npm", "run", "--silent", "typecheck"], cwd=ROOT / "frontend"),
        Step(
            "frontend tests",
            ["npx", "vitest", "run", "--reporter=default", "--reporter=junit", f"--outputFile.junit={vitest_xml}"],
            cwd=ROOT / "frontend",
            junit=vitest_xml,
        ),
    ]
    for step in steps:
        if step.junit:
            step.junit.unlink(missing_ok=True)
        print(f"\n=== {step.name}: {' '.join(step.argv)}", flush=True)
        started = time.monotonic()
        step.ok = subprocess.run(step.argv, cwd=step.cwd, env=os.environ.copy(), check=False).returncode == 0
        step.seconds = time.monotonic() - started

    total = Counts()
    print("\n=== summary")
    for step in steps:
        line = f"{'PASS' if step.ok else 'FAIL'}  {step.name:<20} {step.seconds:6.1f}s"
        if step.junit:
            if step.junit.exists():
                counts = junit_counts(step.junit)
                total.passed, total.failed, total.skipped = (
                    total.passed + counts.passed,
                    total.failed + counts.failed,
                    total.skipped + counts.skipped,
                )
                line += f"  {counts.passed} passed, {counts.failed} failed, {counts.skipped} skipped"
            else:
                step.ok = False
                line += "  no report: the runner did not finish"
        print(line)
    failed_steps = [step.name for step in steps if not step.ok]
    if failed_steps:
        print(f"failed steps: {', '.join(failed_steps)}")
    print(f"tests: {total.passed} passed, {total.failed} failed, {total.skipped} skipped")
    return 1 if failed_steps or total.failed or total.passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
