"""Write demo inputs: one simulated, bgzipped and tabix-indexed VCF per chromosome, the shape the servers accept."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.genomics.builds import BUILDS
from apps.genomics.simulate import DEFECTS, UNINDEXABLE_DEFECTS, vcf_simulate


class Command(BaseCommand):
    help = "Simulate per-chromosome VCFs (msprime) into a directory, e.g. for a demo upload."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", type=Path)
        parser.add_argument("--chromosomes", default="20,21,22", help="comma-separated, without 'chr' [20,21,22]")
        parser.add_argument("--samples", type=int, default=50)
        parser.add_argument("--sites", type=int, default=None, help="SNVs per file [all the simulation gives]")
        parser.add_argument("--length", type=int, default=5_000_000, help="simulated bp per chromosome [5000000]")
        parser.add_argument("--build", choices=BUILDS, default="hg19")
        parser.add_argument("--unphased", action="store_true")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--prefix", default="demo", help="file names are <prefix>.chr<N>.vcf.gz [demo]")
        parser.add_argument("--defect", action="append", default=[], choices=sorted(DEFECTS))

    def handle(self, *args: Any, **options: Any) -> None:
        directory: Path = options["directory"]
        directory.mkdir(parents=True, exist_ok=True)
        chromosomes = [name.strip() for name in options["chromosomes"].split(",") if name.strip()]
        if not chromosomes:
            raise CommandError("--chromosomes names no chromosome")
        defects = frozenset(options["defect"])
        indexable = not defects & UNINDEXABLE_DEFECTS
        for number, chromosome in enumerate(chromosomes):
            written = vcf_simulate(
                directory / f"{options['prefix']}.chr{chromosome}.vcf.gz",
                samples=options["samples"],
                sites=options["sites"],
                length=options["length"],
                chromosome=chromosome,
                build=options["build"],
                phased=not options["unphased"],
                seed=options["seed"] + number,
                defects=defects,
                index=indexable,
            )
            self.stdout.write(
                f"{written.path}: {written.chromosome}, {written.samples} samples, {written.variants:,} variants"
            )
