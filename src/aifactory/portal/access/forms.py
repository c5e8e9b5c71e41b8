from __future__ import annotations

from django import forms

from aifactory.core.eligibility import ANNEX3_AREAS, ARTICLE5_PRACTICES
from aifactory.portal.access.choices import PLAYGROUND_MAX_GPU_HOURS
from aifactory.portal.federation.selectors import machines_open


class ApplicationForm(forms.Form):
    organisation = forms.TypedChoiceField(coerce=int)
    title = forms.CharField(min_length=3, max_length=200)
    machine = forms.ChoiceField()
    params = forms.FloatField(min_value=1, max_value=1e15, label="Model parameters", initial=1e9)
    tokens = forms.FloatField(min_value=1, max_value=1e17, label="Training tokens", initial=2e10)
    gpus = forms.IntegerField(min_value=1, max_value=100_000, initial=8, label="GPUs")
    requested_gpu_hours = forms.FloatField(
        min_value=0.01, max_value=PLAYGROUND_MAX_GPU_HOURS, initial=100, label="GPU-hours requested"
    )
    months = forms.TypedChoiceField(coerce=int, choices=[(1, "1 month"), (2, "2 months"), (3, "3 months")], initial=3)
    civil_use = forms.BooleanField(required=False, label="The work is for civil use only")
    practices = forms.MultipleChoiceField(
        required=False, choices=list(ARTICLE5_PRACTICES.items()), widget=forms.CheckboxSelectMultiple,
        label="Does the project involve any of these practices (AI Act, Article 5)?",
    )
    areas = forms.MultipleChoiceField(
        required=False, choices=list(ANNEX3_AREAS.items()), widget=forms.CheckboxSelectMultiple,
        label="Is the AI system meant for any of these areas (AI Act, Annex III)?",
    )

    def __init__(self, *args: object, organisations: list[tuple[int, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["organisation"].choices = organisations
        self.fields["machine"].choices = [(m.key, f"{m.name} ({m.gpu_model})") for m in machines_open()]
