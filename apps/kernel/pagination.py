"""The one list shape of API_CONTRACT.md: `{count, next, previous, results}`, 20 per page, `?page_size=` up to 100."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.db.models import QuerySet
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class ContractPagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


def paginated_response(
    *,
    items: QuerySet[Any] | Sequence[Any],
    render: Callable[[list[Any]], list[dict[str, Any]]],
    request: Request,
    view: APIView,
) -> Response:
    """One page of `items`, each rendered by `render`; an out-of-range page is a 404 in the error envelope."""
    paginator = ContractPagination()
    page = paginator.paginate_queryset(items, request, view=view)  # type: ignore[arg-type]  # lists page too
    return paginator.get_paginated_response(render(list(page or [])))
