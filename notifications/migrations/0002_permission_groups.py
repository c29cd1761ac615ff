from django.db import migrations

GROUPS = {
    "NotificationProviderViewer": [
        "providers.view_notificationprovider",
        "core.view_auditentry",
    ],
    "NotificationProviderWriter": [
        "providers.view_notificationprovider",
        "providers.add_notificationprovider",
        "providers.change_notificationprovider",
        "providers.test_notificationprovider",
        "core.view_auditentry",
    ],
    "NotificationViewer": [
        "notifications.view_channel",
        "notifications.view_rule",
        "notifications.view_event",
        "notifications.view_delivery",
        "notifications.view_deliveryattempt",
    ],
    "NotificationWriter": [
        "notifications.view_channel",
        "notifications.add_channel",
        "notifications.change_channel",
        "notifications.delete_channel",
        "notifications.view_rule",
        "notifications.add_rule",
        "notifications.change_rule",
        "notifications.delete_rule",
        "notifications.view_event",
        "notifications.view_delivery",
        "notifications.change_delivery",
        "notifications.view_deliveryattempt",
    ],
    "EventPublisher": [
        "notifications.add_event",
        "notifications.view_event",
    ],
}


def create_groups(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after all migrations; the groups need them now.
    for app_label in ("core", "providers", "notifications"):
        app_config = apps.get_app_config(app_label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group_name, perms in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        for perm in perms:
            app_label, codename = perm.split(".")
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0001_initial"),
        ("providers", "0001_initial"),
        ("core", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
