"""Routes under /api/v1/notifications/."""

from django.urls import include, path

from notifications.api.channels import ChannelDetailApi, ChannelListApi, ChannelValidateApi
from notifications.api.deliveries import DeliveryDetailApi, DeliveryListApi, DeliveryRetryApi
from notifications.api.event_types import EventTypeDetailApi, EventTypeListApi
from notifications.api.events import EventDetailApi, EventListApi
from notifications.api.rules import RuleDetailApi, RuleListApi, RuleValidateApi

app_name = "api"

urlpatterns = [
    path("channels/", ChannelListApi.as_view(), name="channel-list"),
    path("channels/<uuid:channel_id>/", ChannelDetailApi.as_view(), name="channel-detail"),
    path("channels/<uuid:channel_id>/validate/", ChannelValidateApi.as_view(), name="channel-validate"),
    path("rules/", RuleListApi.as_view(), name="rule-list"),
    path("rules/<uuid:rule_id>/", RuleDetailApi.as_view(), name="rule-detail"),
    path("rules/<uuid:rule_id>/validate/", RuleValidateApi.as_view(), name="rule-validate"),
    path("providers/", include("providers.api.urls")),
    path("events/", EventListApi.as_view(), name="event-list"),
    path("events/<uuid:event_id>/", EventDetailApi.as_view(), name="event-detail"),
    path("deliveries/", DeliveryListApi.as_view(), name="delivery-list"),
    path("deliveries/<uuid:delivery_id>/", DeliveryDetailApi.as_view(), name="delivery-detail"),
    path("deliveries/<uuid:delivery_id>/retry/", DeliveryRetryApi.as_view(), name="delivery-retry"),
    path("event-types/", EventTypeListApi.as_view(), name="event-type-list"),
    path("event-types/<str:event_type>/", EventTypeDetailApi.as_view(), name="event-type-detail"),
]
