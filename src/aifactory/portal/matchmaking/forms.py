from __future__ import annotations

from django import forms

from aifactory.core.matchmaking import DATA_KINDS, MODEL_TYPES, SECTORS

SECTORS_C = [(s, s) for s in SECTORS]
MODELS_C = [(m, m) for m in MODEL_TYPES]
DATA_C = [(d, d) for d in DATA_KINDS]


class ChallengeForm(forms.Form):
    organisation = forms.TypedChoiceField(coerce=int, label="Company")
    title = forms.CharField(max_length=200, label="Title")
    description = forms.CharField(max_length=10_000, widget=forms.Textarea(attrs={"rows": 5}), label="The problem")
    sector = forms.ChoiceField(choices=SECTORS_C, label="Strategic sector")
    model_types = forms.MultipleChoiceField(choices=MODELS_C, required=False, widget=forms.CheckboxSelectMultiple,
                                            label="Model types wanted")
    data_kinds = forms.MultipleChoiceField(choices=DATA_C, required=False, widget=forms.CheckboxSelectMultiple,
                                           label="Data involved")
    min_team = forms.IntegerField(min_value=1, max_value=10_000, initial=1, label="Smallest team")

    def __init__(self, *args: object, organisations: list[tuple[int, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["organisation"].choices = organisations  # type: ignore[attr-defined]


class ProfileForm(forms.Form):
    organisation = forms.TypedChoiceField(coerce=int, label="Startup")
    sectors = forms.MultipleChoiceField(choices=SECTORS_C, widget=forms.CheckboxSelectMultiple, label="Sectors")
    model_types = forms.MultipleChoiceField(choices=MODELS_C, required=False, widget=forms.CheckboxSelectMultiple,
                                            label="Model types built")
    data_kinds = forms.MultipleChoiceField(choices=DATA_C, required=False, widget=forms.CheckboxSelectMultiple,
                                           label="Data handled")
    team_size = forms.IntegerField(min_value=1, max_value=10_000, label="Team size")
    summary = forms.CharField(max_length=5000, required=False, widget=forms.Textarea(attrs={"rows": 3}),
                              label="What you build (shown without your name)")

    def __init__(self, *args: object, organisations: list[tuple[int, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["organisation"].choices = organisations  # type: ignore[attr-defined]


class InterestForm(forms.Form):
    profile = forms.IntegerField(min_value=1, label="Startup profile")
