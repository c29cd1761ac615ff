from django.urls import path

from providers.api.views import ProviderDetailApi, ProviderListApi, ProviderTestApi

urlpatterns = [
    path("", ProviderListApi.as_view(), name="provider-list"),
    path("<uuid:provider_id>/", ProviderDetailApi.as_view(), name="provider-detail"),
    path("<uuid:provider_id>/test/", ProviderTestApi.as_view(), name="provider-test"),
]
