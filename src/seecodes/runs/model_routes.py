"""The model catalog for model pickers and context-limit hints; no credential needed."""

from __future__ import annotations

from fastapi import APIRouter

from seecodes.deps import RuntimeDep
from seecodes.openapi import IDE
from seecodes.runs.model_schemas import ModelInfo, ModelsResponse

router = APIRouter(tags=[IDE])


@router.get(
    "/v1/models",
    operation_id="listModels",
    summary="Read the model catalog",
    description="The models a run can use on this server right now, with context limits and pricing. "
    "A catalog entry whose key variable is unset, or the embedded model when its extra is not "
    "installed, is left out.",
)
async def list_models(runtime: RuntimeDep) -> ModelsResponse:
    return ModelsResponse(models=[ModelInfo.of(spec) for spec in runtime.catalog.available()])
