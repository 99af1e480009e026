"""URLs of the users context's API, with their full paths (the gateway dispatches here by prefix)."""

from django.urls import URLPattern, URLResolver, path

from apps.users.api import access, accounts, internal, views
from apps.users.api.audit import AuditLogListApi
from apps.users.api.credentials import CredentialDetailApi, CredentialListApi, CredentialVerifyApi

urlpatterns: list[URLPattern | URLResolver] = [
    path("api/auth/login/", views.LoginApi.as_view(), name="auth-login"),
    path("api/auth/refresh/", views.TokenRefreshApi.as_view(), name="auth-refresh"),
    path("api/auth/logout/", views.LogoutApi.as_view(), name="auth-logout"),
    path("api/auth/user/", views.CurrentUserApi.as_view(), name="auth-user"),
    path("api/auth/change-password/", views.PasswordChangeApi.as_view(), name="auth-change-password"),
    path("api/auth/register/", views.RegisterApi.as_view(), name="auth-register"),
    path("api/users/", accounts.UserListApi.as_view(), name="users"),
    path("api/users/<int:user_id>/", accounts.UserDetailApi.as_view(), name="user"),
    path(
        "api/users/<int:user_id>/reset_password/", accounts.UserPasswordResetApi.as_view(), name="user-reset-password"
    ),
    path("api/users/<int:user_id>/toggle_active/", accounts.UserActiveToggleApi.as_view(), name="user-toggle-active"),
    path("api/roles/", accounts.RoleListApi.as_view(), name="roles"),
    path("api/profiles/me/", accounts.ProfileMeApi.as_view(), name="profile-me"),
    path("api/permissions/", access.PermissionListApi.as_view(), name="permissions"),
    path("api/permissions/<int:grant_id>/", access.PermissionDetailApi.as_view(), name="permission"),
    path("api/groups/", access.GroupListApi.as_view(), name="groups"),
    path("api/groups/<int:group_id>/", access.GroupDetailApi.as_view(), name="group"),
    path("api/groups/<int:group_id>/members/", access.GroupMembersApi.as_view(), name="group-members"),
    path(
        "api/groups/<int:group_id>/members/<int:user_id>/",
        access.GroupMemberDetailApi.as_view(),
        name="group-member",
    ),
    path("internal/users/<int:user_id>/", internal.UserInfoApi.as_view(), name="internal-user"),
    path(
        "internal/users/<int:user_id>/services/<int:service_id>/permissions/",
        internal.ServicePermissionsApi.as_view(),
        name="internal-service-permissions",
    ),
    path(
        "internal/users/services/<int:service_id>/audience/",
        internal.ServiceAudienceApi.as_view(),
        name="internal-service-audience",
    ),
    path(
        "internal/users/<int:user_id>/credentials/<int:service_id>/token/",
        internal.CredentialTokenApi.as_view(),
        name="internal-credential-token",
    ),
    path("api/credentials/", CredentialListApi.as_view(), name="credentials"),
    path("api/credentials/<int:pk>/", CredentialDetailApi.as_view(), name="credential"),
    path("api/credentials/<int:pk>/verify/", CredentialVerifyApi.as_view(), name="credential-verify"),
    path("api/audit-logs/", AuditLogListApi.as_view(), name="audit-logs"),
]
