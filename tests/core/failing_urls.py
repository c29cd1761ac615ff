"""The real URLconf plus two routes that fail, to show what an unexpected error looks like."""

from django.http import HttpRequest, HttpResponse
from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import handler400, handler403, handler404, handler500
from config.urls import urlpatterns as real_urlpatterns

SECRET_DETAIL = "detail-only-the-log-may-hold"


class FailingApi(APIView):
    def get(self, request: Request) -> Response:
        raise RuntimeError(SECRET_DETAIL)


def failing_view(request: HttpRequest) -> HttpResponse:
    raise RuntimeError(SECRET_DETAIL)


urlpatterns = [
    path("api/v1/notifications/boom/", FailingApi.as_view()),
    path("api/plain-boom/", failing_view),
    *real_urlpatterns,
]
__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]
