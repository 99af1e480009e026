"""Fault injection for tests (NODE_FAULTS_ENABLED, off by default): switches, a simulated server restart, and the
retention cron run on demand (with `clock_offset_seconds`, the compressible clock).

Switches (merged into the one Switches row, read by the web process and the worker alike):
- request faults: `slow_seconds`, `fail_500` (a count; `fail_500_method` limits it to one method),
  `reset_upload` and `reset_download` (counts: connections dropped mid-upload / mid-download);
- operator state: `maintenance` (503 for non-admins), `beagle_missing`, `qc_thresholds`;
- pipeline: `fail_validation`, `fail_qc` (the message to fail with), `hold_running`, `hold_exporting`,
  `stop_delay_seconds`;
- clock: `clock_offset_seconds` (tokens expire and retention runs by the shifted clock).
Actions: `{"clear": true}` resets every switch, `{"server_restart": true}` turns active jobs DEAD,
`{"retention": true}` runs the notification/retirement cron now; the answer holds the switches and the counts.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.node import engine
from apps.node.api.common import json_error
from apps.node.models import Switches


@csrf_exempt
@require_POST
def faults(request: HttpRequest) -> HttpResponse:
    """POST a JSON object of switches (merged); `{"clear": true}` resets them all."""
    if not settings.NODE_FAULTS_ENABLED:
        return json_error(404, "Not found.")
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return json_error(400, "The body must be a JSON object.")
    if not isinstance(body, dict):
        return json_error(400, "The body must be a JSON object.")
    actions = {name: bool(body.pop(name, False)) for name in ("clear", "server_restart", "retention")}
    if actions["clear"]:
        Switches.clear()
    switches = Switches.put(**body) if body else Switches.current()  # first: retention reads the clock offset
    done: dict[str, object] = {}
    if actions["server_restart"]:
        done["dead_jobs"] = engine.server_restart()
    if actions["retention"]:
        done["retention"] = engine.retention()
    return JsonResponse({**switches, **done})
