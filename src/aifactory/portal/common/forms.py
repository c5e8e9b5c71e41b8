from __future__ import annotations

from django import forms

from aifactory.portal.common.errors import PortalError


def add_portal_error(form: forms.Form, exc: PortalError, aliases: dict[str, str] | None = None) -> None:
    """Show a service's refusal next to the field it names, or at the top of the form."""
    field = exc.detail.get("field") if isinstance(exc.detail, dict) else None
    message = exc.message
    if field and message.startswith(f"{field}: "):
        message = message[len(field) + 2 :]
    field = (aliases or {}).get(field, field)
    form.add_error(field if field in form.fields else None, message)
