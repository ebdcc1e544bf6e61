"""The lean server's routes: for each, the rows seecodes reads and writes, in one transaction."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response

from lean.db import Tx, as_utc, build_database
from lean.rules import (
    CLOCK_SKEW,
    JSON,
    MAX_PRESENTED_KEY_LENGTH,
    MAX_REQUEST_KEY_HEADER,
    NEXT_KEY_HEADER,
    NO_STORE,
    PROGRESS_FIELDS,
    REQUEST_KEY_HEADER,
    REQUEST_KEY_PREFIX,
    RUN_ID,
    SNAPSHOT_FIELDS,
    Config,
    Credentials,
    Identity,
    Permit,
    Refusal,
    activation_source,
    bearer,
    body_object,
    check_permit_row,
    hash_secret,
    hint,
    hint_mismatch,
    installation_inactive,
    invalid_fit,
    invalid_input,
    invalid_permit,
    issue_request_key,
    jira_id,
    json_body,
    json_response,
    key_refusal,
    progress_of,
    query_items,
    request_key_refusal,
    scope_mismatch,
    site_of,
    snapshot_of,
)


class Lean:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.db = build_database(
            config.database_url, pg_driver=config.pg_driver, pg_pool_size=config.pg_pool_size
        )
        self.credentials = Credentials(config)

    async def request_key(self, request: Request) -> Response:
        identity = self.credentials.fit(bearer(request, invalid_fit))
        if await request.body():
            body = await json_body(request)
            if body is not None and not isinstance(body, dict):
                raise invalid_input(["body"], "Input should be a valid dictionary", "dict_type")
        db, now = self.db, datetime.now(UTC)
        async with db.transaction(write=True) as tx:
            installation = await self._sync_installation(tx, identity, now)
            if installation != "active":
                raise installation_inactive()
            key, expires_at = await issue_request_key(
                db,
                tx,
                secrets.token_hex(16),
                identity.installation_id,
                identity.principal,
                self.config.request_key_ttl,
            )
        return json_response(
            {"ok": True, "requestKey": key, "expiresAt": expires_at}, {NEXT_KEY_HEADER: key, **NO_STORE}
        )

    async def _sync_installation(self, tx: Tx, identity: Identity, now: datetime) -> str:
        """Created on the first FIT, its FIT-asserted facts refreshed later (installations/service.py);
        returns the status."""
        db = self.db
        source = activation_source(identity)
        await tx.run(
            "INSERT INTO installations (id, cloud_id, site_url, status, app_id, environment_type,"
            " license_active, capability_set, activation_source, created_at, updated_at)"
            " VALUES (?, ?, ?, 'active', ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            (
                identity.installation_id,
                identity.cloud_id,
                identity.site_url,
                identity.app_id,
                identity.environment_type,
                identity.license_active,
                identity.capability_set,
                source,
                db.time(now),
                db.time(now),
            ),
        )
        row = await tx.one(
            "SELECT status, cloud_id, site_url, app_id, environment_type, license_active, capability_set,"
            " activation_source FROM installations WHERE id = ?",
            (identity.installation_id,),
        )
        status, cloud_id, site_url, app_id, environment_type, license_active, capability_set, activation = row
        facts = {
            "cloud_id": (cloud_id, identity.cloud_id or cloud_id),
            "site_url": (site_url, identity.site_url or site_url),
            "app_id": (app_id, identity.app_id or app_id),
            "environment_type": (environment_type, identity.environment_type),
            "license_active": (
                None if license_active is None else bool(license_active),
                identity.license_active,
            ),
            "capability_set": (capability_set, identity.capability_set),
            "activation_source": (activation, source),
        }
        changed = {name: new for name, (old, new) in facts.items() if old != new}
        if changed:
            assignments = ", ".join(f"{name} = ?" for name in changed)
            await tx.run(
                f"UPDATE installations SET {assignments}, updated_at = ? WHERE id = ?",  # noqa: S608 - names are ours
                (*changed.values(), db.time(now), identity.installation_id),
            )
        return str(status)

    async def instance(self, request: Request) -> Response:
        identity = self.credentials.fit(bearer(request, invalid_fit))
        presented = request.headers.get(REQUEST_KEY_HEADER)
        if presented is not None and len(presented) > MAX_REQUEST_KEY_HEADER:
            raise invalid_input(["header", "X-SeeCodes-Jira-Request-Key"], "too long", "string_too_long")
        cloud_hint, site_hint = hint(request, "cloudIdHint"), hint(request, "siteUrlHint")
        if not presented:
            raise key_refusal("request_key_missing")
        if not presented.startswith(REQUEST_KEY_PREFIX) or len(presented) > MAX_PRESENTED_KEY_LENGTH:
            raise key_refusal("request_key_invalid")
        db, now, key_hash = self.db, datetime.now(UTC), hash_secret(presented)
        refusal: Refusal | None = None
        async with db.transaction(write=True) as tx:
            spent = await tx.one(
                "UPDATE jira_request_keys SET consumed_at = ? WHERE key_hash = ? AND installation_id = ?"
                " AND principal = ? AND consumed_at IS NULL AND revoked_at IS NULL AND expires_at > ?"
                " RETURNING chain_id",
                (db.time(now), key_hash, identity.installation_id, identity.principal, db.time(now)),
            )
            if spent is None:
                refusal = await request_key_refusal(db, tx, key_hash, identity, now)
            else:
                next_key, _ = await issue_request_key(
                    db,
                    tx,
                    spent[0],
                    identity.installation_id,
                    identity.principal,
                    self.config.request_key_ttl,
                )
                row = await tx.one(
                    "SELECT i.cloud_id, i.status, i.instance_key_prefix, i.updated_at, i.capability_set,"
                    " i.license_active, i.activation_source, i.environment_type, i.site_url,"
                    " (SELECT COALESCE(SUM(c.delta), 0) FROM credit_ledger c WHERE c.installation_id = i.id)"
                    " FROM installations i WHERE i.id = ?",
                    (identity.installation_id,),
                )
        if refusal is not None:
            raise refusal  # after the commit: a revoked chain stays revoked
        headers = {NEXT_KEY_HEADER: next_key, **NO_STORE}
        if row is None or row[1] != "active":
            raise installation_inactive(headers)
        cloud_id, status, key_prefix, updated_at, capability, license_active, source, environment, site = row[
            :9
        ]
        if cloud_hint and cloud_hint not in {cloud_id, identity.installation_id}:
            raise hint_mismatch(headers)
        if site_hint and site and site_of(site_hint) != site_of(site):
            raise hint_mismatch(headers)
        dev_mode = environment not in (None, "PRODUCTION")
        return json_response(
            {
                "ok": True,
                "cloudId": cloud_id,
                "status": status,
                "credits": int(row[9]),
                "apiKeyPrefix": key_prefix,
                "updatedAt": int(as_utc(updated_at).timestamp()),
                "installationId": identity.installation_id,
                "capabilitySet": capability or "capabilitystandard",
                "licenseActive": bool(license_active) or dev_mode,
                "activationSource": source,
                "devModeActive": dev_mode,
                "billingMode": "forge" if source.startswith("forge") else "operator",
                "siteUrl": site,
            },
            headers,
        )

    async def progress(self, request: Request) -> Response:
        task_id = jira_id(request.path_params["taskId"], ["path", "taskId"])
        permit = self.credentials.permit(bearer(request, invalid_permit))
        document = progress_of(body_object(await json_body(request), PROGRESS_FIELDS))
        db, now = self.db, datetime.now(UTC)
        async with db.transaction(write=True) as tx:
            await check_permit_row(tx, permit)
            if task_id != permit.task_id:
                raise scope_mismatch()
            report = await tx.one(
                "INSERT INTO progress_reports (installation_id, project_id, task_id, user_account_id, ready,"
                ' "left", progress, confidence, risks, logs, created_at)'
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    permit.installation_id,
                    permit.project_id,
                    permit.task_id,
                    permit.user_account_id,
                    db.json(document["ready"]),
                    db.json(document["left"]),
                    document["progress"],
                    document["confidence"],
                    db.json(document["risks"]),
                    db.json(document["logs"]),
                    db.time(now),
                ),
            )
            await self._request_writeback(tx, permit, report[0], now)
        return json_response({"ok": True})

    async def _request_writeback(self, tx: Tx, permit: Permit, report_id: int, now: datetime) -> None:
        """jira/writeback.progress_saved: only an installation that can write to Jira records the
        request. (seecodes also enqueues the debounced write after the commit; a lean server has no
        job engine, and the bench's installation has no Jira connection.)"""
        db = self.db
        can_write = await tx.one(
            "SELECT EXISTS (SELECT 1 FROM jira_connections WHERE installation_id = ? AND status = 'active'"
            " AND reauthorization_required_at IS NULL)"
            " OR EXISTS (SELECT 1 FROM jira_forge_tokens WHERE installation_id = ? AND expires_at > ?)",
            (permit.installation_id, permit.installation_id, db.time(now)),
        )
        if not can_write[0]:
            return
        await tx.run(
            "INSERT INTO jira_issue_syncs (installation_id, project_id, task_id, requested_report_id,"
            " requested_at, writes) VALUES (?, ?, ?, ?, ?, 0)"
            " ON CONFLICT (installation_id, project_id, task_id) DO UPDATE SET"
            " requested_report_id = excluded.requested_report_id, requested_at = excluded.requested_at"
            " WHERE jira_issue_syncs.requested_report_id < excluded.requested_report_id",
            (permit.installation_id, permit.project_id, permit.task_id, report_id, db.time(now)),
        )

    async def run_status(self, request: Request) -> Response:
        run_id = request.path_params["runId"]
        if len(run_id) > 40 or not RUN_ID.match(run_id):
            raise invalid_input(["path", "runId"], "not a run id", "string_pattern_mismatch")
        permit = self.credentials.permit(bearer(request, invalid_permit))
        async with self.db.transaction(write=False) as tx:
            await check_permit_row(tx, permit)
            run = await tx.one(
                "SELECT status, updated_at, error FROM runs WHERE installation_id = ? AND project_id = ?"
                " AND task_id = ? AND id = ?",
                (permit.installation_id, permit.project_id, permit.task_id, run_id),
            )
        if run is None:
            raise Refusal(404, "run_not_found", "No run with this id exists for the permit's task.")
        status, updated_at, error = run
        # A succeeded run's resultZipUrl is a signed storage URL in seecodes; the lean server does not
        # sign one (the bench's run never succeeds), so it answers null like for every other state.
        return json_response(
            {
                "ok": True,
                "status": {
                    "status": status,
                    "updatedAt": as_utc(updated_at).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "error": error,
                    "resultZipUrl": None,
                },
            }
        )

    async def activity_snapshot(self, request: Request) -> Response:
        permit = self.credentials.permit(bearer(request, invalid_permit))
        snapshot = snapshot_of(body_object(await json_body(request), SNAPSHOT_FIELDS))
        if snapshot["taskId"] is not None or snapshot["projectId"] is not None:
            task = snapshot["taskId"] or permit.task_id
            project = snapshot["projectId"]
            if task != permit.task_id or (project is not None and project != permit.project_id):
                raise scope_mismatch()
        now = datetime.now(UTC)
        if snapshot["window_ended_at"] > now + CLOCK_SKEW:
            raise invalid_input(["body", "windowEndedAt"], "windowEndedAt is in the future.")
        db = self.db
        started, ended = snapshot["window_started_at"], snapshot["window_ended_at"]
        owner = (permit.installation_id, permit.project_id, permit.task_id, permit.user_account_id)
        async with db.transaction(write=True) as tx:
            await check_permit_row(tx, permit)
            inserted = await tx.one(
                "INSERT INTO activity_snapshots (installation_id, project_id, task_id, user_account_id,"
                " window_started_at, window_ended_at, task_started_at, task_age_minutes, human_active_ms,"
                " loc_added, loc_removed, loc_total, changed_files, changed_files_count, architecture_change,"
                " logic_change, specification_ui_change, effort_units, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (installation_id, project_id, task_id, user_account_id, window_started_at,"
                " window_ended_at) DO NOTHING RETURNING id",
                (
                    *owner,
                    db.time(started),
                    db.time(ended),
                    db.time(snapshot["task_started_at"]) if snapshot["task_started_at"] else None,
                    snapshot["task_age_minutes"],
                    snapshot["human_active_ms"],
                    snapshot["loc_added"],
                    snapshot["loc_removed"],
                    snapshot["loc_total"],
                    db.json(snapshot["changed_files"]),
                    snapshot["changed_files_count"],
                    snapshot["architecture_change"],
                    snapshot["logic_change"],
                    snapshot["specification_ui_change"],
                    snapshot["effort_units"],
                    db.time(now),
                ),
            )
            if inserted is not None:
                await self._add_to_daily(tx, owner, snapshot)
                stored, ended_at, units = True, ended, snapshot["effort_units"]
            else:
                existing = await tx.one(
                    "SELECT window_ended_at, effort_units FROM activity_snapshots WHERE installation_id = ?"
                    " AND project_id = ? AND task_id = ? AND user_account_id = ? AND window_started_at = ?"
                    " AND window_ended_at = ?",
                    (*owner, db.time(started), db.time(ended)),
                )
                stored, ended_at, units = False, as_utc(existing[0]), int(existing[1])
        return json_response(
            {
                "ok": True,
                "stored": stored,
                "timestamp": ended_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "effortUnits": units,
            }
        )

    async def _add_to_daily(self, tx: Tx, owner: tuple[str, ...], snapshot: dict[str, Any]) -> None:
        db = self.db
        least, greatest = db.least_greatest()
        summed = (
            "snapshots",
            "effort_units",
            "human_active_ms",
            "loc_changed",
            "files_changed",
            "architecture_changes",
            "logic_changes",
            "specification_ui_changes",
        )
        changes = ", ".join(f"{name} = activity_daily.{name} + excluded.{name}" for name in summed)
        day: date = snapshot["window_ended_at"].astimezone(UTC).date()
        await tx.run(
            "INSERT INTO activity_daily (installation_id, project_id, task_id, user_account_id, day,"  # noqa: S608
            f" {', '.join(summed)}, first_started_at, last_ended_at)"
            " VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (installation_id, project_id, task_id, user_account_id, day) DO UPDATE SET"
            f" {changes},"
            f" first_started_at = {least}(activity_daily.first_started_at, excluded.first_started_at),"
            f" last_ended_at = {greatest}(activity_daily.last_ended_at, excluded.last_ended_at)",
            (
                *owner,
                day.isoformat() if db.dialect == "sqlite" else day,
                snapshot["effort_units"],
                snapshot["human_active_ms"],
                snapshot["loc_total"],
                snapshot["changed_files_count"],
                int(snapshot["architecture_change"]),
                int(snapshot["logic_change"]),
                int(snapshot["specification_ui_change"]),
                db.time(snapshot["window_started_at"]),
                db.time(snapshot["window_ended_at"]),
            ),
        )

    async def index_query(self, request: Request) -> Response:
        project_id = jira_id(request.path_params["projectId"], ["path", "projectId"])
        permit = self.credentials.permit(bearer(request, invalid_permit))
        body = body_object(await json_body(request), frozenset({"items"}))
        items = query_items(body)
        db = self.db
        scope = (permit.installation_id, project_id)
        entry_sql = (
            "SELECT path, hash, document FROM project_index_entries WHERE installation_id = ?"  # noqa: S608
            f" AND project_id = ? AND {db.any_of('path')}"
        )
        matches: dict[str, tuple[bool, str | None, str | None]] = {}
        async with db.transaction(write=False) as tx:
            await check_permit_row(tx, permit)
            if project_id != permit.project_id:
                raise scope_mismatch()
            state = await tx.one(
                "SELECT updated_at_ms FROM project_indexes WHERE installation_id = ? AND project_id = ?",
                scope,
            )
            if state is not None and items:
                rows = await tx.all(entry_sql, (*scope, db.values([path for path, _ in items])))
                same_path = {path: (file_hash, document) for path, file_hash, document in rows}
                unmatched = []
                for path, file_hash in items:
                    stored = same_path.get(path)
                    if stored is not None and stored[0] == file_hash:
                        matches[path] = (True, path, stored[1])
                    else:
                        unmatched.append((path, file_hash))
                if unmatched:
                    hashes = sorted({file_hash for _, file_hash in unmatched})
                    reusable_path = dict(
                        await tx.all(
                            "SELECT hash, MIN(path) FROM project_index_entries WHERE installation_id = ?"  # noqa: S608
                            f" AND project_id = ? AND {db.any_of('hash')} GROUP BY hash",
                            (*scope, db.values(hashes)),
                        )
                    )
                    others = sorted(set(reusable_path.values()))
                    reusable = {
                        path: document
                        for path, _, document in await tx.all(entry_sql, (*scope, db.values(others)))
                    }
                    for path, file_hash in unmatched:
                        other = reusable_path.get(file_hash)
                        other_entry = reusable.get(other) if other is not None else None
                        if other is not None and other_entry is not None:
                            matches[path] = (False, other, other_entry)
                        elif path in same_path:
                            matches[path] = (True, None, None)  # stale: re-index this file
        return Response(
            orjson.dumps(
                {
                    "ok": True,
                    "updatedAt": state[0] if state is not None else None,
                    "matches": {
                        path: {
                            "pathMatched": path_matched,
                            "hashMatchedPath": matched_path,
                            "entry": orjson.Fragment(entry) if entry is not None else None,
                        }
                        for path, (path_matched, matched_path, entry) in matches.items()
                    },
                }
            ),
            media_type=JSON,
        )
