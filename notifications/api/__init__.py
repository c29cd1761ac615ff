"""The REST API under /api/v1/notifications/: thin views over notifications.services and .selectors."""
