"""Background work of the siteaccess app, run by the task runner's workers."""

from __future__ import annotations

from datetime import timedelta

from django_tasks import task

from aifactory.portal.periodic.schedule import periodic
from aifactory.portal.siteaccess.services import ssh_certificates_expiry_notify


@periodic(name="siteaccess.certificate_expiry", every=timedelta(minutes=5))
@task()
def certificate_expiry() -> int:
    """E-mail each person whose SSH certificate expires within SSH_CERT_EXPIRY_NOTICE_H, once per certificate."""
    return len(ssh_certificates_expiry_notify())
