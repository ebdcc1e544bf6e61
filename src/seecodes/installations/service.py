"""Installation state: created from the first valid FIT, kept current from later ones."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.errors import HintMismatch, InstallationInactive, InvalidInput, NotFound
from seecodes.installations import repository
from seecodes.kit.clock import Clock, to_epoch
from seecodes.models import CreditLedgerEntry, Installation
from seecodes.models.installation import InstallationStatus
from seecodes.security.forge import ForgeIdentity

MAX_CREDIT_GRANT = 10**9


async def sync_from_forge(session: AsyncSession, clock: Clock, identity: ForgeIdentity) -> Installation:
    """Create the installation on its first FIT; afterwards refresh the facts the FIT asserts."""
    now = clock.utcnow()
    await repository.insert_if_absent(
        session,
        {
            "id": identity.installation_id,
            "cloud_id": identity.cloud_id,
            "site_url": identity.site_url,
            "status": InstallationStatus.ACTIVE.value,
            "app_id": identity.app_id,
            "environment_type": identity.environment_type,
            "license_active": identity.license_active,
            "capability_set": identity.capability_set,
            "activation_source": _activation_source(identity),
            "created_at": now,
            "updated_at": now,
        },
    )
    installation = await repository.get(session, identity.installation_id)
    assert installation is not None
    facts = {
        "cloud_id": identity.cloud_id or installation.cloud_id,
        "site_url": identity.site_url or installation.site_url,
        "app_id": identity.app_id or installation.app_id,
        "environment_type": identity.environment_type,
        "license_active": identity.license_active,
        "capability_set": identity.capability_set,
        "activation_source": _activation_source(identity),
    }
    changed = {name: value for name, value in facts.items() if getattr(installation, name) != value}
    if changed:
        for name, value in changed.items():
            setattr(installation, name, value)
        installation.updated_at = now
        await session.flush()
    return installation


def _activation_source(identity: ForgeIdentity) -> str:
    if identity.license_active is not None:
        return "forge-license"
    return "forge-development" if identity.environment_type != "PRODUCTION" else "forge-unlicensed"


async def require_active(session: AsyncSession, installation_id: str) -> Installation:
    installation = await repository.get(session, installation_id)
    if installation is None:
        raise NotFound("This installation is unknown.")
    if not installation.is_active:
        raise InstallationInactive()
    return installation


def check_hints(installation: Installation, cloud_id_hint: str | None, site_url_hint: str | None) -> None:
    """Hints may only confirm the credential's own site; they never select another tenant.

    A cloudIdHint may be the site UUID or the installation ARI (the contract's examples use the
    ARI in `cloudId` fields). A hint is checked against what we know; a fact we do not know yet
    cannot be contradicted.
    """
    check_cloud_hint(cloud_id_hint, cloud_id=installation.cloud_id, installation_id=installation.id)
    if site_url_hint and installation.site_url and _site(site_url_hint) != _site(installation.site_url):
        raise HintMismatch()


def check_cloud_hint(hint: str | None, *, cloud_id: str | None, installation_id: str) -> None:
    if hint and hint not in {cloud_id, installation_id}:
        raise HintMismatch()


def _site(url: str) -> str:
    return url.strip().rstrip("/").lower()


@dataclass(frozen=True, slots=True)
class InstallationView:
    installation: Installation
    credits: int


async def describe(session: AsyncSession, installation: Installation) -> InstallationView:
    return InstallationView(installation, await repository.credit_balance(session, installation.id))


def updated_at_epoch(installation: Installation) -> int:
    return to_epoch(installation.updated_at)


async def grant_credits(
    session: AsyncSession, clock: Clock, *, installation_id: str, amount: int, reference: str | None = None
) -> int:
    """Write a grant to the ledger and return the new balance."""
    if not 0 < amount <= MAX_CREDIT_GRANT:
        raise InvalidInput(f"A grant must be between 1 and {MAX_CREDIT_GRANT} credits.")
    await require_active(session, installation_id)
    session.add(
        CreditLedgerEntry(
            installation_id=installation_id,
            delta=amount,
            kind="grant",
            reference=reference,
            created_at=clock.utcnow(),
        )
    )
    await session.flush()
    return await repository.credit_balance(session, installation_id)


async def adjust_credits(
    session: AsyncSession, clock: Clock, *, installation_id: str, delta: int, reason: str
) -> int:
    """An operator's correction, up or down, with its reason: a ledger row like any other (nothing is
    edited away). It may not take the balance below zero: what runs have reserved stays theirs."""
    if delta == 0 or abs(delta) > MAX_CREDIT_GRANT:
        raise InvalidInput(f"An adjustment must be between 1 and {MAX_CREDIT_GRANT} credits, up or down.")
    if not reason.strip():
        raise InvalidInput("An adjustment needs a reason.")
    await require_active(session, installation_id)
    balance = await repository.credit_balance(session, installation_id)
    if balance + delta < 0:
        raise InvalidInput(f"The balance is {balance}: an adjustment of {delta} would take it below zero.")
    session.add(
        CreditLedgerEntry(
            installation_id=installation_id,
            delta=delta,
            kind="adjustment",
            reference=reason.strip()[:200],
            created_at=clock.utcnow(),
        )
    )
    await session.flush()
    return await repository.credit_balance(session, installation_id)


MAX_RUN_CONCURRENCY = 10_000


async def set_run_concurrency(
    session: AsyncSession, clock: Clock, *, installation_id: str, cap: int | None
) -> Installation:
    """An operator's cap on the installation's runs executing at once per model; None: the
    deployment's default. Applies to runs started from now on (queued ones keep their slot)."""
    if cap is not None and not 1 <= cap <= MAX_RUN_CONCURRENCY:
        raise InvalidInput(f"A run concurrency cap must be between 1 and {MAX_RUN_CONCURRENCY}.")
    installation = await require_active(session, installation_id)
    installation.run_concurrency = cap
    installation.updated_at = clock.utcnow()
    await session.flush()
    return installation
