"""Imputation services, reference panels, health checks, discovery and panel sync."""
