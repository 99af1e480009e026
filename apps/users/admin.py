"""Django admin of the users context: accounts and profiles, per-service grants and groups, credentials, audit log.

Changes to access and credentials go through the services, so the admin's edits are audited like the API's.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.users.events import ClientInfo
from apps.users.models import (
    AuditLogEntry,
    Profile,
    ServiceCredential,
    ServiceGroup,
    ServiceGroupMembership,
    ServicePermissionGrant,
    User,
)
from apps.users.services import access
from apps.users.services.credentials import credential_revoke


class ProfileInline(admin.StackedInline):
    model = Profile
    can_delete = False
    extra = 1
    max_num = 1


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    inlines = [ProfileInline]
    list_display = ("username", "email", "role", "is_staff", "is_active", "last_login")
    list_filter = ("role", "is_staff", "is_superuser", "is_active")
    fieldsets = (*(DjangoUserAdmin.fieldsets or ()), ("Platform", {"fields": ("role",)}))
    add_fieldsets = (*DjangoUserAdmin.add_fieldsets, ("Platform", {"fields": ("email", "role")}))


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "organization", "institution", "country", "timezone", "monthly_job_quota")
    search_fields = ("user__username", "organization", "institution")
    list_select_related = ("user",)


# --- per-service access: grants and groups, changed through the services ------------------------------------


def _actor(request: HttpRequest) -> User:
    actor = request.user
    if not isinstance(actor, User):  # the admin site only lets staff accounts in; this narrows the type
        raise PermissionError("only a signed-in administrator may change access")
    return actor


@admin.register(ServicePermissionGrant)
class ServicePermissionGrantAdmin(admin.ModelAdmin):
    list_display = ("user", "service_id", "permission", "expires_at", "granted_by", "granted_at")
    list_filter = ("permission",)
    search_fields = ("user__username", "service_id__exact")
    list_select_related = ("user", "granted_by")
    raw_id_fields = ("user",)
    fields = ("user", "service_id", "permission", "expires_at")

    def get_readonly_fields(self, request: HttpRequest, obj: ServicePermissionGrant | None = None) -> tuple[str, ...]:
        return ("user", "service_id", "permission") if obj else ()  # another right is another grant

    def save_model(self, request: HttpRequest, obj: ServicePermissionGrant, form: object, change: bool) -> None:
        client = ClientInfo.of(request)
        if change:
            access.grant_update(actor=_actor(request), grant_id=obj.pk, expires_at=obj.expires_at, client=client)
            return
        created = access.grant_create(
            actor=_actor(request),
            user_id=obj.user_id,
            service_id=obj.service_id,
            permission=obj.permission,
            expires_at=obj.expires_at,
            client=client,
        )
        obj.pk = created.pk

    def delete_model(self, request: HttpRequest, obj: ServicePermissionGrant) -> None:
        access.grant_delete(actor=_actor(request), grant_id=obj.pk, client=ClientInfo.of(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ServicePermissionGrant]) -> None:
        for pk in queryset.values_list("pk", flat=True):
            access.grant_delete(actor=_actor(request), grant_id=pk, client=ClientInfo.of(request))


class MembershipInline(admin.TabularInline):
    """Members are shown here and changed through the API (POST/DELETE /api/groups/{id}/members/), which audits."""

    model = ServiceGroupMembership
    fk_name = "group"
    fields = ("user", "added_by", "added_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: ServiceGroup | None = None) -> bool:
        return False


@admin.register(ServiceGroup)
class ServiceGroupAdmin(admin.ModelAdmin):
    list_display = ("name", "service_id", "permissions", "created_at")
    search_fields = ("name", "service_id__exact")
    fields = ("name", "service_id", "description", "permissions")
    inlines = [MembershipInline]

    def get_readonly_fields(self, request: HttpRequest, obj: ServiceGroup | None = None) -> tuple[str, ...]:
        return ("service_id",) if obj else ()

    def save_model(self, request: HttpRequest, obj: ServiceGroup, form: object, change: bool) -> None:
        fields = {"name": obj.name, "description": obj.description, "permissions": obj.permissions}
        client = ClientInfo.of(request)
        if change:
            access.group_update(actor=_actor(request), group_id=obj.pk, client=client, **fields)
            return
        obj.pk = access.group_create(actor=_actor(request), service_id=obj.service_id, client=client, **fields).pk

    def delete_model(self, request: HttpRequest, obj: ServiceGroup) -> None:
        access.group_delete(actor=_actor(request), group_id=obj.pk, client=ClientInfo.of(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ServiceGroup]) -> None:
        for pk in queryset.values_list("pk", flat=True):
            access.group_delete(actor=_actor(request), group_id=pk, client=ClientInfo.of(request))


# --- credential vault: read-only, and the ciphertext is never shown --------------------------------------


def _admin_revoke(request: HttpRequest, credential_id: int) -> None:
    credential_revoke(actor=_actor(request), credential_id=credential_id, client=ClientInfo.of(request))


@admin.register(ServiceCredential)
class ServiceCredentialAdmin(admin.ModelAdmin):
    """Admins see which tokens exist and may revoke one (audited); only owners set tokens, through the API."""

    list_display = ("user", "service_id", "label", "last4", "is_verified", "expires_at", "last_used_at")
    list_filter = ("is_verified",)
    search_fields = ("user__username", "label")
    list_select_related = ("user",)
    fields = (
        "user",
        "service_id",
        "label",
        "last4",
        "is_verified",
        "last_verified_at",
        "last_used_at",
        "expires_at",
        "created_at",
        "updated_at",
    )  # no "ciphertext": it is neither displayed nor editable
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ServiceCredential | None = None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: ServiceCredential) -> None:
        _admin_revoke(request, obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ServiceCredential]) -> None:
        for pk in queryset.values_list("pk", flat=True):
            _admin_revoke(request, pk)


# --- audit log: read-only, as the database itself enforces (migration 0005) ------------------------------------


@admin.register(AuditLogEntry)
class AuditLogEntryAdmin(admin.ModelAdmin):
    """Entries can be browsed and searched, never added, edited or deleted (not even in bulk)."""

    list_display = ("occurred_at", "action", "actor_id", "resource_type", "resource_id", "ip", "source", "request_id")
    list_filter = ("action", "source", "resource_type")
    search_fields = ("action", "resource_id", "request_id", "user_agent", "ip", "actor_id__exact")
    date_hierarchy = "occurred_at"
    readonly_fields = [field.name for field in AuditLogEntry._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditLogEntry | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditLogEntry | None = None) -> bool:
        return False
