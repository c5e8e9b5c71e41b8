from __future__ import annotations

from django import forms

from aifactory.portal.common.errors import refusal_of


def add_refusal(form: forms.Form, exc: Exception, aliases: dict[str, str] | None = None) -> None:
    """Show a refusal (the portal's or the core's) next to the field it names, or at the top of the form."""
    refusal = refusal_of(exc)
    field = refusal.field
    message = refusal.message
    if field and message.startswith(f"{field}: "):
        message = message[len(field) + 2 :]
    field = (aliases or {}).get(field or "", field)
    form.add_error(field if field in form.fields else None, message)
