from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import forms

from aifactory.portal.organisations.choices import Pledge, TeamRole
from aifactory.portal.organisations.services import RelatedFigures


class SignupForm(forms.Form):
    username = forms.RegexField(regex=r"^[A-Za-z0-9@.+_-]+$", min_length=3, max_length=150)
    email = forms.EmailField()
    password = forms.CharField(widget=forms.PasswordInput, min_length=10, max_length=200)


class OrganisationForm(forms.Form):
    name = forms.CharField(min_length=2, max_length=200)
    country = forms.RegexField(regex=r"^[A-Za-z]{2}$", help_text="ISO code of the country of establishment, e.g. DE")
    headcount = forms.DecimalField(min_value=0, max_value=10_000_000, decimal_places=2,
                                   help_text="staff in annual work units; fractions for part-time and seasonal staff")
    turnover_eur = forms.DecimalField(min_value=0, max_digits=16, decimal_places=2, label="Annual turnover (EUR)")
    balance_sheet_eur = forms.DecimalField(min_value=0, max_digits=16, decimal_places=2, label="Balance sheet (EUR)")
    sector = forms.CharField(min_length=2, max_length=100)
    related = forms.CharField(
        required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 3}),
        label="Partner and linked enterprises, one per line (optional)",
        help_text="relation; name; share held in %; staff; turnover EUR; balance sheet EUR. A partner is held 25 % "
        "to 50 % (either way) and counts by its share; a linked enterprise (control) counts in full, write 100 as "
        "its share. Example: partner; Acme Holding; 30; 120; 9000000; 7000000",
    )

    def clean_related(self) -> list[RelatedFigures]:
        out: list[RelatedFigures] = []
        for number, line in enumerate((self.cleaned_data.get("related") or "").splitlines(), start=1):
            if not line.strip():
                continue
            parts = [p.strip() for p in line.split(";")]
            if len(parts) != 6:
                raise forms.ValidationError(
                    f"line {number}: write six parts separated by ';' (relation; name; share %; staff; turnover; "
                    f"balance sheet), not {len(parts)}"
                )
            relation, name, share, staff, turnover, balance = parts
            if relation.lower() not in ("partner", "linked"):
                raise forms.ValidationError(f"line {number}: the relation is 'partner' or 'linked', not {relation!r}")
            if not name or len(name) > 200:
                raise forms.ValidationError(f"line {number}: the name is missing or longer than 200 characters")
            try:
                share_pct, staff_n = Decimal(share.rstrip("% ")), Decimal(staff)
                turnover_eur, balance_eur = Decimal(turnover.replace(",", "")), Decimal(balance.replace(",", ""))
            except InvalidOperation:
                raise forms.ValidationError(
                    f"line {number}: share, staff, turnover and balance sheet are plain numbers"
                ) from None
            numbers = (share_pct, staff_n, turnover_eur, balance_eur)
            if not all(n.is_finite() and 0 <= n <= Decimal("1e13") for n in numbers):
                raise forms.ValidationError(f"line {number}: the numbers must be 0 or more and at most 10^13")
            out.append(RelatedFigures(
                name=name, relation=relation.lower(), headcount=float(staff_n), turnover_eur=turnover_eur,
                balance_sheet_eur=balance_eur, share=1.0 if relation.lower() == "linked" else float(share_pct) / 100,
            ))
        if len(out) > 50:
            raise forms.ValidationError("at most 50 related enterprises")
        return out


class PledgeForm(forms.Form):
    pledges = forms.MultipleChoiceField(choices=Pledge.choices, widget=forms.CheckboxSelectMultiple)


class InvitationForm(forms.Form):
    email = forms.EmailField(max_length=254, help_text="the colleague's address; the link is e-mailed to it")
    role = forms.ChoiceField(choices=TeamRole.choices, initial=TeamRole.MEMBER)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=TeamRole.choices)
