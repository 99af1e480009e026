"""The report is plain data: JSON out, the same report back in."""

from __future__ import annotations

import json
from pathlib import Path

from apps.genomics.rules import MIS2_RULES, TIS_RULES
from apps.genomics.tests.support import simulate
from apps.genomics.vcf import VcfReport, vcf_inspect


def test_a_report_survives_a_json_round_trip(tmp_path: Path) -> None:
    # given a report with problems of both severities
    report = vcf_inspect(simulate(tmp_path, defects={"duplicate_samples", "multiallelic"}), expected_build="hg19")

    # when it goes through JSON and back
    data = json.loads(json.dumps(report.to_dict()))
    again = VcfReport.from_dict(data)

    # then nothing is lost, and readers see `ok` without recomputing it
    assert again == report
    assert data["ok"] is False
    assert [p["severity"] for p in data["problems"]] == ["error", "warning"]
    assert data["chromosomes"][0]["name"] == "20"


def test_errors_and_warnings_are_split_for_the_reader(tmp_path: Path) -> None:
    # given a file with one error and one warning
    report = vcf_inspect(simulate(tmp_path, defects={"duplicate_samples", "filtered"}))

    # when the report is read / then each list holds its own
    assert [p.code for p in report.errors] == ["duplicate_samples"]
    assert [p.code for p in report.warnings] == ["filtered"]
    assert not report.ok


def test_the_service_presets_carry_the_servers_numbers() -> None:
    # given the two presets / then their limits are those of protocols.md §6 and §1.9
    assert (MIS2_RULES.min_samples, MIS2_RULES.max_samples, MIS2_RULES.max_mean_variants_per_chunk) == (20, 50_000, 0)
    assert (TIS_RULES.min_samples, TIS_RULES.max_samples, TIS_RULES.max_mean_variants_per_chunk) == (20, 25_000, 20_000)
    assert (TIS_RULES.chunk_size, TIS_RULES.max_vcf_version, MIS2_RULES.max_vcf_version) == (10_000_000, (4, 2), None)
    assert MIS2_RULES.allowed_chromosomes_text() == "1-22, 23, X and MT"
    assert TIS_RULES.allowed_chromosomes_text() == "1-22, 23 and X"
