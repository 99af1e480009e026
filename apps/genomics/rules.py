"""The input rules of the imputation servers (reference/protocols.md §6 and §1.9), as data.

The servers validate only after a multi-GB upload has finished; running the same rules before the upload saves
the user the round trip. Each preset holds one service's numbers; the job's own choices (phasing, population)
are added with dataclasses.replace().
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

AUTOSOMES: Final[frozenset[str]] = frozenset(str(number) for number in range(1, 23))


@dataclass(frozen=True)
class ValidationRules:
    """What one service accepts. A limit of 0 disables its check, as in the servers' own configuration."""

    service: str
    allowed_chromosomes: frozenset[str]  # names without a "chr" prefix
    min_samples: int = 20
    max_samples: int = 50_000
    one_chromosome_per_file: bool = True
    one_file_per_chromosome: bool = False  # a second file for the same chromosome is an error, not a warning
    max_mean_variants_per_chunk: int = 0
    chunk_size: int = 10_000_000
    max_vcf_version: tuple[int, int] | None = None
    phasing: str | None = None  # the job's phasing choice; "no_phasing" makes unphased input an error
    population: str | None = None  # the job's population ...
    panel_populations: frozenset[str] | None = None  # ... and those the chosen panel offers (None: not checked)

    def allowed_chromosomes_text(self) -> str:
        """The allowed set as a user reads it: "1-22, 23, X and MT"."""
        order = ("23", "X", "Y", "MT")
        others = sorted(
            self.allowed_chromosomes - AUTOSOMES,
            key=lambda name: (order.index(name) if name in order else len(order), name),
        )
        parts = (["1-22"] if self.allowed_chromosomes >= AUTOSOMES else []) + others
        return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


MIS2_RULES: Final = ValidationRules(
    service="Michigan Imputation Server 2",
    allowed_chromosomes=AUTOSOMES | {"23", "X", "MT"},
    min_samples=20,
    max_samples=50_000,
)

TIS_RULES: Final = ValidationRules(
    service="TOPMed Imputation Server",
    allowed_chromosomes=AUTOSOMES | {"23", "X"},
    min_samples=20,
    max_samples=25_000,
    one_file_per_chromosome=True,
    max_mean_variants_per_chunk=20_000,
    max_vcf_version=(4, 2),
)

DEFAULT_RULES: Final = MIS2_RULES
