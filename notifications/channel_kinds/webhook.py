"""Webhook channels: an HTTP request per delivery, optionally signed with HMAC-SHA256.

Requests go through one pooled `requests.Session` per worker process. Its adapter resolves and
vets every host with the SSRF guard and connects to the vetted address (TLS still checks the
certificate against the host name), so the address checked is the address used. Redirects are
followed by hand, at most NOTIFICATION_WEBHOOK_MAX_REDIRECTS times, each target vetted again.
"""

from __future__ import annotations

import email.utils
import json
import os
import re
import ssl
import threading
from datetime import UTC, datetime
from http.cookiejar import DefaultCookiePolicy
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from rest_framework import serializers

from core.errors import ErrorCode, ValidationError
from core.schema import SecretField, StrictSerializer, no_crlf
from notifications import rendering, signing, ssrf
from notifications.channel_kinds.base import (
    ChannelKind,
    RenderedMessage,
    SendFailure,
    SendResult,
    redact,
    register,
)

if TYPE_CHECKING:
    from notifications.models import Channel
    from providers.sender_cache import SmtpSender

_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")
# Set by the service itself; letting a channel override them would break framing or signing.
RESERVED_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "content-type"}
    | {"x-notification-signature", "x-notification-timestamp", "x-notification-delivery-id"}
)
METHODS = ("POST", "PUT", "PATCH")


class WebhookConfigSerializer(StrictSerializer):
    url = serializers.URLField(max_length=2048, help_text="http(s) URL; its query string is kept.")
    method = serializers.ChoiceField(choices=METHODS, default="POST", help_text="Case-insensitive.")
    headers = serializers.DictField(
        child=serializers.CharField(max_length=4096, allow_blank=True, trim_whitespace=False, validators=[no_crlf]),
        required=False,
        write_only=True,
        help_text="Header values are secrets: write-only, kept on update when omitted.",
    )
    timeout = serializers.FloatField(default=10.0, min_value=0.1, max_value=120.0)
    success_status_codes = serializers.ListField(
        child=serializers.IntegerField(min_value=100, max_value=599),
        default=list,
        max_length=100,
        help_text="Statuses that count as delivered; empty means any 2xx.",
    )
    signing_secret = SecretField(min_length=16, allow_null=True, help_text="Write-only. Enables the signature headers.")

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("method"), str):
            data = {**data, "method": data["method"].upper()}
        return super().to_internal_value(data)

    def validate_url(self, value: str) -> str:
        if not value.lower().startswith(("http://", "https://")):
            raise serializers.ValidationError("The URL must use http or https.")
        return value

    def validate_headers(self, value: dict[str, str]) -> dict[str, str]:
        errors = {}
        for name in value:
            if not _HEADER_NAME.fullmatch(name):  # not match(): its `$` accepts a trailing newline
                errors[name] = ["Not a valid header name."]
            elif name.lower() in RESERVED_HEADERS:
                errors[name] = ["This header is set by the service."]
        if errors:
            raise serializers.ValidationError(errors)
        return value


class WebhookPublicConfigSerializer(serializers.Serializer):
    url = serializers.CharField()
    method = serializers.CharField()
    timeout = serializers.FloatField()
    success_status_codes = serializers.ListField(child=serializers.IntegerField())
    header_names = serializers.ListField(child=serializers.CharField())
    has_signing_secret = serializers.BooleanField()


USER_AGENT = "notification-service-webhook/1"
JSON_CONTENT_TYPE = "application/json"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"
_DEFAULT_PORTS = {"http": 80, "https": 443}
# How much of a response is read, only to keep a short excerpt; the rest is discarded unread.
_RESPONSE_READ_BYTES = 2048


class PinnedAdapter(HTTPAdapter):
    """Vets each request's host with the SSRF guard and connects to the vetted IP address.

    The connection pool is keyed by that address; SNI and certificate checks use the host name,
    and the Host header is set from the URL, so the server sees an ordinary request.
    """

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        hostname = host_params["host"]
        port = host_params["port"] or _DEFAULT_PORTS[host_params["scheme"]]
        host_params["host"] = ssrf.vet_host(hostname, port)
        pool_kwargs["server_hostname"] = hostname
        pool_kwargs["assert_hostname"] = hostname
        return host_params, pool_kwargs

    def add_headers(self, request: requests.PreparedRequest, **kwargs: Any) -> None:
        parts = urlsplit(request.url)
        host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname
        default = _DEFAULT_PORTS.get(parts.scheme)
        request.headers["Host"] = f"{host}:{parts.port}" if parts.port and parts.port != default else str(host)


_session_lock = threading.Lock()
_session: tuple[int, requests.Session] | None = None


def http_session() -> requests.Session:
    """The session of this process (a forked worker child builds its own pool)."""
    global _session
    with _session_lock:
        if _session is None or _session[0] != os.getpid():
            session = requests.Session()
            session.trust_env = False  # no proxy or .netrc from the environment: they would bypass the guard
            session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))  # channels share nothing
            session.headers["User-Agent"] = USER_AGENT
            adapter = PinnedAdapter(pool_connections=16, pool_maxsize=16, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            _session = (os.getpid(), session)
        return _session[1]


def content_type_for(body: str) -> str:
    try:
        json.loads(body)
    except ValueError:
        return TEXT_CONTENT_TYPE
    return JSON_CONTENT_TYPE


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds from now: delta-seconds or an HTTP date; None when absent or garbled."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port or _DEFAULT_PORTS.get(parts.scheme)


def _read_excerpt(response: requests.Response, secrets: list[str]) -> str:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=512):
        chunks.append(chunk)
        size += len(chunk)
        if size >= _RESPONSE_READ_BYTES:
            break
    return redact(b"".join(chunks).decode("utf-8", errors="replace"), secrets=secrets)


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    """Whether `kind` is anywhere in the chain requests and urllib3 wrap around a low-level error."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kind):
            return True
        links = (current.__cause__, current.__context__, getattr(current, "reason", None), *current.args)
        stack.extend(link for link in links if isinstance(link, BaseException))
    return False


def _connection_failure(exc: requests.RequestException, host: str) -> SendFailure:
    if isinstance(exc, requests.Timeout):
        return SendFailure(f"Timed out talking to {host}.", code=ErrorCode.WEBHOOK_TIMEOUT, transient=True)
    if isinstance(exc, requests.exceptions.SSLError):
        untrusted = _caused_by(exc, ssl.SSLCertVerificationError)
        return SendFailure(
            f"TLS with {host} failed{': certificate not trusted' if untrusted else ''}.",
            code=ErrorCode.WEBHOOK_CONNECT_FAILED,
            transient=not untrusted,
        )
    if isinstance(exc, requests.ConnectionError):
        return SendFailure(f"Could not connect to {host}.", code=ErrorCode.WEBHOOK_CONNECT_FAILED, transient=True)
    return SendFailure(
        f"The request to {host} failed: {type(exc).__name__}.", code=ErrorCode.WEBHOOK_CONNECT_FAILED, transient=False
    )


class WebhookKind(ChannelKind):
    key = "webhook"
    config_serializer = WebhookConfigSerializer
    public_serializer = WebhookPublicConfigSerializer
    span_name = "notification.send_webhook"
    send_stage = "webhook_send"

    def split_secrets(self, validated: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        config = dict(validated)
        secrets: dict[str, Any] = {}
        if "headers" in config:
            secrets["headers"] = config.pop("headers")
        if "signing_secret" in config:
            # An explicit null removes the secret; omitting it keeps the stored one.
            secrets["signing_secret"] = config.pop("signing_secret")
        return config, secrets

    def check_secrets(self, config: dict[str, Any], secrets: dict[str, Any]) -> None:
        if set(secrets) - {"headers", "signing_secret"}:
            raise ValidationError.for_field("config", "Unexpected secret.")

    def public_config(self, config: dict[str, Any], secrets: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": config["url"],
            "method": config.get("method", "POST"),
            "timeout": config.get("timeout", 10.0),
            "success_status_codes": config.get("success_status_codes", []),
            "header_names": sorted(secrets.get("headers", {})),
            "has_signing_secret": bool(secrets.get("signing_secret")),
        }

    def secret_values(self, *, channel: Channel, sender: SmtpSender | None) -> list[str]:
        return [*channel.secrets.get("headers", {}).values(), channel.secrets.get("signing_secret") or ""]

    def render(
        self, *, channel: Channel, message_template: str, subject_template: str, context: dict[str, Any]
    ) -> RenderedMessage:
        if message_template:
            body = rendering.render(message_template, context)
        else:
            envelope = {key: context[key] for key in ("event_type", "event_id", "timestamp", "data")}
            body = json.dumps(envelope, ensure_ascii=False, default=str)
        return RenderedMessage(body=body, content_type=content_type_for(body))

    def send(
        self, *, channel: Channel, message: RenderedMessage, sender: SmtpSender | None, delivery_id: str
    ) -> SendResult:
        config = channel.config
        secrets = self.secret_values(channel=channel, sender=sender)
        success_codes = set(config.get("success_status_codes") or ())
        timeout = float(config.get("timeout", 10.0))
        headers = {**channel.secrets.get("headers", {}), "Content-Type": message.content_type}
        headers[signing.DELIVERY_ID_HEADER] = delivery_id
        if channel.secrets.get("signing_secret"):
            headers.update(signing.signature_headers(channel.secrets["signing_secret"], message.body))
        method, url, body = config.get("method", "POST"), config["url"], message.body.encode()
        redirects = 0
        while True:
            host = urlsplit(url).hostname or "?"
            try:
                response = http_session().request(
                    method, url, data=body, headers=headers, timeout=timeout, allow_redirects=False, stream=True
                )
            except ssrf.AddressRefused as exc:
                raise SendFailure(exc.message, code=exc.code, transient=False) from None
            except ssrf.ResolutionFailed as exc:
                raise SendFailure(exc.message, code=exc.code, transient=True) from None
            except requests.RequestException as exc:
                raise _connection_failure(exc, host) from None
            with response:
                excerpt = _read_excerpt(response, secrets)
            status = response.status_code
            if status in success_codes or (not success_codes and 200 <= status < 300):
                return SendResult(status_code=status, excerpt=excerpt)
            if not response.is_redirect or redirects >= settings.NOTIFICATION_WEBHOOK_MAX_REDIRECTS:
                raise SendFailure(
                    f"{host} answered {status} ({'too many redirects' if response.is_redirect else 'not a success'}).",
                    code=ErrorCode.WEBHOOK_BAD_STATUS,
                    transient=status in (408, 429) or status >= 500,
                    status_code=status,
                    excerpt=excerpt,
                    retry_after=retry_after_seconds(response.headers.get("Retry-After"))
                    if status in (429, 503)
                    else None,
                )
            target = urljoin(url, response.headers["Location"])
            if urlsplit(target).scheme not in ("http", "https"):
                raise SendFailure(
                    f"{host} redirected to a non-HTTP URL.",
                    code=ErrorCode.WEBHOOK_ADDRESS_REFUSED,
                    transient=False,
                    status_code=status,
                )
            if _origin(target) != _origin(url):
                # The channel's headers are credentials for the configured server only.
                headers = {k: v for k, v in headers.items() if k not in channel.secrets.get("headers", {})}
            if status not in (307, 308):
                method, body = "GET", b""
                headers.pop("Content-Type", None)
            url = target
            redirects += 1


register(WebhookKind())
