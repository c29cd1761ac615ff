"""The SMTP provider pages, at /notification-providers/ (list, add, change, send a test email)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from core.admin_site import ServiceModelAdmin
from core.errors import DomainError
from core.models import AuditEntry
from providers.forms import ProviderForm, ProviderTestForm
from providers.models import NotificationProvider
from providers.selectors import notification_provider_public_config
from providers.services import OBJECT_TYPE, notification_provider_test

AUDIT_HISTORY_LIMIT = 20


@admin.register(NotificationProvider)
class NotificationProviderAdmin(ServiceModelAdmin):
    root_path = "notification-providers/"
    form = ProviderForm
    object_views = {"test": "test_view"}
    list_display = ["name", "provider", "relay", "port", "sender", "updated_at"]
    list_display_links = ["name"]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list[tuple[str | None, dict[str, Any]]]:
        credentials = ["username", "password"]
        if obj is not None and self.has_change_permission(request, obj):
            credentials.append("clear_credentials")
        fieldsets: list[tuple[str | None, dict[str, Any]]] = [
            (None, {"fields": ["name", "provider"]}),
            ("SMTP relay", {"fields": ["relay", "port", "insecure"]}),
            ("Sender", {"fields": ["from_email", "from_name", "admin_panel_url"]}),
            (
                "Credentials",
                {"fields": credentials, "description": "Write-only: never shown, kept when left blank."},
            ),
        ]
        if obj is not None:
            fieldsets.append(("History", {"fields": ["created_at", "updated_at", "audit_history"]}))
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # The services change a provider's config; its name and kind are set once.
        return ["name", "provider", "created_at", "updated_at", "audit_history"] if obj else []

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[NotificationProvider]:
        return super().get_queryset(request).order_by("provider")

    def has_test_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("providers.test_notificationprovider")

    def object_tools(self, request: HttpRequest, obj: NotificationProvider) -> list[tuple[str, str]]:
        if not self.has_test_permission(request, obj):
            return []
        return [("Send test email", reverse("admin:providers_notificationprovider_test", args=[obj.pk]))]

    # Read-only views of the config, also used for people who may only view.

    def _config(self, obj: NotificationProvider) -> dict[str, Any]:
        return notification_provider_public_config(obj)

    @admin.display(description="Relay")
    def relay(self, obj: NotificationProvider) -> str:
        return self._config(obj).get("relay", "")

    @admin.display(description="Port")
    def port(self, obj: NotificationProvider) -> Any:
        return self._config(obj).get("port")

    @admin.display(description="Insecure", boolean=True)
    def insecure(self, obj: NotificationProvider) -> bool:
        return bool(self._config(obj).get("insecure"))

    @admin.display(description="Sender address")
    def from_email(self, obj: NotificationProvider) -> str:
        return self._config(obj).get("from_email", "")

    @admin.display(description="Sender name")
    def from_name(self, obj: NotificationProvider) -> str:
        return self._config(obj).get("from_name", "")

    @admin.display(description="Admin panel URL")
    def admin_panel_url(self, obj: NotificationProvider) -> str:
        return self._config(obj).get("admin_panel_url", "")

    @admin.display(description="Sender")
    def sender(self, obj: NotificationProvider) -> str:
        config = self._config(obj)
        name, address = config.get("from_name", ""), config.get("from_email", "")
        return f"{name} <{address}>" if name else address

    @admin.display(description="Username")
    def username(self, obj: NotificationProvider) -> str:
        return "stored" if self._config(obj).get("has_username") else "not set"

    @admin.display(description="Password")
    def password(self, obj: NotificationProvider) -> str:
        return "stored" if self._config(obj).get("has_password") else "not set"

    @admin.display(description="Audit history")
    def audit_history(self, obj: NotificationProvider) -> str:
        entries = AuditEntry.objects.filter(object_type=OBJECT_TYPE, object_id=str(obj.pk))[:AUDIT_HISTORY_LIMIT]
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    entry.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                    entry.actor,
                    entry.action,
                    ", ".join(map(str, entry.detail.get("fields", []))) or entry.detail.get("error_code") or "",
                )
                for entry in entries
            ),
        )
        if not rows:
            return "No audit entries."
        changelist = reverse("admin:core_auditentry_changelist")
        return format_html(
            '<table class="audit-history"><thead><tr><th>Time (UTC)</th><th>Actor</th><th>Action</th>'
            "<th>Fields</th></tr></thead><tbody>{}</tbody></table>"
            '<p><a href="{}?object_type={}&amp;object_id={}">All audit entries of this provider</a></p>',
            rows,
            changelist,
            OBJECT_TYPE,
            obj.pk,
        )

    def test_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        provider = self.get_object_or_deny(request, object_id, self.has_test_permission)
        form = ProviderTestForm(request.POST or None)
        result: list[tuple[str, Any]] = []
        if request.method == "POST" and form.is_valid():
            try:
                outcome = notification_provider_test(
                    actor=request.user, provider_id=provider.pk, send_to=form.cleaned_data["send_to"] or None
                )
            except DomainError as exc:
                self.message_domain_error(request, exc)
            else:
                if outcome.success:
                    self.message_user(request, f"Success: {outcome.message}", messages.SUCCESS)
                else:
                    self.message_user(request, f"{outcome.error_code}: {outcome.message}", messages.ERROR)
                result = [("Success", outcome.success), ("Error code", outcome.error_code or "-")]
        return self.render_object_view(
            request,
            provider,
            title="Send test email",
            form=form,
            submit_label="Send test email",
            result=result,
            intro="Connects to the relay, secures the connection and authenticates as deliveries would.",
        )
