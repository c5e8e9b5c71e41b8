from __future__ import annotations

from django import forms


class ReleaseForm(forms.Form):
    licence = forms.CharField(max_length=500, label="Licence (SPDX expression)",
                              help_text="e.g. Apache-2.0, CC-BY-NC-4.0, MIT OR Apache-2.0")
    url = forms.URLField(max_length=500, label="Where the model is released", assume_scheme="https")


class PublicationForm(forms.Form):
    identifier = forms.CharField(max_length=300, label="DOI or arXiv id", help_text="10.xxxx/... or 2401.01234")
