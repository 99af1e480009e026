"""App configuration of the kernel library."""

from django.apps import AppConfig


class KernelConfig(AppConfig):
    name = "apps.kernel"
    label = "kernel"
    verbose_name = "Kernel"
