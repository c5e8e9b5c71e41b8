from __future__ import annotations

from typing import Any

from django import forms

from aifactory.core.sshcert import MAX_KEY_TEXT


class SshKeyForm(forms.Form):
    public_key = forms.CharField(
        label="Public key", required=False, max_length=MAX_KEY_TEXT,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "autocomplete": "off"}),
        help_text="Paste the one line of your .pub file, e.g. ~/.ssh/id_ed25519.pub (never the private key).",
    )
    key_file = forms.FileField(label="Or upload the .pub file", required=False)
    name = forms.CharField(label="Name", required=False, max_length=60, help_text="optional, e.g. laptop")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        upload = data.get("key_file")
        if upload is not None:
            if upload.size > MAX_KEY_TEXT:
                self.add_error("key_file", f"a public key file is at most {MAX_KEY_TEXT} bytes")
                return data
            try:
                data["public_key"] = upload.read().decode("ascii")
            except UnicodeDecodeError:
                self.add_error("key_file", "a public key file is plain ASCII text")
                return data
        if not data.get("public_key", "").strip():
            self.add_error("public_key", "paste a public key or upload its .pub file")
        return data


class CertificateForm(forms.Form):
    key = forms.TypedChoiceField(label="Key", coerce=int)
    account = forms.TypedChoiceField(label="Site account", coerce=int,
                                     help_text="the certificate logs in as this user name at this site")
    hours = forms.FloatField(label="Valid for (hours)", required=False, min_value=0.01)

    def __init__(self, *args: Any, keys: list[tuple[int, str]], accounts: list[tuple[int, str]],
                 default_hours: float, max_hours: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["key"].choices = keys  # type: ignore[attr-defined]
        self.fields["account"].choices = accounts  # type: ignore[attr-defined]
        self.fields["hours"].help_text = f"{default_hours:g} when left empty, at most {max_hours:g}"
        self.fields["hours"].widget.attrs.update({"max": f"{max_hours:g}", "step": "any",
                                                  "placeholder": f"{default_hours:g}"})
