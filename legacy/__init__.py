"""The pre-split monolith, kept in-process behind the gateway until each domain has been migrated off it."""
