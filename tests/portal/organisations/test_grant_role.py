"""The operators' command that grants and revokes roles."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from aifactory.portal.organisations.models import UserRole
from tests.conftest import UserFactory

pytestmark = pytest.mark.django_db


def run(*args):
    out = io.StringIO()
    call_command("grant_role", *args, stdout=out)
    return out.getvalue()


def test_grant_and_revoke(machines):
    UserFactory(username="ada")
    assert run("ada", "observer") == "granted observer to ada\n"
    assert run("ada", "factory_operator", "--factory", "it4lia") == "granted factory_operator of it4lia to ada\n"
    assert set(UserRole.objects.values_list("role", "factory")) == {("observer", ""), ("factory_operator", "it4lia")}
    assert run("ada", "observer", "--revoke") == "revoked observer from ada\n"
    assert run("ada", "observer", "--revoke") == "ada did not hold observer\n"


@pytest.mark.parametrize(("args", "message"), [
    (("nobody", "observer"), "signs up first"),
    (("ada", "emperor"), "unknown role"),
    (("ada", "factory_operator"), "factory"),
    (("ada", "observer", "--factory", "it4lia"), "only a factory operator"),
])
def test_refusals(machines, args, message):
    UserFactory(username="ada")
    with pytest.raises(CommandError, match=message):
        run(*args)
