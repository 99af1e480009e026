"""Build the node's demo panels (chr20 and chr22, hg19 and hg38) and demo inputs with their truth, offline."""

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from apps.node.demo import demo_build


class Command(BaseCommand):
    help = "Simulate demo reference panels with msprime, register them, and write demo inputs plus the truth."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--panel-samples", type=int, default=250)
        parser.add_argument("--study-samples", type=int, default=100)
        parser.add_argument("--length", type=int, default=2_000_000)

    def handle(self, *args: Any, **options: Any) -> None:
        for build in ("hg19", "hg38"):
            folder = Path(settings.NODE_DIR) / "panels" / f"demo-{build}"
            panel, made = demo_build(
                folder,
                slug=f"demo-{build}",
                build=build,
                panel_samples=options["panel_samples"],
                study_samples=options["study_samples"],
                length=options["length"],
            )
            self.stdout.write(f"{panel.slug}: {panel.variants} variants, {panel.samples} samples")
            for item in made:
                self.stdout.write(f"  input {item.input}\n  truth {item.truth}")
