"""The admin site, and the base classes that make its forms and buttons go through the services.

A ModelAdmin may set `root_path` to live at a root URL of its own: the provider pages are at
`/notification-providers/` rather than `/admin/providers/notificationprovider/`. The site is mounted
at the root of the URL conf and serves `admin/` plus each such root path, all in the one `admin`
namespace, so reversing, login and permissions work as for any other admin page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.apps import AdminConfig
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Model
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver, include, path, re_path

from core.errors import DomainError, ErrorCode


class NotificationAdminSite(admin.AdminSite):
    site_header = "Notification service"
    site_title = "Notification service admin"
    index_title = "Channels, rules, deliveries and the SMTP provider"
    site_url = None  # no public site to link to

    def get_urls(self) -> list[URLResolver | URLPattern]:
        moved = {
            f"{model._meta.app_label}/{model._meta.model_name}/": model_admin
            for model, model_admin in self._registry.items()
            if getattr(model_admin, "root_path", None)
        }
        admin_urls: list[URLResolver | URLPattern] = []
        for url in super().get_urls():
            model_admin = moved.get(str(url.pattern))
            if model_admin is None:
                admin_urls.append(url)
            else:  # the usual address still leads there
                admin_urls.append(re_path(rf"^{url.pattern}(?P<rest>.*)$", _redirect_to(model_admin.root_path)))
        root_urls = [path(model_admin.root_path, include(model_admin.urls)) for model_admin in moved.values()]
        return [*root_urls, path("admin/", include(admin_urls))]


def _redirect_to(root_path: str) -> Callable[..., HttpResponseRedirect]:
    def redirect(request: HttpRequest, rest: str) -> HttpResponseRedirect:
        query = f"?{request.META['QUERY_STRING']}" if request.META.get("QUERY_STRING") else ""
        return HttpResponseRedirect(f"/{root_path}{rest}{query}")

    return redirect


class NotificationAdminConfig(AdminConfig):
    """django.contrib.admin with the site above; listed in INSTALLED_APPS in its place."""

    default_site = "core.admin_site.NotificationAdminSite"


def domain_error_text(exc: DomainError) -> str:
    return f"{exc.code}: {exc.message}"


class ServiceModelForm(forms.ModelForm):
    """A ModelForm that saves through a service, called while validating so that the service's
    errors land on the form: at the field that `error_fields` maps its error path to (the longest
    matching prefix wins), else above the form with the error code.

    The admin sets `actor`; `save()` returns what the service returned.
    """

    actor: Any = None
    error_fields: ClassVar[dict[str, str]] = {}

    def call_service(self) -> Model:
        raise NotImplementedError

    @property
    def updating(self) -> bool:
        """Whether the form edits a stored object (a new one has its UUID already, so pk cannot tell)."""
        return not self.instance._state.adding

    def _post_clean(self) -> None:
        # Replaces the model validation of ModelForm: the service validates and saves.
        if self.errors:
            return
        try:
            self.instance = self.call_service()
        except DomainError as exc:
            self.add_domain_error(exc)

    def add_domain_error(self, exc: DomainError) -> None:
        placed = False
        for error_path, error_messages in exc.fields.items():
            field = self._field_for(error_path)
            for message in error_messages:
                self.add_error(field, message if field else f"{error_path}: {message}")
            placed = placed or field is not None
        if not placed or exc.code != ErrorCode.VALIDATION_ERROR:
            self.add_error(None, domain_error_text(exc))

    def _field_for(self, error_path: str) -> str | None:
        parts = error_path.split(".")
        for end in range(len(parts), 0, -1):
            prefix = ".".join(parts[:end])
            field = self.error_fields.get(prefix, prefix)
            if field in self.fields:
                return field
        return None

    def save(self, commit: bool = True) -> Model:
        return self.instance

    def save_m2m(self) -> None:
        """Nothing to do: the service saved everything."""


class ServiceModelAdmin(admin.ModelAdmin):
    """A ModelAdmin whose form saves through a service (see ServiceModelForm) and whose extra
    pages (`object_views`: url suffix -> method name) run one service for one object."""

    object_views: ClassVar[dict[str, str]] = {}
    change_form_template = "admin/service_change_form.html"

    def object_tools(self, request: HttpRequest, obj: Any) -> list[tuple[str, str]]:
        """(label, url) of the buttons above the change form."""
        return []

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))
        tools = self.object_tools(request, obj) if obj is not None else []
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "object_tools": tools})

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        return type(form.__name__, (form,), {"actor": request.user})

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        """Nothing to do: the form saved through the service while validating."""

    def get_urls(self) -> list[URLResolver | URLPattern]:
        info = (self.opts.app_label, self.opts.model_name)
        extra = [
            path(
                f"<path:object_id>/{suffix}/",
                self.admin_site.admin_view(getattr(self, method)),
                name="{}_{}_{}".format(*info, suffix),
            )
            for suffix, method in self.object_views.items()
        ]
        return extra + super().get_urls()

    def get_object_or_deny(
        self, request: HttpRequest, object_id: str, allowed: Callable[[HttpRequest, Any], bool]
    ) -> Any:
        """The object, when it exists and `allowed(request, obj)`; else 403, as the admin does."""
        obj = self.get_object(request, unquote(object_id))
        if obj is None or not allowed(request, obj):
            raise PermissionDenied
        return obj

    def render_object_view(
        self,
        request: HttpRequest,
        obj: Any,
        *,
        title: str,
        form: forms.Form,
        submit_label: str,
        result: Sequence[tuple[str, Any]] = (),
        intro: str = "",
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": obj,
            "title": title,
            "subtitle": str(obj),
            "form": form,
            "adminform": helpers.AdminForm(form, [(None, {"fields": list(form.fields)})], {}, model_admin=self),
            "submit_label": submit_label,
            "result": result,
            "intro": intro,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/object_view.html", context)

    def message_domain_error(self, request: HttpRequest, exc: DomainError) -> None:
        self.message_user(request, domain_error_text(exc), messages.ERROR)
