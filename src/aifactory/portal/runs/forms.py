from __future__ import annotations

from django import forms

from aifactory.portal.jobs.forms import SPEC_EXAMPLE


class RunForm(forms.Form):
    organisation = forms.TypedChoiceField(coerce=int)
    spec = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false"}), max_length=256 * 1024, initial=SPEC_EXAMPLE,
        label="Each segment's job spec (YAML or JSON)", help_text="see docs/jobs.md; the broker places each segment",
    )
    steps = forms.IntegerField(min_value=1, max_value=10**13, label="Steps in all")
    checkpoint_every = forms.IntegerField(min_value=1, max_value=10**13, label="Steps between checkpoints")
    checkpoint_dir = forms.CharField(max_length=1024, label="Checkpoint folder",
                                     help_text="an absolute path every site the run may go to can read")

    def __init__(self, *args: object, organisations: list[tuple[int, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["organisation"].choices = organisations
