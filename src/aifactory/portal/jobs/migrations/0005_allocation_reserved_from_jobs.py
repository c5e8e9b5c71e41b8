"""Fill each allocation's reserved counter from its unfinished jobs (GPUs x time limit), as it was computed before
the counter existed; going back needs nothing."""

from django.db import migrations
from django.db.models import BigIntegerField, F, Sum

TERMINAL = ("completed", "failed", "cancelled")


def fill(apps, schema_editor):
    Allocation = apps.get_model("allocations", "Allocation")
    Job = apps.get_model("jobs", "Job")
    totals = (Job.objects.exclude(state__in=TERMINAL).order_by().values("allocation_id")
              .annotate(reserved=Sum(F("gpus") * F("time_limit_s"), output_field=BigIntegerField())))
    for row in totals:
        Allocation.objects.filter(pk=row["allocation_id"]).update(gpu_seconds_reserved=row["reserved"] or 0)


class Migration(migrations.Migration):

    dependencies = [
        ("allocations", "0005_reserved_counter"),
        ("jobs", "0004_job_created_at_index"),
    ]

    operations = [
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
