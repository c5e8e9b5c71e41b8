from __future__ import annotations

from typing import Any

from django import forms

from aifactory.portal.access.forms import parse_machine_hours, split_words
from aifactory.portal.review.choices import OBJECTIVE_CHOICES, CallMode
from aifactory.portal.review.services import CriterionSpec

DEFAULT_RUBRIC = "excellence, 0.5\nimpact, 0.3\nfeasibility, 0.2"


def parse_criteria(text: str) -> list[CriterionSpec]:
    """Lines 'name, weight[, low, high]' into criteria; a malformed line raises a form error."""
    out: list[CriterionSpec] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) not in (2, 4) or not parts[0]:
            raise forms.ValidationError(f"line {number}: write 'name, weight' or 'name, weight, low, high'")
        try:
            numbers = [float(p) for p in parts[1:]]
        except ValueError:
            raise forms.ValidationError(f"line {number}: weight and scale must be numbers ({line.strip()!r})") from None
        out.append(CriterionSpec(parts[0], *numbers))
    if not out:
        raise forms.ValidationError("give at least one criterion")
    return out


class CallForm(forms.Form):
    title = forms.CharField(min_length=3, max_length=200)
    mode = forms.ChoiceField(choices=CallMode.choices, label="Kind of call")
    description = forms.CharField(required=False, max_length=10_000, widget=forms.Textarea(attrs={"rows": 3}))
    deadline = forms.DateTimeField(
        label="Deadline or cut-off (UTC)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
    )
    decision_by = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}),
        label="Decisions promised by (Large Scale: 10 working days after the cut-off when empty)",
    )
    starts_on = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}),
                                label="Allocations start on (the day of acceptance when empty)")
    months = forms.TypedChoiceField(coerce=int, initial=12, label="Allocations last",
                                    choices=[(3, "3 months"), (6, "6 months"), (12, "12 months")])
    winner_limit = forms.IntegerField(required=False, min_value=1, label="At most this many winners")
    threshold = forms.FloatField(required=False, label="Score threshold (a proposal below it is never funded)")
    objective = forms.ChoiceField(choices=OBJECTIVE_CHOICES, label="Selection maximises")
    reviewers_per_proposal = forms.IntegerField(min_value=1, max_value=20, initial=2, label="Reviewers per proposal")
    same_country_conflict = forms.BooleanField(required=False,
                                               label="A reviewer from the proposal's country is in conflict")
    prize_eur = forms.DecimalField(required=False, min_value=0, max_digits=14, decimal_places=2,
                                   label="Prize money (EUR)")
    open_science = forms.BooleanField(required=False, label="Winners must release their model under an open-source "
                                      "licence for non-commercial use, or publish their research")
    criteria = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), initial=DEFAULT_RUBRIC,
                               label="Rubric: one 'criterion, weight' (or 'criterion, weight, low, high') per line; "
                               "marks from 0 to 5 unless given")
    budgets = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}),
                              label="GPU-hour budgets: one 'machine: GPU-hours' per line")

    def clean_criteria(self) -> list[CriterionSpec]:
        return parse_criteria(self.cleaned_data["criteria"])

    def clean_budgets(self) -> dict[str, float]:
        budgets = parse_machine_hours(self.cleaned_data["budgets"])
        if not budgets:
            raise forms.ValidationError("give the GPU-hours the call funds on at least one machine")
        return budgets


class ReasonForm(forms.Form):
    reason = forms.CharField(required=False, max_length=2000, label="Reason (recorded in the call's log)")


class ReviewerForm(forms.Form):
    username = forms.CharField(max_length=150, label="Username of the person")
    name = forms.CharField(max_length=200, label="Name")
    affiliation = forms.CharField(required=False, max_length=200, label="Affiliation (organisation)")
    country = forms.RegexField(regex=r"^[A-Za-z]{2}$", label="Country (ISO code, e.g. SE)")
    keywords = forms.CharField(required=False, max_length=1000, label="Expertise keywords, comma-separated")
    max_load = forms.IntegerField(min_value=0, max_value=1000, initial=5, label="Most reviews per call")

    def clean_keywords(self) -> list[str]:
        return split_words(self.cleaned_data.get("keywords") or "")


class OverrideForm(forms.Form):
    machine = forms.ChoiceField(label="Send to machine")
    reason = forms.CharField(max_length=2000, label="Reason (recorded and shown to the applicant)")

    def __init__(self, *args: Any, machines: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["machine"].choices = machines


class ReviewForm(forms.Form):
    """One mark field per criterion of the call's rubric, and a comment."""

    comment = forms.CharField(required=False, max_length=10_000, widget=forms.Textarea(attrs={"rows": 4}),
                              label="Comment for the panel")

    def __init__(self, *args: Any, criteria: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.criteria = criteria
        marks = {}
        for c in criteria:
            marks[f"mark_{c.name}"] = forms.FloatField(
                min_value=c.low, max_value=c.high,
                label=f"{c.name} (weight {c.weight:g}, from {c.low:g} to {c.high:g})",
            )
        self.fields = {**marks, **self.fields}

    def marks(self) -> dict[str, float]:
        return {c.name: self.cleaned_data[f"mark_{c.name}"] for c in self.criteria}


class ConflictForm(forms.Form):
    """A reviewer's declaration of a conflict of interest with one proposal."""

    application = forms.TypedChoiceField(coerce=int, label="Proposal")
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}),
                             label="Why you are in conflict (read by the call manager only)")

    def __init__(self, *args: Any, proposals: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["application"].choices = [("", "choose a proposal")] + list(proposals)
