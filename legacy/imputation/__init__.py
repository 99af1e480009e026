"""Placeholder for the old monolith's `imputation` app; its data lives in the `legacy` database alias."""
