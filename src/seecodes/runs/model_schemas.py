"""Wire models for GET /v1/models, in the contract's shape."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from seecodes.kit.schemas import ResponseBody
from seecodes.runs.catalog import ModelSpec


class ModelPricing(ResponseBody):
    base: float = Field(examples=[12.5], description="Credits charged per run.")
    per_token: float = Field(examples=[0.0006], description="Credits per input and output token.")


class ModelInfo(ResponseBody):
    id: str = Field(examples=["strict light"], description="The alias a run names in `model`.")
    name: str = Field(examples=["strict light"])
    maxContext: int = Field(examples=[8192], description="Most tokens of uploads and prompt a run may send.")
    description: str = Field(examples=["Fast, high-context strict tasks"])
    pricing: ModelPricing

    @classmethod
    def of(cls, spec: ModelSpec) -> ModelInfo:
        return cls(
            id=spec.id,
            name=spec.name,
            maxContext=spec.max_context,
            description=spec.description,
            pricing=ModelPricing(base=spec.pricing.base, per_token=spec.pricing.per_token),
        )


class ModelsResponse(ResponseBody):
    ok: Literal[True] = True
    models: list[ModelInfo]
