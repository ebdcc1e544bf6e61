"""The seed-000 compatibility bridge, off unless SEECODES_LEGACY_BRIDGE_ENABLED.

Safer than the original: `POST /public/connect` needs a one-time enrollment token an operator
issued for that exact cloudId (the original handed keys to anyone who named a cloudId), and the
instance key and link secret are shown once and stored only as hashes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.errors import EnrollmentRejected, InstanceKeyRejected
from seecodes.installations import repository
from seecodes.kit.clock import Clock, to_epoch
from seecodes.kit.secrets import display_prefix, hash_secret, new_secret, same_secret
from seecodes.models import EnrollmentToken, Installation
from seecodes.models.installation import InstallationStatus
from seecodes.security.forge import INSTALLATION_ARI_PREFIX

ENROLLMENT_TOKEN_PREFIX = "sc_enroll_"  # noqa: S105 - a prefix, not a secret
INSTANCE_KEY_PREFIX = "av_inst_"
LINK_SECRET_PREFIX = "sc_link_"  # noqa: S105 - a prefix, not a secret


@dataclass(frozen=True, slots=True)
class IssuedEnrollmentToken:
    token: str
    cloud_id: str
    expires_at: int


@dataclass(frozen=True, slots=True)
class ConnectedInstallation:
    installation: Installation
    api_key: str
    link_secret: str


async def create_enrollment_token(
    session: AsyncSession, clock: Clock, *, cloud_id: str, ttl_seconds: int
) -> IssuedEnrollmentToken:
    token = new_secret(ENROLLMENT_TOKEN_PREFIX)
    now = clock.utcnow()
    row = EnrollmentToken(
        token_hash=hash_secret(token),
        cloud_id=cloud_id,
        created_at=now,
        expires_at=now + timedelta(seconds=ttl_seconds),
    )
    session.add(row)
    await session.flush()
    return IssuedEnrollmentToken(token=token, cloud_id=cloud_id, expires_at=to_epoch(row.expires_at))


async def connect(
    session: AsyncSession, clock: Clock, *, enrollment_token: str, cloud_id: str
) -> ConnectedInstallation:
    """Spend the enrollment token and (re)issue the site's instance key and link secret."""
    now = clock.utcnow()
    token_id = (
        await session.execute(
            update(EnrollmentToken)
            .where(
                EnrollmentToken.token_hash == hash_secret(enrollment_token),
                EnrollmentToken.cloud_id == cloud_id,
                EnrollmentToken.consumed_at.is_(None),
                EnrollmentToken.expires_at > now,
            )
            .values(consumed_at=now)
            .returning(EnrollmentToken.id)
        )
    ).scalar_one_or_none()
    if token_id is None:
        raise EnrollmentRejected()

    installation = await repository.newest_for_cloud(session, cloud_id)
    if installation is None:
        installation = Installation(
            id=INSTALLATION_ARI_PREFIX + str(uuid.uuid4()),
            cloud_id=cloud_id,
            status=InstallationStatus.ACTIVE.value,
            activation_source="legacy-connect",
            created_at=now,
            updated_at=now,
        )
        session.add(installation)
    api_key = new_secret(INSTANCE_KEY_PREFIX)
    link_secret = new_secret(LINK_SECRET_PREFIX)
    installation.instance_key_hash = hash_secret(api_key)
    installation.instance_key_prefix = display_prefix(api_key, INSTANCE_KEY_PREFIX)
    installation.link_secret_hash = hash_secret(link_secret)
    installation.updated_at = now
    await session.flush()
    await session.execute(
        update(EnrollmentToken).where(EnrollmentToken.id == token_id).values(installation_id=installation.id)
    )
    return ConnectedInstallation(installation, api_key, link_secret)


async def authenticate_instance(session: AsyncSession, *, cloud_id: str, instance_key: str) -> Installation:
    if not instance_key.startswith(INSTANCE_KEY_PREFIX) or len(instance_key) > 128:
        raise InstanceKeyRejected()
    installation = await repository.by_instance_key_hash(session, cloud_id, hash_secret(instance_key))
    if installation is None or not same_secret(instance_key, installation.instance_key_hash or ""):
        raise InstanceKeyRejected()
    return installation
