"""The root GraphQL schema, served at /graphql/. Each app contributes a Query and a Mutation part.

The SDL is committed as schema.graphql; regenerate it with
``python manage.py graphql_schema --out schema.graphql`` (a test fails when the two drift apart).
"""

import graphene

from core.graphql import Node, mark_one_of
from notifications.graphql import schema as notifications
from providers.graphql import schema as providers


class Query(notifications.NotificationQuery, providers.NotificationProviderQuery, graphene.ObjectType):
    node = Node.Field(description="Any object by its global id.")


class Mutation(notifications.NotificationMutation, providers.NotificationProviderMutation, graphene.ObjectType):
    pass


schema = mark_one_of(graphene.Schema(query=Query, mutation=Mutation, types=[*notifications.TYPES, *providers.TYPES]))
