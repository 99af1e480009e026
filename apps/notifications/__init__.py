"""Notifications, preferences, e-mail and WebSocket push."""
