from __future__ import annotations

from django import forms

from aifactory.portal.funding.choices import STAGE_CHOICES


class StageForm(forms.Form):
    trl = forms.TypedChoiceField(coerce=int, choices=STAGE_CHOICES, label="Your stage")
