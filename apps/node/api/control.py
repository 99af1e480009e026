"""Fault injection for tests (NODE_FAULTS_ENABLED, off by default): switches and a simulated server restart."""

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
    if body.pop("clear", False):
        Switches.clear()
    if body.pop("server_restart", False):
        body["dead_jobs"] = engine.server_restart()
    return JsonResponse(Switches.put(**body) if body else Switches.current())
