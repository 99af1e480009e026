"""A deployable's URLconf for tests: one view behind the platform's default (stateless) authentication."""

from __future__ import annotations

from django.conf import settings
from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class WhoAmI(APIView):
    def get(self, request: Request) -> Response:
        user = request.user
        return Response(
            {
                "id": user.pk,
                "role": getattr(user, "role", None),
                "is_staff": user.is_staff,
                "holds_signing_key": bool(settings.SIMPLE_JWT["SIGNING_KEY"]),
            }
        )


urlpatterns = [path("api/whoami/", WhoAmI.as_view())]
