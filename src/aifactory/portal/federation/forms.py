from __future__ import annotations

from django import forms

from aifactory.core.catalog import GPU_MODELS
from aifactory.core.planner import DEFAULT_GPUS, DEFAULT_MFU, MAX_GPUS

# The fields whose refusals the live estimate shows next to them while the person types.
PLAN_FIELDS = ("params", "tokens", "gpus", "mfu", "gpu")


class PlanForm(forms.Form):
    """The planner's inputs: the same names as the application form's, so one estimate serves both."""

    params = forms.FloatField(min_value=1, max_value=1e15, initial="7e9", label="Model parameters",
                              help_text="e.g. 7e9 for seven billion")
    tokens = forms.FloatField(min_value=1, max_value=1e17, initial="2e12", label="Training tokens",
                              help_text="e.g. 2e12 for two trillion")
    gpus = forms.IntegerField(min_value=1, max_value=MAX_GPUS, initial=DEFAULT_GPUS, label="GPUs")
    mfu = forms.FloatField(min_value=0.01, max_value=1, initial=DEFAULT_MFU, required=False,
                           label="Model FLOPs utilisation (MFU)", help_text="the share of peak throughput the run "
                           "reaches; 0.4 is typical of large transformer training")
    gpu = forms.ChoiceField(required=False, label="GPU model", initial="",
                            choices=[("", "any")] + [(k, name) for k, name in GPU_MODELS.items()])

    def clean_mfu(self) -> float:
        value = self.cleaned_data.get("mfu")
        return DEFAULT_MFU if value is None else float(value)


class TermsPublishForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea, max_length=100_000, label="Terms of use")
    url = forms.URLField(required=False, max_length=200, assume_scheme="https",
                         help_text="where the site publishes them, if anywhere")


class TermsAcceptForm(forms.Form):
    version = forms.IntegerField(min_value=1, max_value=1_000_000)
