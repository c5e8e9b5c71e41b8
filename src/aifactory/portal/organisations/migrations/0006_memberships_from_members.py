from django.db import migrations


def copy_members(apps, schema_editor):
    """Everyone who was a member before teams had roles becomes the organisation's principal investigator."""
    Organisation = apps.get_model("organisations", "Organisation")
    Membership = apps.get_model("organisations", "Membership")
    rows = []
    for org in Organisation.objects.prefetch_related("members"):
        rows.extend(Membership(organisation=org, user=user, role="pi") for user in org.members.all())
    Membership.objects.bulk_create(rows, ignore_conflicts=True)


def copy_back(apps, schema_editor):
    Membership = apps.get_model("organisations", "Membership")
    for row in Membership.objects.select_related("organisation"):
        row.organisation.members.add(row.user_id)


class Migration(migrations.Migration):
    dependencies = [
        ("organisations", "0005_team_invitations"),
    ]

    operations = [migrations.RunPython(copy_members, copy_back)]
