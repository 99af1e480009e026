"""Shared kernel, no business rules: events, outbox/inbox, relay, consumers, internal auth, request ids, errors."""
