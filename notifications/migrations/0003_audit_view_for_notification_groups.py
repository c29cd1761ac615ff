from django.db import migrations

GROUPS = ("NotificationViewer", "NotificationWriter")


def grant(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    view_audit = Permission.objects.get(content_type__app_label="core", codename="view_auditentry")
    for group in Group.objects.filter(name__in=GROUPS):
        group.permissions.add(view_audit)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    view_audit = Permission.objects.get(content_type__app_label="core", codename="view_auditentry")
    for group in Group.objects.filter(name__in=GROUPS):
        group.permissions.remove(view_audit)


class Migration(migrations.Migration):
    """Channel and rule changes are audited too: their viewers may read the audit log."""

    dependencies = [("notifications", "0002_permission_groups")]

    operations = [migrations.RunPython(grant, revoke)]
