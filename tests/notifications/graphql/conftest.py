from tests.notifications.graphql.client import as_user, gql, secret_ledger  # noqa: F401  (fixtures)
