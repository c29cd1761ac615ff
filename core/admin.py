"""Audit entries (read-only) and API tokens (created, listed and revoked)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from core.admin_site import ServiceModelAdmin, ServiceModelForm, domain_error_text
from core.errors import DomainError
from core.models import ApiToken, AuditEntry
from core.tokens import api_token_create, api_token_revoke


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor", "action", "object_type", "object_id"]
    list_filter = ["action", "object_type", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["actor", "=object_id"]
    date_hierarchy = "created_at"
    fields = ["created_at", "actor", "actor_user", "action", "object_type", "object_id", "detail"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ApiTokenCreateForm(ServiceModelForm):
    raw_token = ""

    class Meta:
        model = ApiToken
        fields = ["user", "name"]

    def call_service(self) -> ApiToken:
        token, self.raw_token = api_token_create(
            actor=self.actor, user=self.cleaned_data["user"], name=self.cleaned_data["name"]
        )
        return token


@admin.register(ApiToken)
class ApiTokenAdmin(ServiceModelAdmin):
    """Tokens are created here (or with `manage.py notification token create`), listed and revoked.

    The new token is shown once, in the response to the add form itself: not through a redirect
    and a flash message, which would park it in a cookie or the session table.
    """

    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["user"]
    search_fields = ["name", "user__username", "prefix"]
    fields = ["name", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Everyone may create their own tokens; the service decides for whom an actor may create one.
        return request.user.is_active and request.user.is_staff

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["user", "name"] if obj is None else self.fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [] if obj is None else self.readonly_fields

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = ApiTokenCreateForm
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None:
            form.base_fields["user"].initial = request.user.pk
        return form

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        """The form created the token through the service; keep the raw token for this response only."""
        request._created_api_token = form.raw_token  # type: ignore[attr-defined]

    def response_add(self, request: HttpRequest, obj: ApiToken, post_url_continue: str | None = None) -> Any:
        return TemplateResponse(
            request,
            "admin/core/apitoken/created.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": "API token created",
                "token": obj,
                "raw_token": request._created_api_token,  # type: ignore[attr-defined]
            },
        )

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("core.delete_apitoken")

    @admin.action(description="Revoke the selected tokens", permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset:
            try:
                api_token_revoke(actor=request.user, token_id=token.pk)
            except DomainError as exc:
                self.message_user(request, domain_error_text(exc), messages.ERROR)
                return
        self.message_user(request, f"Revoked {len(queryset)} token(s).", messages.SUCCESS)
