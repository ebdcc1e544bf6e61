"""Wire format of the shared project index. Every list and text is bounded; OpenAPI shows how."""

from __future__ import annotations

from typing import Annotated, Literal

import orjson
from pydantic import AfterValidator, Field, StringConstraints, model_validator

from seecodes.kit.schemas import RequestBody, ResponseBody

MAX_QUERY_ITEMS = 5000
MAX_UPSERT_ENTRIES = 5000
MAX_DELETE_PATHS = 5000
MAX_PATH_BYTES = 1024
MAX_SHORT_CHARS = 1000
MAX_DETAILED_CHARS = 20_000
MAX_SYMBOLS = 200
MAX_SYMBOL_CHARS = 256
MAX_DEPENDENCIES = 500
# 2100-01-01T00:00:00Z in epoch milliseconds: anything later is a unit mistake (seconds × 1000²).
MAX_EPOCH_MS = 4_102_444_800_000


def _path_fits_index(path: str) -> str:
    # The database index on path holds bytes, not characters: bound the UTF-8 length.
    if len(path.encode()) > MAX_PATH_BYTES:
        raise ValueError(f"a path may be at most {MAX_PATH_BYTES} bytes of UTF-8")
    return path


IndexPath = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_PATH_BYTES, pattern=r"^[^\x00-\x1f\x7f]+$"),
    AfterValidator(_path_fits_index),
]
FileHash = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9a-f]{64}$"),
    Field(description="SHA-256 of the file content: 64 lowercase hex digits."),
]
Symbol = Annotated[str, StringConstraints(min_length=1, max_length=MAX_SYMBOL_CHARS)]
EpochMs = Annotated[int, Field(strict=True, ge=0, le=MAX_EPOCH_MS, description="Epoch milliseconds.")]

EXAMPLE_HASH = "a" * 64


class IndexQueryItem(RequestBody):
    path: IndexPath = Field(examples=["src/auth.ts"])
    hash: FileHash = Field(examples=[EXAMPLE_HASH])


class IndexQuery(RequestBody):
    items: Annotated[list[IndexQueryItem], Field(max_length=MAX_QUERY_ITEMS)] = Field(
        description=f"At most {MAX_QUERY_ITEMS} items, each path once."
    )

    @model_validator(mode="after")
    def _paths_once(self) -> IndexQuery:
        if len({item.path for item in self.items}) != len(self.items):
            raise ValueError("each path may appear once in items")
        return self


class IndexEntryIn(RequestBody):
    hash: FileHash = Field(examples=[EXAMPLE_HASH])
    updatedAt: EpochMs | None = Field(
        default=None,
        examples=[1710000000000],
        description="Epoch milliseconds; the server's time when omitted.",
    )
    short: Annotated[str, StringConstraints(max_length=MAX_SHORT_CHARS)] = Field(
        default="", examples=["Authentication helper"]
    )
    detailed: Annotated[str, StringConstraints(max_length=MAX_DETAILED_CHARS)] = Field(
        default="", examples=["Longer explainer..."]
    )
    important_symbols: Annotated[list[Symbol], Field(max_length=MAX_SYMBOLS)] = Field(
        default_factory=list, examples=[["AuthGuard"]]
    )
    dependencies: Annotated[list[IndexPath], Field(max_length=MAX_DEPENDENCIES)] = Field(
        default_factory=list, examples=[["src/session.ts"]]
    )
    exports: Annotated[list[Symbol], Field(max_length=MAX_SYMBOLS)] = Field(
        default_factory=list, examples=[["AuthGuard"]]
    )

    def updated_at_or(self, now_ms: int) -> int:
        return self.updatedAt if self.updatedAt is not None else now_ms

    def document(self, updated_at_ms: int) -> str:
        """The entry as the query route will return it (IndexEntryOut), serialized once."""
        return orjson.dumps(
            {
                "hash": self.hash,
                "updatedAt": updated_at_ms,
                "short": self.short,
                "detailed": self.detailed,
                "important_symbols": self.important_symbols,
                "dependencies": self.dependencies,
                "exports": self.exports,
            }
        ).decode()


class IndexUpsert(RequestBody):
    entries: Annotated[dict[IndexPath, IndexEntryIn], Field(max_length=MAX_UPSERT_ENTRIES)] = Field(
        default_factory=dict, description=f"By path; at most {MAX_UPSERT_ENTRIES} entries."
    )
    deletePaths: Annotated[list[IndexPath], Field(max_length=MAX_DELETE_PATHS)] = Field(
        default_factory=list,
        examples=[["src/old-auth.ts"]],
        description=f"At most {MAX_DELETE_PATHS}; deleted in the same transaction as the upsert.",
    )

    @model_validator(mode="after")
    def _disjoint(self) -> IndexUpsert:
        if not self.entries.keys().isdisjoint(self.deletePaths):
            raise ValueError("a path cannot be both upserted and deleted")
        return self


class IndexEntryOut(ResponseBody):
    hash: str
    updatedAt: int
    short: str
    detailed: str
    important_symbols: list[str]
    dependencies: list[str]
    exports: list[str]


class IndexMatch(ResponseBody):
    pathMatched: bool = Field(
        description="true: the entry is the same path's (or, with entry null, the path is indexed "
        "with another hash and nothing reusable exists: stale)."
    )
    hashMatchedPath: str | None = Field(description="The path whose entry has the queried hash.")
    entry: IndexEntryOut | None


class IndexQueryResponse(ResponseBody):
    ok: Literal[True] = True
    updatedAt: int | None = Field(
        examples=[1710000000000], description="Epoch ms of the project's last upsert; null if never indexed."
    )
    matches: dict[str, IndexMatch] = Field(
        description="By queried path. Paths with neither a stored entry nor a reusable hash are absent."
    )


class IndexUpsertResponse(ResponseBody):
    ok: Literal[True] = True
    updatedAt: int = Field(examples=[1710000000000], description="Epoch ms of this upsert.")
    upserted: int
    deleted: int
    totalFiles: int
