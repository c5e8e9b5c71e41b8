from __future__ import annotations

from typing import Any

from django import forms

from aifactory.core.catalog import GPU_MODELS
from aifactory.core.eligibility import ANNEX3_AREAS, ARTICLE5_PRACTICES
from aifactory.portal.access.choices import AccessMode
from aifactory.portal.federation.selectors import machines_open


def split_words(text: str) -> list[str]:
    """Comma- or line-separated words, trimmed, empty ones dropped."""
    return [w.strip() for w in text.replace("\n", ",").split(",") if w.strip()]


def parse_machine_hours(text: str, field: str = "machine_hours") -> dict[str, float]:
    """Lines 'machine: GPU-hours' (or 'machine = GPU-hours') into a mapping; a malformed line raises a form error."""
    out: dict[str, float] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        sep = ":" if ":" in line else "="
        key, _, value = line.partition(sep)
        try:
            hours = float(value.strip().replace("_", ""))
        except ValueError:
            raise forms.ValidationError(
                f"line {number}: write 'machine: GPU-hours', e.g. 'leonardo: 20000' ({line.strip()!r})"
            ) from None
        if not key.strip():
            raise forms.ValidationError(f"line {number}: the machine is missing")
        if key.strip() in out:
            raise forms.ValidationError(f"line {number}: {key.strip()!r} appears twice")
        out[key.strip()] = hours
    return out


class ApplicationForm(forms.Form):
    organisation = forms.TypedChoiceField(coerce=int)
    mode = forms.ChoiceField(choices=AccessMode.choices, initial=AccessMode.PLAYGROUND, required=False,
                             label="Access mode")
    call = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label="Call (Large Scale and Grand "
                                  "Challenge proposals)")
    title = forms.CharField(min_length=3, max_length=200)
    summary = forms.CharField(required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 3}),
                              label="Summary (shown to reviewers)")
    description = forms.CharField(
        required=False, max_length=20000, widget=forms.Textarea(attrs={"rows": 5}),
        label="Description: what the model will do, for whom, with which data",
        help_text="Read with the title and summary for the uses the AI Act prohibits or calls high-risk; a passage "
        "that may describe one sends the application to an ethics review, and you will see which passage.",
    )
    sector = forms.CharField(required=False, max_length=100, label="Project sector (your organisation's if empty)")
    keywords = forms.CharField(required=False, max_length=500, label="Expertise keywords, comma-separated")
    people = forms.CharField(required=False, max_length=2000, label="People named in the proposal, comma-separated")
    machine = forms.ChoiceField(label="Machine")
    gpu = forms.ChoiceField(required=False, label="GPU model, if you need a particular one",
                            choices=[("", "any (the machine's)")] + [(k, k) for k in GPU_MODELS])
    machine_hours = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}),
        label="GPU-hours on several machines, one 'machine: GPU-hours' per line (calls only)",
    )
    params = forms.FloatField(min_value=1, max_value=1e15, label="Model parameters", initial="1e9",
                              help_text="e.g. 7e9 for seven billion")
    tokens = forms.FloatField(min_value=1, max_value=1e17, label="Training tokens", initial="2e10")
    gpus = forms.IntegerField(min_value=1, max_value=100_000, initial=8, label="GPUs")
    requested_gpu_hours = forms.FloatField(min_value=0.01, max_value=1e9, initial=300, label="GPU-hours requested")
    months = forms.TypedChoiceField(
        coerce=int, initial=3, label="Months",
        choices=[(1, "1 month"), (2, "2 months"), (3, "3 months"), (6, "6 months"), (12, "12 months")],
    )
    civil_use = forms.BooleanField(required=False, label="The work is for civil use only")
    open_science = forms.BooleanField(
        required=False, label="If we win a competition, we release the model under an open-source licence for "
        "non-commercial use, or publish our research",
    )
    practices = forms.MultipleChoiceField(
        required=False, choices=list(ARTICLE5_PRACTICES.items()), widget=forms.CheckboxSelectMultiple,
        label="Does the project involve any of these practices (AI Act, Article 5)?",
    )
    areas = forms.MultipleChoiceField(
        required=False, choices=list(ANNEX3_AREAS.items()), widget=forms.CheckboxSelectMultiple,
        label="Is the AI system meant for any of these areas (AI Act, Annex III)?",
    )

    def __init__(self, *args: Any, organisations: list[tuple[int, str]], calls: list[tuple[int, str]] = (),
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["organisation"].choices = organisations
        self.fields["call"].choices = [("", "none")] + list(calls)
        self.fields["machine"].choices = [(m.key, f"{m.name} ({m.gpu_model})") for m in machines_open()]

    def clean_mode(self) -> str:
        return str(self.cleaned_data.get("mode") or AccessMode.PLAYGROUND)

    def clean_machine_hours(self) -> dict[str, float]:
        return parse_machine_hours(self.cleaned_data.get("machine_hours") or "")

    def clean_keywords(self) -> list[str]:
        return split_words(self.cleaned_data.get("keywords") or "")

    def clean_people(self) -> list[str]:
        return split_words(self.cleaned_data.get("people") or "")


class DecisionForm(forms.Form):
    approve = forms.TypedChoiceField(
        coerce=lambda v: v == "yes", choices=[("yes", "Approve"), ("no", "Refuse")], widget=forms.RadioSelect,
        label="Decision",
    )
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}), label="Reason (shown to the "
                             "applicant)")
