"""REST API of the jobs context (mounted by the gateway in-process, or served by the jobs deployable)."""
