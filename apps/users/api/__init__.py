"""REST API of the users context (mounted by the gateway in-process, or served by the users deployable)."""
