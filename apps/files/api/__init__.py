"""REST API of the files context (mounted by the gateway in-process, or served by the files deployable)."""
