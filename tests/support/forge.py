"""A stand-in for Atlassian's Forge: a signing key, its JWKS file, FITs, and a Jira App client that
follows request-key rotation the way the real app must."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

from seecodes.security.dev_keys import jwks_document, mint_forge_token

TEST_APP_ID = "ari:cloud:ecosystem::app/8db33809-1f32-48bb-8c52-5877dab48107"
TEST_KID = "test-forge-key-1"
INSTALLATION_A = "ari:cloud:ecosystem::installation/0a3a7799-0000-4000-8000-00000000000a"
INSTALLATION_B = "ari:cloud:ecosystem::installation/0a3a7799-0000-4000-8000-00000000000b"
CLOUD_A = "d0d52620-3203-4cfa-8db5-f2587155f0dd"
CLOUD_B = "e1e63731-4314-4dfb-9ec6-03698266a1ee"
SITE_A = "https://tenant-a.atlassian.net"
SITE_B = "https://tenant-b.atlassian.net"
USER_A = "557058:aaaa-1111"
USER_B = "557058:bbbb-2222"
REQUEST_KEY_HEADER = "X-SeeCodes-Jira-Request-Key"
NEXT_KEY_HEADER = "X-SeeCodes-Next-Request-Key"


@dataclass
class FakeForge:
    key: rsa.RSAPrivateKey
    jwks_path: Path
    app_id: str = TEST_APP_ID

    @classmethod
    def create(cls, directory: Path) -> FakeForge:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        path = directory / "jwks.json"
        path.write_text(json.dumps(jwks_document(key, kid=TEST_KID)))
        return cls(key=key, jwks_path=path)

    def fit(
        self,
        *,
        installation: str = INSTALLATION_A,
        cloud_id: str = CLOUD_A,
        principal: str | None = USER_A,
        site_url: str | None = SITE_A,
        now: int | None = None,
        lifetime: int = 25,
        **overrides: Any,
    ) -> str:
        return mint_forge_token(
            self.key,
            app_id=overrides.pop("app_id", self.app_id),
            installation_id=installation,
            cloud_id=cloud_id,
            principal=principal,
            site_url=site_url,
            now=int(time.time()) if now is None else now,
            lifetime_seconds=lifetime,
            kid=overrides.pop("kid", TEST_KID),
            **overrides,
        )


@dataclass
class JiraAppClient:
    """Calls Jira App routes with a fresh FIT and the current request key, rotating on every reply."""

    http: httpx.AsyncClient
    forge: FakeForge
    fit_claims: dict[str, Any] = field(default_factory=dict)
    request_key: str | None = None

    def fit(self) -> str:
        return self.forge.fit(**self.fit_claims)

    async def bootstrap(self) -> httpx.Response:
        response = await self.http.post(
            "/v1/jira/request-key", headers={"Authorization": f"Bearer {self.fit()}"}
        )
        assert response.status_code == 200, response.text
        self.request_key = response.json()["requestKey"]
        return response

    async def call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        if self.request_key is None:
            await self.bootstrap()
        headers = {"Authorization": f"Bearer {self.fit()}", REQUEST_KEY_HEADER: str(self.request_key)}
        headers.update(kwargs.pop("headers", {}))
        response = await self.http.request(method, url, headers=headers, **kwargs)
        if NEXT_KEY_HEADER in response.headers:
            self.request_key = response.headers[NEXT_KEY_HEADER]
        return response

    async def permit(self, project: str = "AUTH", task: str = "AUTH-128", **body: Any) -> str:
        response = await self.call(
            "POST", "/v1/security/task-permit", json={"projectId": project, "taskId": task, **body}
        )
        assert response.status_code == 200, response.text
        return str(response.json()["permit"])
