from __future__ import annotations

from django import forms

from aifactory.core.catalog import load_catalog
from aifactory.portal.support.choices import Topic


class RequestForm(forms.Form):
    organisation = forms.TypedChoiceField(coerce=int, label="Organisation")
    topic = forms.ChoiceField(choices=Topic.choices, label="Topic")
    sector = forms.CharField(max_length=100, required=False, label="Sector (for a domain question: which one)")
    machine = forms.ChoiceField(required=False, label="Machine")
    factory = forms.ChoiceField(required=False, label="AI Factory")
    title = forms.CharField(max_length=200, label="Title")
    text = forms.CharField(max_length=20_000, widget=forms.Textarea(attrs={"rows": 6}), label="Your question")

    def __init__(self, *args: object, organisations: list[tuple[int, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        catalog = load_catalog()
        self.fields["organisation"].choices = organisations  # type: ignore[attr-defined]
        self.fields["machine"].choices = [("", "any")] + [(m.key, m.name) for m in catalog.machines]  # type: ignore[attr-defined]
        self.fields["factory"].choices = [("", "any")] + [(f.key, f.name) for f in catalog.factories]  # type: ignore[attr-defined]


class BodyForm(forms.Form):
    body = forms.CharField(max_length=20_000, widget=forms.Textarea(attrs={"rows": 4}), label="Message")


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=1000, required=False, label="Reason")


class ReassignForm(forms.Form):
    centre = forms.CharField(max_length=40, label="Centre key")
    reason = forms.CharField(max_length=1000, label="Reason")


class SlaForm(forms.Form):
    days = forms.IntegerField(min_value=1, max_value=60, label="First answer within (working days)")
