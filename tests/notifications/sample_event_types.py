"""An event type a host application would declare, loaded through NOTIFICATION_EVENT_TYPES."""

from notifications.event_types import EventType

ORDER_SHIPPED = EventType(
    code="order.shipped",
    description="An order left the warehouse.",
    schema={"properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
    example={"order_id": "o-1"},
)
