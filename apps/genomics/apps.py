"""App configuration of the genomics library."""

from django.apps import AppConfig


class GenomicsConfig(AppConfig):
    name = "apps.genomics"
    label = "genomics"
    verbose_name = "Genomics"
