"""App configuration of the legacy monolith app (database alias `legacy`)."""

from django.apps import AppConfig


class ImputationConfig(AppConfig):
    name = "legacy.imputation"
    label = "imputation"
    verbose_name = "Legacy monolith"
