"""The permission matrix over POST /graphql/, as for REST: the services decide, GraphQL reports the code."""

import pytest

from notifications.models import DeliveryStatus
from tests.factories import RuleFactory, WebhookChannelFactory
from tests.notifications.builders import SESSION
from tests.notifications.graphql.helpers import failed_delivery

ALLOWED = "allowed"
CODE = "__typename ... on MutationError { code }"

OPERATIONS = {
    "list channels": ("{ notificationChannels { totalCount } }", lambda o: {}),
    "get channel": ("query($id: ID!) { notificationChannel(id: $id) { name } }", lambda o: {"id": o["spare"]}),
    "list rules": ("{ notificationRules { totalCount } }", lambda o: {}),
    "get rule": ("query($id: ID!) { notificationRule(id: $id) { name } }", lambda o: {"id": o["rule"]}),
    "list deliveries": ("{ notificationDeliveries { totalCount } }", lambda o: {}),
    "get delivery": ("query($id: ID!) { notificationDelivery(id: $id) { status } }", lambda o: {"id": o["delivery"]}),
    "event types": ("{ notificationEventTypes { eventType } }", lambda o: {}),
    "create channel": (
        "mutation { createNotificationChannel(input: "
        '{name: "new", config: {webhook: {url: "https://n.example.com"}}}) { ' + CODE + " } }",
        lambda o: {},
    ),
    "update channel": (
        f'mutation($id: ID!) {{ updateNotificationChannel(input: {{id: $id, name: "renamed"}}) {{ {CODE} }} }}',
        lambda o: {"id": o["spare"]},
    ),
    "validate channel": (
        f'mutation($id: ID!) {{ validateNotificationChannel(id: $id, testMessage: "hi") {{ {CODE} }} }}',
        lambda o: {"id": o["spare"]},
    ),
    "create rule": (
        f"""mutation($channel: ID!) {{ createNotificationRule(input: {{
            name: "new", eventType: "session.started", channelId: $channel}}) {{ {CODE} }} }}""",
        lambda o: {"channel": o["used"]},
    ),
    "update rule": (
        f'mutation($id: ID!) {{ updateNotificationRule(input: {{id: $id, name: "renamed"}}) {{ {CODE} }} }}',
        lambda o: {"id": o["rule"]},
    ),
    "validate rule": (
        f"mutation($id: ID!) {{ validateNotificationRule(id: $id) {{ {CODE} }} }}",
        lambda o: {"id": o["rule"]},
    ),
    "validate rule and send": (
        f"mutation($id: ID!) {{ validateNotificationRule(id: $id, send: true) {{ {CODE} }} }}",
        lambda o: {"id": o["rule"]},
    ),
    "emit": (
        f'mutation($p: JSON!) {{ emitNotificationEvent(eventType: "session.started", payload: $p) {{ {CODE} }} }}',
        lambda o: {"p": SESSION},
    ),
    "retry": (
        f"mutation($id: ID!) {{ retryNotificationDelivery(id: $id) {{ {CODE} }} }}",
        lambda o: {"id": o["delivery"]},
    ),
    "delete rule": (
        f"mutation($id: ID!) {{ deleteNotificationRule(id: $id) {{ {CODE} }} }}",
        lambda o: {"id": o["rule"]},
    ),
    "delete channel": (
        f"mutation($id: ID!) {{ deleteNotificationChannel(id: $id) {{ {CODE} }} }}",
        lambda o: {"id": o["spare"]},
    ),
}
READS = {"list channels", "get channel", "list rules", "get rule", "list deliveries", "get delivery", "event types"}
WRITES = set(OPERATIONS) - READS - {"emit"}
ROLES = {
    "anonymous": (),
    "no_group": (),
    "viewer": ("NotificationViewer",),
    "writer": ("NotificationWriter",),
    "publisher": ("EventPublisher",),
    "superuser": (),
}


def expected(role: str, operation: str) -> str:
    if role == "anonymous":
        return "NOT_AUTHENTICATED"
    allowed = {
        "no_group": set(),
        "viewer": READS | {"validate rule"},
        "writer": READS | WRITES,
        "publisher": {"event types", "emit"},
        "superuser": set(OPERATIONS),
    }[role]
    return ALLOWED if operation in allowed else "PERMISSION_DENIED"


def outcome(response) -> str:
    body = response.json()
    if body.get("errors"):
        return body["errors"][0]["extensions"]["code"]
    (result,) = body["data"].values()
    return result.get("code", ALLOWED) if isinstance(result, dict) else ALLOWED


@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(role, gql, make_user, superuser, webhook_receiver):
    url = webhook_receiver().url
    spare = WebhookChannelFactory(name="spare", config={"url": url, "method": "POST", "timeout": 5.0})
    rule = RuleFactory(channel=WebhookChannelFactory(config={"url": url, "method": "POST", "timeout": 5.0}))
    delivery = failed_delivery(rule, status=DeliveryStatus.FAILED)
    objects = {"spare": str(spare.pk), "used": str(rule.channel_id), "rule": str(rule.pk), "delivery": str(delivery.pk)}
    if role == "superuser":
        gql.client.force_login(superuser)
    elif role != "anonymous":
        gql.client.force_login(make_user(*ROLES[role]))

    outcomes = {name: outcome(gql.post(query, variables(objects))) for name, (query, variables) in OPERATIONS.items()}

    assert outcomes == {name: expected(role, name) for name in OPERATIONS}
