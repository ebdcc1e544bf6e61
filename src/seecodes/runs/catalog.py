"""The model catalog: each alias a client may pick, its limits and price, and the provider behind it.

Read once at startup from the TOML file named by SEECODES_MODELS_FILE, or the built-in catalog
below when none is given. The catalog holds only the *name* of the environment variable that
carries a provider key; the key itself is read through `config.provider_api_key` when a provider
is built, so it never sits in the catalog, a log line or a response.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from seecodes.config import SettingsError, provider_api_key
from seecodes.errors import ModelUnavailable, UnknownModel
from seecodes.runs.providers.base import ProviderKind
from seecodes.runs.providers.local import LOCAL_MODEL_MAX_CONTEXT, LOCAL_MODEL_NAME, local_model_problem

ModelAlias = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._:/-]*$")
]
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]


class CatalogError(SettingsError):
    """The models file cannot be used; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProviderSpec(_Strict):
    kind: ProviderKind
    model: str = Field(default="", max_length=200)  # the provider's own model name
    base_url: str | None = Field(default=None, pattern=r"^https?://")
    api_key_env: EnvName | None = None  # the NAME of the variable holding the key, never the key
    # OpenAI's newer models (o-series, gpt-5) accept only max_completion_tokens; most servers, max_tokens.
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"

    @model_validator(mode="after")
    def _complete_for_its_kind(self) -> ProviderSpec:
        if self.kind is ProviderKind.LOCAL:
            if self.base_url or self.api_key_env:
                raise ValueError("a local provider takes neither base_url nor api_key_env")
            return self
        if not self.model:
            raise ValueError(f"a {self.kind.value} provider needs `model`, the provider's model name")
        if self.kind is ProviderKind.ANTHROPIC and not self.api_key_env:
            raise ValueError("an anthropic provider needs `api_key_env`, e.g. ANTHROPIC_API_KEY")
        return self


class Pricing(_Strict):
    base: float = Field(ge=0, le=1e9)
    per_token: float = Field(ge=0, le=1e6)


class ModelSpec(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: ModelAlias
    name: str = Field(default="", max_length=200)  # omitted: the id
    max_context: int = Field(
        ge=256, le=10_000_000, validation_alias=AliasChoices("max_context", "maxContext")
    )
    description: str = Field(default="", max_length=1000)
    pricing: Pricing
    concurrency: int = Field(default=2, ge=1, le=1000)  # runs on this model at once, per deployment
    max_output_tokens: int = Field(default=1024, ge=1, le=1_000_000)
    provider: ProviderSpec

    @model_validator(mode="before")
    @classmethod
    def _name_defaults_to_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("name") and isinstance(data.get("id"), str):
            return {**data, "name": data["id"]}
        return data

    @model_validator(mode="after")
    def _fits_its_provider(self) -> ModelSpec:
        if self.max_output_tokens >= self.max_context:
            raise ValueError("max_output_tokens must be smaller than max_context")
        if self.provider.kind is ProviderKind.LOCAL and self.max_context > LOCAL_MODEL_MAX_CONTEXT:
            raise ValueError(f"the local model holds at most {LOCAL_MODEL_MAX_CONTEXT} tokens of context")
        return self


class _CatalogFile(_Strict):
    models: list[ModelSpec] = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _unique_ids(self) -> _CatalogFile:
        seen: set[str] = set()
        for spec in self.models:
            if spec.id in seen:
                raise ValueError(f"model id {spec.id!r} appears twice")
            seen.add(spec.id)
        return self


@dataclass(frozen=True, slots=True)
class Availability:
    ok: bool
    reason: str = ""  # why not, in words an operator can act on; never a key


class Catalog:
    """The models in file order; the first is the default."""

    def __init__(self, models: list[ModelSpec], *, source: str) -> None:
        self._models = {spec.id: spec for spec in models}
        self.source = source  # the file path, or "built-in"

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self._models.values())

    def __len__(self) -> int:
        return len(self._models)

    @property
    def default(self) -> ModelSpec:
        return next(iter(self._models.values()))

    def get(self, alias: str) -> ModelSpec:
        spec = self._models.get(alias)
        if spec is None:
            known = ", ".join(repr(name) for name in self._models)
            raise UnknownModel(f"Unknown model {alias[:64]!r}; this server offers {known}.")
        return spec

    def available(self) -> list[ModelSpec]:
        """The models a run can use right now, in file order."""
        return [spec for spec in self if availability_of(spec).ok]

    def usable(self, alias: str) -> ModelSpec:
        """The spec, or 422 `model_unavailable` when its key or local model is missing right now."""
        spec = self.get(alias)
        availability = availability_of(spec)
        if not availability.ok:
            raise ModelUnavailable(
                f"Model {spec.id!r} is not available on this server: {availability.reason}"
            )
        return spec


def availability_of(spec: ModelSpec) -> Availability:
    provider = spec.provider
    if provider.kind is ProviderKind.LOCAL:
        problem = local_model_problem()
        return Availability(ok=False, reason=problem) if problem else Availability(ok=True)
    if provider.api_key_env and provider_api_key(provider.api_key_env) is None:
        return Availability(ok=False, reason=f"the environment variable {provider.api_key_env} is not set")
    return Availability(ok=True)


def load_catalog(path: Path | None) -> Catalog:
    if path is None:
        return Catalog(list(BUILT_IN_MODELS), source="built-in")
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise CatalogError(f"models file {path}: cannot be read ({error.strerror or error})") from error
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise CatalogError(f"models file {path}: not valid TOML ({error})") from error
    try:
        parsed = _CatalogFile.model_validate(document)
    except ValidationError as error:
        raise CatalogError(f"models file {path}: {_describe(error, document)}") from error
    return Catalog(parsed.models, source=str(path))


def _describe(error: ValidationError, document: Mapping[str, Any]) -> str:
    """'models[1] ("strict").pricing.base: Input should be greater than or equal to 0'."""
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        parts = item["loc"]
        location = ""
        for position, part in enumerate(parts):
            if isinstance(part, int):
                location += f"[{part}]"
                if position == 1 and parts[0] == "models":
                    location += _model_label(document, part)
            else:
                location += f".{part}" if location else str(part)
        message = item["msg"].removeprefix("Value error, ")
        problems.append(f"{location}: {message}" if location else message)
    return "; ".join(problems)


def _model_label(document: Mapping[str, Any], index: int) -> str:
    models = document.get("models")
    if isinstance(models, list) and index < len(models) and isinstance(models[index], dict):
        model_id = models[index].get("id")
        if isinstance(model_id, str):
            return f' ("{model_id}")'
    return ""


# The built-in catalog: a fresh machine completes a real run with the embedded model, no key and
# no network; the hosted tiers light up when their key variable is set. Prices are credits.
BUILT_IN_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        id="strict light",
        max_context=LOCAL_MODEL_MAX_CONTEXT,
        description="Embedded SmolLM2-135M-Instruct: runs on this server with no key or network; small context, for trials.",
        pricing=Pricing(base=12.5, per_token=0.0006),
        concurrency=1,  # one llama.cpp context per process; runs on it take turns
        max_output_tokens=512,
        provider=ProviderSpec(kind=ProviderKind.LOCAL, model=LOCAL_MODEL_NAME),
    ),
    ModelSpec(
        id="strict",
        max_context=128_000,
        description="OpenAI gpt-4o-mini: fast, high-context strict tasks (needs OPENAI_API_KEY).",
        pricing=Pricing(base=25, per_token=0.001),
        concurrency=4,
        max_output_tokens=4096,
        provider=ProviderSpec(kind=ProviderKind.OPENAI, model="gpt-4o-mini", api_key_env="OPENAI_API_KEY"),
    ),
    ModelSpec(
        id="strict deep",
        max_context=200_000,
        description="Anthropic Claude Sonnet 4.5: deeper reasoning over large contexts (needs ANTHROPIC_API_KEY).",
        pricing=Pricing(base=50, per_token=0.003),
        concurrency=2,
        max_output_tokens=8192,
        provider=ProviderSpec(
            kind=ProviderKind.ANTHROPIC, model="claude-sonnet-4-5", api_key_env="ANTHROPIC_API_KEY"
        ),
    ),
)
