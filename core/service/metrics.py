"""Prometheus metrics in the text exposition format, written here rather than with
prometheus_client: four metric families need about sixty lines, and the client's
multi-process mode (needed with several uvicorn workers) wants a shared directory and
cleanup that a claim scrubber has no other use for. Each worker process keeps its own
counts; Prometheus sums them when each worker is scraped (or reads the one worker).
"""

from __future__ import annotations

import threading
from collections import Counter

#: latency buckets (seconds) of the request histogram
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """Counters and a latency histogram, safe to update from several threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.claims: Counter = Counter()  # status -> claims
        self.edits: Counter = Counter()  # category -> edits
        self.requests: Counter = Counter()  # (route, status code) -> requests
        self.latency: dict[str, list] = {}  # route -> [bucket counts..., sum, count]

    def add(self, statuses: Counter, categories: Counter) -> None:
        """Claims by status and edits by category, counted by the caller: one lock a request."""
        with self._lock:
            self.claims.update(statuses)
            self.edits.update(categories)

    def observe(self, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(route, status)] += 1
            h = self.latency.setdefault(route, [0] * len(BUCKETS) + [0.0, 0])
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    h[i] += 1
            h[-2] += seconds
            h[-1] += 1

    def text(self) -> str:
        with self._lock:
            out = ["# HELP payer_rules_claims_checked_total Claims evaluated, by result status.",
                   "# TYPE payer_rules_claims_checked_total counter"]
            out += [f'payer_rules_claims_checked_total{{status="{_esc(k)}"}} {v}' for k, v in sorted(self.claims.items())]
            out += ["# HELP payer_rules_edits_total Edits found, by category.",
                    "# TYPE payer_rules_edits_total counter"]
            out += [f'payer_rules_edits_total{{category="{_esc(k)}"}} {v}' for k, v in sorted(self.edits.items())]
            out += ["# HELP payer_rules_http_requests_total HTTP requests, by route and status code.",
                    "# TYPE payer_rules_http_requests_total counter"]
            out += [f'payer_rules_http_requests_total{{route="{_esc(r)}",code="{c}"}} {v}'
                    for (r, c), v in sorted(self.requests.items())]
            out += ["# HELP payer_rules_http_request_duration_seconds Request latency, by route.",
                    "# TYPE payer_rules_http_request_duration_seconds histogram"]
            for route, h in sorted(self.latency.items()):
                r = _esc(route)
                for bound, n in zip(BUCKETS, h):
                    out.append(f'payer_rules_http_request_duration_seconds_bucket{{route="{r}",le="{bound}"}} {n}')
                out.append(f'payer_rules_http_request_duration_seconds_bucket{{route="{r}",le="+Inf"}} {h[-1]}')
                out.append(f'payer_rules_http_request_duration_seconds_sum{{route="{r}"}} {h[-2]:.6f}')
                out.append(f'payer_rules_http_request_duration_seconds_count{{route="{r}"}} {h[-1]}')
        return "\n".join(out) + "\n"
