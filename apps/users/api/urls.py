"""URLs of the users context's API, with their full paths (the gateway dispatches here by prefix)."""

from django.urls import URLPattern, URLResolver, path

from apps.users.api import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("api/auth/login/", views.LoginApi.as_view(), name="auth-login"),
    path("api/auth/refresh/", views.TokenRefreshApi.as_view(), name="auth-refresh"),
    path("api/auth/logout/", views.LogoutApi.as_view(), name="auth-logout"),
    path("api/auth/user/", views.CurrentUserApi.as_view(), name="auth-user"),
    path("api/auth/change-password/", views.PasswordChangeApi.as_view(), name="auth-change-password"),
    path("api/auth/register/", views.RegisterApi.as_view(), name="auth-register"),
]
