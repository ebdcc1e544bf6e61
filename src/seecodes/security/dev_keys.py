"""The local Forge stand-in for development and tests: an RSA key pair and FITs it signs.

Production never trusts this key: the server only builds a verifier from it when
SEECODES_ENV=dev and no JWKS URL is configured, and `seecodes admin forge-token` refuses to run
in production.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from seecodes.security.forge import FIT_ALGORITHM, FIT_ISSUER

DEV_KEY_ID = "seecodes-dev-forge-key"


def load_or_create_private_key(path: Path) -> rsa.RSAPrivateKey:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path.write_bytes(pem)
        path.chmod(0o600)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise ValueError(f"{path} does not hold an RSA private key")
    return loaded


def jwks_document(key: rsa.RSAPrivateKey, kid: str = DEV_KEY_ID) -> dict[str, Any]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid=kid, alg=FIT_ALGORITHM, use="sig")
    return {"keys": [jwk]}


def mint_forge_token(
    key: rsa.RSAPrivateKey,
    *,
    app_id: str,
    installation_id: str,
    cloud_id: str,
    principal: str | None,
    site_url: str | None = None,
    now: int,
    lifetime_seconds: int = 25,
    kid: str = DEV_KEY_ID,
    environment_type: str = "DEVELOPMENT",
    license_claim: dict[str, Any] | None = None,
    extra_claims: dict[str, Any] | None = None,
) -> str:
    """A FIT shaped like Forge's: app, context and principal claims, 25 s lifetime by default."""
    app: dict[str, Any] = {
        "id": app_id,
        "installationId": installation_id,
        "apiBaseUrl": f"https://api.atlassian.com/ex/jira/{cloud_id}",
        "environment": {"type": environment_type},
        "module": {"type": "xen:macro", "key": "seecodes-panel"},
    }
    if license_claim is not None:
        app["license"] = license_claim
    claims: dict[str, Any] = {
        "iss": FIT_ISSUER,
        "aud": app_id,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime_seconds,
        "jti": str(uuid.uuid4()),
        "app": app,
        "context": {"cloudId": cloud_id, **({"siteUrl": site_url} if site_url else {})},
    }
    if principal:
        claims["principal"] = principal
    claims.update(extra_claims or {})
    return jwt.encode(claims, key, algorithm=FIT_ALGORITHM, headers={"kid": kid})
