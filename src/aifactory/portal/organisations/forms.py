from __future__ import annotations

from django import forms

from aifactory.portal.organisations.choices import Pledge


class SignupForm(forms.Form):
    username = forms.RegexField(regex=r"^[A-Za-z0-9@.+_-]+$", min_length=3, max_length=150)
    email = forms.EmailField()
    password = forms.CharField(widget=forms.PasswordInput, min_length=10, max_length=200)


class OrganisationForm(forms.Form):
    name = forms.CharField(min_length=2, max_length=200)
    country = forms.RegexField(regex=r"^[A-Za-z]{2}$", help_text="ISO code of the country of establishment, e.g. DE")
    headcount = forms.IntegerField(min_value=0, max_value=10_000_000, help_text="staff in annual work units")
    turnover_eur = forms.DecimalField(min_value=0, max_digits=16, decimal_places=2, label="Annual turnover (EUR)")
    balance_sheet_eur = forms.DecimalField(min_value=0, max_digits=16, decimal_places=2, label="Balance sheet (EUR)")
    sector = forms.CharField(min_length=2, max_length=100)


class PledgeForm(forms.Form):
    pledges = forms.MultipleChoiceField(choices=Pledge.choices, widget=forms.CheckboxSelectMultiple)
