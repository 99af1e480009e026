"""Prometheus metrics of the gateway, per domain and target."""

from prometheus_client import Counter, Gauge, Histogram

REQUEST_SECONDS = Histogram(
    "gateway_request_duration_seconds",
    "Time from the gateway receiving a routed request to its response headers.",
    ["domain", "target"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
RESPONSES = Counter(
    "gateway_responses_total", "Routed responses by status class.", ["domain", "target", "status_class"]
)


def request_observed(domain: str, target: str, status: int, seconds: float) -> None:
    REQUEST_SECONDS.labels(domain, target).observe(seconds)
    RESPONSES.labels(domain, target, f"{status // 100}xx").inc()


UPSTREAM_ERRORS = Counter(
    "gateway_upstream_errors_total",
    "Failed attempts to reach an upstream, by kind (connect, timeout, breaker_open, status_5xx, ...).",
    ["domain", "upstream", "kind"],
)
BREAKER_OPEN = Gauge("gateway_breaker_open", "1 while an upstream's circuit breaker is open.", ["domain", "upstream"])
SHADOW_COMPARISONS = Counter(
    "gateway_shadow_comparisons_total",
    "Mirrored requests compared, by outcome (same, diff, error).",
    ["domain", "outcome"],
)
ROUTE_RELOAD_ERRORS = Counter("gateway_route_reload_errors_total", "Edits of the route table rejected as invalid.")
