from __future__ import annotations

from typing import Literal

from seecodes.kit.schemas import ResponseBody


class StoredObject(ResponseBody):
    ok: Literal[True] = True
    key: str
    size: int
