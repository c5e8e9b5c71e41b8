from __future__ import annotations

from django import forms


class JobForm(forms.Form):
    allocation = forms.TypedChoiceField(coerce=int)
    name = forms.RegexField(regex=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", max_length=64, initial="train")
    script = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}), max_length=65536,
        initial='echo "training on $AIFACTORY_GPUS GPUs"\nsleep 3\necho done',
        help_text="bash commands, run as a script at the site",
    )
    gpus = forms.IntegerField(min_value=1, max_value=1024, initial=1, label="GPUs")
    time_limit_s = forms.IntegerField(min_value=60, max_value=7 * 86400, initial=600, label="Time limit (seconds)")

    def __init__(self, *args: object, allocations: list[tuple[int, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["allocation"].choices = allocations

    def clean_script(self) -> str:
        # Browsers send a textarea's line breaks as CRLF; bash would read the CR as part of each command.
        return str(self.cleaned_data["script"]).replace("\r\n", "\n")


SPEC_EXAMPLE = """name: train
resources:
  gpu: any
  gpus_per_node: 1
  time_limit: 10m
commands:
  - echo "training on $(hostname)"
  - sleep 3
"""


class JobSpecForm(forms.Form):
    organisation = forms.TypedChoiceField(coerce=int)
    spec = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false"}), max_length=256 * 1024, initial=SPEC_EXAMPLE,
        label="Job spec (YAML or JSON)", help_text="see docs/jobs.md; the broker picks the allocation and site",
    )

    def __init__(self, *args: object, organisations: list[tuple[int, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["organisation"].choices = organisations
