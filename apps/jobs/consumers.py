"""Events the jobs context reacts to.

- `file.upload.completed`: a file got its pre-flight verdict; jobs pending on it move on or fail.
- `user.action.logged` with a credential action: the owner replaced a service token, so jobs paused for auth on
  that service try again (the users context audits every credential change; this reads that record).
"""

from __future__ import annotations

from apps.jobs.models import InboxEntry
from apps.jobs.services.dispatch import jobs_auth_resume
from apps.jobs.services.jobs import job_inputs_judged
from apps.kernel.consumers import consumer
from apps.kernel.envelope import FILE_UPLOAD_COMPLETED, USER_ACTION_LOGGED, Envelope, EnvelopeError

TOKEN_ACTIONS = frozenset({"credential_set", "credential_replaced", "credential_updated"})


@consumer(name="jobs.inputs_judged", topic=FILE_UPLOAD_COMPLETED, inbox=InboxEntry)
def inputs_judged(envelope: Envelope) -> None:
    try:
        file_id, owner_id = int(envelope.payload["file_id"]), int(envelope.payload["owner_id"])
    except (KeyError, TypeError, ValueError) as exc:
        raise EnvelopeError(f"file.upload.completed needs file_id and owner_id: {exc}") from exc
    job_inputs_judged(file_id=file_id, owner_id=owner_id)


@consumer(name="jobs.token_replaced", topic=USER_ACTION_LOGGED, inbox=InboxEntry)
def token_replaced(envelope: Envelope) -> None:
    payload = envelope.payload
    if payload.get("action") not in TOKEN_ACTIONS or payload.get("resource_type") != "credential":
        return
    details = payload.get("details") or {}
    if payload.get("action") == "credential_updated" and "token" not in (details.get("changed") or []):
        return
    try:
        owner_id, service_id = int(payload["actor_id"]), int(details["service_id"])
    except (KeyError, TypeError, ValueError) as exc:
        raise EnvelopeError(f"a credential action needs actor_id and details.service_id: {exc}") from exc
    jobs_auth_resume(owner_id=owner_id, service_id=service_id)
