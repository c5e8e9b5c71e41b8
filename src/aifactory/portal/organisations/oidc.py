"""Federated login through OpenID Connect (MyAccessID in production), with Authlib's Django client.

Authlib does the protocol: the authorization-code flow, the state and nonce kept in the session and used once, the
token request, and the ID token's checks (signature against the provider's published keys, issuer, audience,
expiry, nonce, at_hash). This module only builds the client from the settings and turns Authlib's errors into the
portal's refusals; `person_login_federated` (services) maps the claims to a person.

Settings: OIDC_ISSUER, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_SCOPES, OIDC_LEEWAY_S (see settings.py).
"""

from __future__ import annotations

import threading
from typing import Any

from authlib.common.errors import AuthlibBaseError
from authlib.integrations.django_client import OAuth
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from joserfc.errors import JoseError

from aifactory.portal.common.errors import BadRequest

_lock = threading.Lock()
_clients: dict[tuple[str, str, str, str], Any] = {}


def oidc_enabled() -> bool:
    return bool(settings.OIDC_ISSUER and settings.OIDC_CLIENT_ID)


def oidc_client() -> Any:
    """The Authlib client for the configured provider (one per configuration; it caches the provider's metadata
    and keys, and fetches the keys again when the provider rotates them)."""
    key = (settings.OIDC_ISSUER.rstrip("/"), settings.OIDC_CLIENT_ID, settings.OIDC_CLIENT_SECRET, settings.OIDC_SCOPES)
    with _lock:
        client = _clients.get(key)
        if client is None:
            oauth = OAuth()
            client = oauth.register(
                name="oidc", client_id=key[1], client_secret=key[2],
                server_metadata_url=f"{key[0]}/.well-known/openid-configuration",
                client_kwargs={"scope": key[3], "timeout": 10},
            )
            _clients[key] = client
        return client


def _refusal(exc: Exception) -> BadRequest:
    what = getattr(exc, "error", "") or type(exc).__name__
    description = getattr(exc, "description", "") or str(exc)
    if what == "mismatching_state":
        description = "this sign-in link was used already or has expired; start again"
    elif "'aud'" in description or "'azp'" in description:
        description = f"the ID token was issued for another audience than this portal ({description})"
    return BadRequest(f"login: the identity provider's answer was refused ({what}: {description})",
                      {"field": "login", "error": what})


def login_redirect(request: HttpRequest, redirect_uri: str) -> HttpResponse:
    """Send the person to the provider; the state and nonce are kept in their session."""
    try:
        response: HttpResponse = oidc_client().authorize_redirect(request, redirect_uri)
    except (AuthlibBaseError, JoseError, OSError, ValueError) as exc:
        raise _refusal(exc) from exc
    return response


def login_complete(request: HttpRequest) -> tuple[str, dict[str, Any]]:
    """The provider's answer at the callback: the issuer and the ID token's verified claims. The state is used once
    (a replayed answer is refused), and an answer without a verified ID token is refused."""
    client = oidc_client()
    try:
        token = client.authorize_access_token(request, leeway=settings.OIDC_LEEWAY_S)
    except (AuthlibBaseError, JoseError, OSError, ValueError) as exc:
        raise _refusal(exc) from exc
    userinfo = token.get("userinfo")
    if not userinfo:
        raise BadRequest("login: the identity provider sent no ID token", {"field": "login"})
    return str(client.load_server_metadata()["issuer"]), dict(userinfo)


def id_token_verify(id_token: str, *, nonce: str, access_token: str | None = None) -> dict[str, Any]:
    """Verify an ID token as the callback does (signature, issuer, audience, expiry, nonce) and return its claims."""
    token: dict[str, Any] = {"id_token": id_token}
    if access_token:
        token["access_token"] = access_token
    try:
        return dict(oidc_client().parse_id_token(token, nonce=nonce, leeway=settings.OIDC_LEEWAY_S))
    except (AuthlibBaseError, JoseError, ValueError) as exc:
        raise _refusal(exc) from exc
