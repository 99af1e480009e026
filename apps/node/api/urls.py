"""The node's URLs: mounted at / by DEPLOYABLE=node, or under /node/ in the embedded monolith."""

from django.urls import path, re_path

from apps.node.api import cloudgene, control, wes

app_name = "node"

urlpatterns = [
    path("api/v2/server", cloudgene.server, name="server"),
    re_path(r"^api/v2/server/apps/(?P<app_id>[^/]+)$", cloudgene.app, name="app"),
    path("api/v2/tokens/verify", cloudgene.verify, name="verify"),
    re_path(r"^api/v2/jobs/submit/(?P<app_id>[^/]+)$", cloudgene.submit, name="submit"),
    path("api/v2/jobs", cloudgene.jobs, name="jobs"),
    path("api/v2/jobs/<str:job_id>", cloudgene.job_detail, name="job"),
    path("api/v2/jobs/<str:job_id>/status", cloudgene.job_detail, name="status"),
    path("api/v2/jobs/<str:job_id>/cancel", cloudgene.job_cancel, name="cancel"),
    path("api/v2/jobs/<str:job_id>/restart", cloudgene.job_restart, name="restart"),
    path("share/results/<str:file_hash>/<path:name>", cloudgene.share, name="share"),
    path("api/v2/node/faults", control.faults, name="faults"),
    path("ga4gh/wes/v1/service-info", wes.service_info, name="wes-service-info"),
    path("ga4gh/wes/v1/runs", wes.runs, name="wes-runs"),
    path("ga4gh/wes/v1/runs/<str:run_id>", wes.run_log, name="wes-run"),
    path("ga4gh/wes/v1/runs/<str:run_id>/status", wes.run_status, name="wes-status"),
    path("ga4gh/wes/v1/runs/<str:run_id>/tasks", wes.run_tasks, name="wes-tasks"),
    path("ga4gh/wes/v1/runs/<str:run_id>/cancel", wes.run_cancel, name="wes-cancel"),
]
