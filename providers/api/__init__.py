"""The REST API for notification providers, mounted at /api/v1/notifications/providers/."""
