"""App configuration of the kernel library."""

from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class KernelConfig(AppConfig):
    name = "apps.kernel"
    label = "kernel"
    verbose_name = "Kernel"

    def ready(self) -> None:
        autodiscover_modules("consumers")  # each context declares its event consumers in <ctx>/consumers.py
