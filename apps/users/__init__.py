"""Accounts, JWT auth, roles, per-service permissions and groups, audit log, credential vault."""
