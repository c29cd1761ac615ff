"""API tokens created in the admin: shown once in the response, stored only as a digest, usable at once."""

import re

import pytest
from django.db import connection

from core.models import ApiToken

pytestmark = pytest.mark.django_db

TOKEN = re.compile(r'value="(nst_[A-Za-z0-9_-]+)"')


def test_superuser_creates_a_token_that_authenticates_the_api(client, superuser, make_user):
    owner = make_user("NotificationViewer", username="reader", is_staff=True)
    client.force_login(superuser)
    assert client.get("/admin/core/apitoken/add/").status_code == 200

    page = client.post("/admin/core/apitoken/add/", {"user": owner.pk, "name": "ci pipeline"})

    assert page.status_code == 200
    [raw] = TOKEN.findall(page.content.decode())
    token = ApiToken.objects.get()
    assert (token.user, token.name) == (owner, "ci pipeline")
    with connection.cursor() as cursor:
        cursor.execute("SELECT token_hash, prefix FROM core_apitoken")
        assert raw not in repr(cursor.fetchall())
    listing = client.get("/admin/core/apitoken/").content.decode()
    assert "ci pipeline" in listing and raw not in listing

    api = client.__class__()
    answer = api.get("/api/v1/notifications/channels/", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert answer.status_code == 200


def test_staff_without_token_permission_cannot_create_one_for_someone_else(client, make_user):
    staff = make_user("NotificationViewer", username="staff", is_staff=True)
    other = make_user(username="other")
    client.force_login(staff)

    page = client.post("/admin/core/apitoken/add/", {"user": other.pk, "name": "sneaky"})

    assert page.status_code == 200
    assert "PERMISSION_DENIED" in page.content.decode()
    assert not ApiToken.objects.exists()


def test_blank_name_is_refused_at_the_field(client, superuser):
    client.force_login(superuser)
    page = client.post("/admin/core/apitoken/add/", {"user": superuser.pk, "name": "  "})
    assert page.status_code == 200
    assert not ApiToken.objects.exists()
    assert "errorlist" in page.content.decode()
