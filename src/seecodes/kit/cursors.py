"""Opaque page cursors: the (moment, id) of the last row of the previous page, newest first."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Annotated

from fastapi import Query

from seecodes.errors import InvalidInput


def encode_cursor(moment: datetime | None, row_id: str) -> str:
    raw = json.dumps([moment.isoformat() if moment else None, row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created_at, row_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        moment = datetime.fromisoformat(created_at)
    except (ValueError, TypeError) as error:
        raise InvalidInput("The cursor is not one this server issued.") from error
    if moment.tzinfo is None:  # ours always carry their UTC offset
        raise InvalidInput("The cursor is not one this server issued.")
    return moment, str(row_id)


# The query parameters of every paged list route: a page of at most 100, and the cursor a previous
# page answered as `nextCursor`.
PageLimit = Annotated[int, Query(ge=1, le=100, description="How many items, at most 100.")]
PageCursor = Annotated[str | None, Query(max_length=200, description="The previous page's `nextCursor`.")]
