"""The provider permission matrix over POST /graphql/, as for REST and the services."""

import pytest

from providers.models import NotificationProvider
from tests.providers.factories import SmtpProviderFactory

ALLOWED = "allowed"
CREATE = """
mutation { notificationProviderCreate(input: {smtp: {
  name: "Primary SMTP", relay: "smtp.example.com", fromEmail: "no-reply@example.com"
}}) { __typename ... on MutationError { code } } }
"""
UPDATE = """
mutation($id: UUID!) { notificationProviderConfigUpdate(input: {notificationProviderId: $id, smtp: {
  relay: "smtp.example.com", fromEmail: "no-reply@example.com"
}}) { __typename ... on MutationError { code } } }
"""
LIST = "{ notificationProviders { name } }"
GET = "query($id: ID!) { notificationProvider(id: $id) { name } }"

ROLES = {
    "anonymous": None,
    "no_group": (),
    "channel_viewer": ("NotificationViewer",),
    "channel_writer": ("NotificationWriter",),
    "provider_viewer": ("NotificationProviderViewer",),
    "provider_writer": ("NotificationProviderWriter",),
    "superuser": None,
}
DENIED = ("PERMISSION_DENIED",) * 4
MATRIX = {
    # create, list, get, update
    "anonymous": ("NOT_AUTHENTICATED",) * 4,
    "no_group": DENIED,
    "channel_viewer": DENIED,
    "channel_writer": DENIED,
    "provider_viewer": ("PERMISSION_DENIED", ALLOWED, ALLOWED, "PERMISSION_DENIED"),
    "provider_writer": (ALLOWED,) * 4,
    "superuser": (ALLOWED,) * 4,
}


def outcome(response) -> str:
    body = response.json()
    if body.get("errors"):
        return body["errors"][0]["extensions"]["code"]
    (result,) = body["data"].values()
    return result.get("code", ALLOWED) if isinstance(result, dict) else ALLOWED


@pytest.mark.parametrize("role", MATRIX)
def test_permission_matrix(role, gql, make_user, superuser):
    if role == "superuser":
        gql.client.force_login(superuser)
    elif role != "anonymous":
        gql.client.force_login(make_user(*ROLES[role]))

    create = outcome(gql.post(CREATE))
    provider = NotificationProvider.objects.first() or SmtpProviderFactory()
    list_ = outcome(gql.post(LIST))
    get = outcome(gql.post(GET, {"id": str(provider.pk)}))
    update = outcome(gql.post(UPDATE, {"id": str(provider.pk)}))

    assert (create, list_, get, update) == MATRIX[role]
    assert NotificationProvider.objects.count() == 1
