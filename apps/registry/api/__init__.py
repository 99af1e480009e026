"""REST API of the registry context (mounted by the gateway in-process, or served by the registry deployable)."""
