"""URLs of the jobs context's API, with their full paths (the gateway dispatches here by prefix)."""

from django.urls import URLPattern, URLResolver, path

from apps.jobs.api import internal, views

urlpatterns: list[URLPattern | URLResolver] = [
    path("api/jobs/", views.JobListApi.as_view(), name="jobs"),
    path("api/jobs/batch/", views.JobBatchApi.as_view(), name="jobs-batch"),
    path("api/jobs/<str:job_id>/", views.JobDetailApi.as_view(), name="job"),
    path("api/jobs/<str:job_id>/status/", views.JobStatusApi.as_view(), name="job-status"),
    path("api/jobs/<str:job_id>/logs/", views.JobLogsApi.as_view(), name="job-logs"),
    path("api/jobs/<str:job_id>/cancel/", views.JobCancelApi.as_view(), name="job-cancel"),
    path("api/jobs/<str:job_id>/retry/", views.JobRetryApi.as_view(), name="job-retry"),
    path("api/templates/", views.TemplateListApi.as_view(), name="templates"),
    path("api/templates/<int:pk>/", views.TemplateDetailApi.as_view(), name="template"),
    path("api/scheduled/", views.ScheduleListApi.as_view(), name="schedules"),
    path("api/scheduled/<int:pk>/", views.ScheduleDetailApi.as_view(), name="schedule"),
    path("internal/jobs/counts/", internal.JobCountsApi.as_view(), name="internal-job-counts"),
    path("internal/jobs/recent/", internal.JobsRecentApi.as_view(), name="internal-jobs-recent"),
]
