"""The runtime notification provider over GraphQL, with the names of the provider docs (seed 004):
`notificationProviderCreate`, `notificationProviderConfigUpdate`, `notificationProviders`,
`notificationProvider`, the kind enum value `SMTP`, and `...PayloadSuccess` / `...PayloadError` unions.

`username` and `password` are `Secret` inputs: no field returns them, only `hasUsername`/`hasPassword`.
"""

from __future__ import annotations

from typing import Any

import graphene
from django.db.models import QuerySet
from graphene_django import DjangoObjectType

from core.graphql import Node, OneOfInputObjectType, Secret, actor, one_of, parse_id, payload, plain
from providers.models import NotificationProvider
from providers.selectors import (
    notification_provider_get,
    notification_provider_list,
    notification_provider_public_config,
)
from providers.services import notification_provider_config_update, notification_provider_create


class NotificationProviderKind(graphene.Enum):
    """The provider kinds the code knows; one provider of each kind may exist."""

    SMTP = "smtp"


class NotificationProviderConfig(graphene.Interface):
    """A provider's config as anyone may read it: credentials show only as has* markers."""

    provider = NotificationProviderKind(required=True)


class SmtpNotificationProviderConfig(graphene.ObjectType):
    class Meta:
        interfaces = (NotificationProviderConfig,)

    relay = graphene.String(required=True)
    port = graphene.Int(required=True)
    insecure = graphene.Boolean(
        required=True, description="false: TLS with certificate checks (implicit on 465, STARTTLS otherwise)."
    )
    admin_panel_url = graphene.String()
    from_email = graphene.String(required=True)
    from_name = graphene.String()
    has_username = graphene.Boolean(required=True)
    has_password = graphene.Boolean(required=True)

    @staticmethod
    def resolve_admin_panel_url(root: SmtpNotificationProviderConfig, info: graphene.ResolveInfo) -> str | None:
        return root.admin_panel_url or None

    @staticmethod
    def resolve_from_name(root: SmtpNotificationProviderConfig, info: graphene.ResolveInfo) -> str | None:
        return root.from_name or None


# One output type per provider kind.
CONFIG_TYPES: dict[str, type[graphene.ObjectType]] = {"smtp": SmtpNotificationProviderConfig}


class NotificationProviderType(DjangoObjectType):
    """A runtime-configured instance of a provider kind."""

    class Meta:
        model = NotificationProvider
        name = "NotificationProvider"
        interfaces = (Node,)
        fields = ("name", "created_at", "updated_at")

    notification_provider_id = graphene.UUID(required=True)
    provider = NotificationProviderKind(required=True)
    config = graphene.Field(NotificationProviderConfig, required=True)

    @staticmethod
    def resolve_notification_provider_id(root: NotificationProvider, info: graphene.ResolveInfo) -> Any:
        return root.pk

    @staticmethod
    def resolve_config(root: NotificationProvider, info: graphene.ResolveInfo) -> graphene.ObjectType:
        return CONFIG_TYPES[root.provider](provider=root.provider, **notification_provider_public_config(root))

    @classmethod
    def get_node(cls, info: graphene.ResolveInfo, id: str) -> NotificationProvider:
        return notification_provider_get(actor=actor(info), provider_id=id)


class SmtpNotificationProviderConfigInput(graphene.InputObjectType):
    relay = graphene.String(required=True, description="Host name or IP address of the SMTP relay.")
    port = graphene.Int(description="587 when omitted.")
    insecure = graphene.Boolean(description="false when omitted; true allows a plaintext relay.")
    admin_panel_url = graphene.String()
    from_email = graphene.String(required=True)
    from_name = graphene.String()
    username = Secret(description="Write-only; omit to keep the stored one, empty to clear it.")
    password = Secret(description="Write-only; omit to keep the stored one, empty to clear it.")


class SmtpNotificationProviderCreateInput(SmtpNotificationProviderConfigInput):
    name = graphene.String(required=True)


class NotificationProviderCreateInput(OneOfInputObjectType):
    """Exactly one provider kind with its config."""

    smtp = graphene.InputField(SmtpNotificationProviderCreateInput)


class NotificationProviderConfigUpdateInput(graphene.InputObjectType):
    notification_provider_id = graphene.UUID(required=True)
    smtp = graphene.InputField(
        SmtpNotificationProviderConfigInput,
        required=True,
        description="Replaces the config; PROVIDER_TYPE_MISMATCH when the provider is of another kind.",
    )


class NotificationProviderQuery(graphene.ObjectType):
    notification_providers = graphene.List(
        graphene.NonNull(NotificationProviderType),
        required=True,
        description="The configured providers. Needs NotificationProviderViewer.",
    )
    notification_provider = graphene.Field(
        NotificationProviderType,
        id=graphene.ID(required=True, description="A global id or the provider's UUID."),
        description="Needs NotificationProviderViewer.",
    )

    @staticmethod
    def resolve_notification_providers(root: None, info: graphene.ResolveInfo) -> QuerySet[NotificationProvider]:
        return notification_provider_list(actor=actor(info))

    @staticmethod
    def resolve_notification_provider(root: None, info: graphene.ResolveInfo, id: str) -> NotificationProvider:
        return notification_provider_get(actor=actor(info), provider_id=parse_id(id, "NotificationProvider"))


_PROVIDER_FIELD = {"notification_provider": graphene.Field(NotificationProviderType, required=True)}
CREATE = payload("NotificationProviderCreate", "The provider was created.", **_PROVIDER_FIELD)
CONFIG_UPDATE = payload("NotificationProviderConfigUpdate", "The provider's config was replaced.", **_PROVIDER_FIELD)


class NotificationProviderCreate(graphene.Mutation):
    """Creates the provider of a kind; DUPLICATE_PROVIDER when one exists. Needs NotificationProviderWriter."""

    class Arguments:
        input = NotificationProviderCreateInput(required=True)

    Output = CREATE.union

    @staticmethod
    @CREATE.returns
    def mutate(root: None, info: graphene.ResolveInfo, input: Any) -> dict[str, Any]:
        kind, config = one_of(input)
        name = config.pop("name")
        provider = notification_provider_create(actor=actor(info), provider=kind, name=name, config=config)
        return {"notification_provider": provider}


class NotificationProviderConfigUpdate(graphene.Mutation):
    """Replaces a provider's config; omitted credentials keep their stored values.
    Needs NotificationProviderWriter."""

    class Arguments:
        input = NotificationProviderConfigUpdateInput(required=True)

    Output = CONFIG_UPDATE.union

    @staticmethod
    @CONFIG_UPDATE.returns
    def mutate(root: None, info: graphene.ResolveInfo, input: Any) -> dict[str, Any]:
        provider = notification_provider_config_update(
            actor=actor(info),
            provider_id=input["notification_provider_id"],
            provider="smtp",
            config=plain(input["smtp"]),
        )
        return {"notification_provider": provider}


class NotificationProviderMutation(graphene.ObjectType):
    notification_provider_create = NotificationProviderCreate.Field()
    notification_provider_config_update = NotificationProviderConfigUpdate.Field()


TYPES = list(CONFIG_TYPES.values())
