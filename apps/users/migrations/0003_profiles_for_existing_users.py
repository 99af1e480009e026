"""Give every account that predates profiles its default profile."""

from django.db import migrations


def profiles_create(apps, schema_editor):
    alias = schema_editor.connection.alias
    User = apps.get_model("users", "User")
    Profile = apps.get_model("users", "Profile")
    missing = User.objects.using(alias).filter(profile__isnull=True)
    Profile.objects.using(alias).bulk_create([Profile(user=user) for user in missing])


class Migration(migrations.Migration):
    dependencies = [("users", "0002_role_and_profile")]

    operations = [migrations.RunPython(profiles_create, migrations.RunPython.noop)]
