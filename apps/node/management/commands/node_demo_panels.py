"""Build the node's demo panels (chr20 and chr22, hg19 and hg38) and demo inputs with their truth, offline.

`--if-missing` (what `make run` uses) builds only the panels that are not there yet, so a restart costs nothing.
"""

import shutil
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.genomics.builds import BUILDS
from apps.node.demo import demo_build
from apps.node.models import Panel


class Command(BaseCommand):
    help = "Simulate demo reference panels with msprime, register them, and write demo inputs plus the truth."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--panel-samples", type=int, default=250)
        parser.add_argument("--study-samples", type=int, default=100)
        parser.add_argument("--length", type=int, default=2_000_000)
        parser.add_argument("--if-missing", action="store_true", help="keep panels whose files are all present")

    def handle(self, *args: Any, **options: Any) -> None:
        if not shutil.which("bcftools"):
            raise CommandError("bcftools is not installed; install it with `apt-get install bcftools tabix`.")
        for build in BUILDS:
            folder = Path(settings.NODE_DIR) / "panels" / f"demo-{build}"
            slug = f"demo-{build}"
            if options["if_missing"] and _complete(slug, folder):
                self.stdout.write(f"{slug}: present ({folder})")
                continue
            panel, made = demo_build(
                folder,
                slug=slug,
                build=build,
                panel_samples=options["panel_samples"],
                study_samples=options["study_samples"],
                length=options["length"],
            )
            self.stdout.write(f"{panel.slug}: {panel.variants} variants, {panel.samples} samples")
            for item in made:
                self.stdout.write(f"  input {item.input}\n  truth {item.truth}")


def _complete(slug: str, folder: Path) -> bool:
    """The panel is registered and its panel, input and truth files are all on disk."""
    panel = Panel.objects.filter(slug=slug).first()
    if panel is None or not panel.files:
        return False
    needed = [Path(path) for path in panel.files.values()]
    for chromosome in panel.files:
        needed += [folder / f"input.chr{chromosome}.vcf.gz", folder / f"truth.chr{chromosome}.vcf.gz"]
    return all(path.exists() for path in needed)
