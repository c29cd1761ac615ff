from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from core.api import api_not_found
from core.graphql import GraphQLAPIView

handler400 = "core.api.bad_request"
handler403 = "core.api.permission_denied"
handler404 = "core.api.page_not_found"
handler500 = "core.api.server_error"


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("healthz", healthz, name="healthz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/notifications/", include("notifications.api.urls")),
    path("graphql/", GraphQLAPIView.as_view(), name="graphql"),
    re_path(r"^api/", api_not_found),  # before the admin's catch-all, so unknown API paths get a JSON 404
    # The admin serves /admin/ and /notification-providers/ (see core/admin_site.py).
    path("", admin.site.urls),
]
