"""Health aggregation, Prometheus metrics, dashboard statistics, analytics, alerts."""
