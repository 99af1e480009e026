"""REST API of the monitoring context (mounted by the gateway in-process, or served by the monitoring deployable)."""
