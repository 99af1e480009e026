"""Django admin of the jobs context: jobs with their history and logs, read-only.

A job's state changes only through the state machine (services/transitions.py), so the admin shows and never
edits it; operators cancel or retry through the API, which audits who did it.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from apps.jobs.models import ImputationJob, JobLog, JobStatusUpdate, JobTemplate, ScheduledJob


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class HistoryInline(admin.TabularInline):
    model = JobStatusUpdate
    fields = ("created_at", "status", "stage", "progress", "remote_state", "message")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ImputationJob)
class ImputationJobAdmin(ReadOnlyAdmin):
    list_display = ("name", "owner_id", "service_name", "status", "stage", "progress", "created_at")
    list_filter = ("status", "stage", "failure_category", "service_name")
    search_fields = ("id", "name", "external_job_id")
    exclude = ("password_encrypted", "lease_token")
    inlines = [HistoryInline]


@admin.register(JobLog)
class JobLogAdmin(ReadOnlyAdmin):
    list_display = ("job", "index", "step", "level", "message", "time")
    list_filter = ("level",)


@admin.register(JobTemplate)
class JobTemplateAdmin(ReadOnlyAdmin):
    list_display = ("name", "owner_id", "updated_at")


@admin.register(ScheduledJob)
class ScheduledJobAdmin(ReadOnlyAdmin):
    list_display = ("name", "owner_id", "recurrence", "next_run_at", "runs", "max_runs", "is_active")
