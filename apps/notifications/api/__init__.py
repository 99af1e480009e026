"""REST API of the notifications context (mounted in-process by the gateway, or by its own deployable)."""
