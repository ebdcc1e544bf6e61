"""The model catalog: the TOML file, its errors, the built-in default, availability."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from seecodes.cli import app as cli
from seecodes.config import get_settings
from seecodes.errors import ModelUnavailable, UnknownModel
from seecodes.runs.catalog import BUILT_IN_MODELS, CatalogError, load_catalog
from seecodes.runs.jobs import run_queues
from seecodes.runs.providers import ProviderKind
from seecodes.runs.providers.local import local_model_problem
from tests.support.tiers import tier_unavailable

EXAMPLE_FILE = Path(__file__).parents[2] / "docs" / "models.example.toml"

TWO_MODELS = """
[[models]]
id = "strict light"
name = "Strict light"
max_context = 100000
description = "Fast, high-context strict tasks"
pricing = { base = 12.5, per_token = 0.0006 }
concurrency = 3
max_output_tokens = 2048
[models.provider]
kind = "openai"
model = "qwen2.5-coder"
base_url = "http://127.0.0.1:11434/v1"

[[models]]
id = "strict deep"
maxContext = 200000
pricing = { base = 50, per_token = 0.003 }
[models.provider]
kind = "anthropic"
model = "claude-sonnet-4-5"
api_key_env = "SEECODES_TEST_ANTHROPIC_KEY"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "models.toml"
    path.write_text(text)
    return path


def test_file_maps_aliases_to_providers_in_file_order(tmp_path: Path) -> None:
    catalog = load_catalog(write(tmp_path, TWO_MODELS))

    light, deep = list(catalog)
    assert catalog.default is light
    assert (light.id, light.name, light.max_context, light.concurrency) == (
        "strict light",
        "Strict light",
        100000,
        3,
    )
    assert (light.pricing.base, light.pricing.per_token) == (12.5, 0.0006)
    assert light.provider.kind is ProviderKind.OPENAI
    assert light.provider.base_url == "http://127.0.0.1:11434/v1"
    assert light.provider.api_key_env is None
    assert deep.name == "strict deep"  # defaults to the id
    assert deep.max_context == 200000  # the contract's spelling is accepted too
    assert (deep.concurrency, deep.max_output_tokens) == (2, 1024)
    assert deep.provider.api_key_env == "SEECODES_TEST_ANTHROPIC_KEY"
    assert catalog.source == str(tmp_path / "models.toml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            TWO_MODELS.replace("base = 50", "base = -1"),
            'models[1] ("strict deep").pricing.base: Input should be greater than or equal to 0',
        ),
        (
            TWO_MODELS.replace('kind = "anthropic"', 'kind = "gemini"'),
            'models[1] ("strict deep").provider.kind',
        ),
        (TWO_MODELS.replace('api_key_env = "SEECODES_TEST_ANTHROPIC_KEY"', ""), "needs `api_key_env`"),
        (
            TWO_MODELS.replace("concurrency = 3", "concurency = 3"),
            'models[0] ("strict light").concurency: Extra inputs are not permitted',
        ),
        (
            TWO_MODELS.replace('id = "strict deep"', 'id = "strict light"'),
            "model id 'strict light' appears twice",
        ),
        ("models = []", "models: List should have at least 1 item"),
        ("[[models]\nid=", "not valid TOML"),
    ],
)
def test_bad_file_is_refused_naming_the_file_and_the_field(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)

    with pytest.raises(CatalogError) as refused:
        load_catalog(path)

    assert str(refused.value).startswith(f"models file {path}: ")
    assert expected in str(refused.value)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot be read"):
        load_catalog(tmp_path / "nope.toml")


def test_a_key_in_the_file_is_not_a_field(tmp_path: Path) -> None:
    # Keys live in the environment; a catalog that tries to hold one is refused, not half-used.
    path = write(tmp_path, TWO_MODELS.replace('kind = "openai"', 'kind = "openai"\napi_key = "sk-abc"'))

    with pytest.raises(CatalogError, match="api_key: Extra inputs are not permitted") as refused:
        load_catalog(path)

    assert "sk-abc" not in str(refused.value)


def test_no_file_means_the_built_in_catalog() -> None:
    catalog = load_catalog(None)

    assert [spec.id for spec in catalog] == ["strict light", "strict", "strict deep"]
    assert catalog.default.provider.kind is ProviderKind.LOCAL
    assert catalog.get("strict").provider.api_key_env == "OPENAI_API_KEY"
    assert catalog.get("strict deep").provider.api_key_env == "ANTHROPIC_API_KEY"
    assert catalog.source == "built-in"
    assert list(catalog) == list(BUILT_IN_MODELS)


def test_the_documented_example_file_loads() -> None:
    catalog = load_catalog(EXAMPLE_FILE)

    assert len(catalog) >= 3


def test_unknown_model_is_a_422_naming_the_offered_ones() -> None:
    with pytest.raises(UnknownModel) as refused:
        load_catalog(None).get("gpt-7")

    assert refused.value.status_code == 422
    assert refused.value.code == "unknown_model"
    assert "'strict light'" in refused.value.detail


def test_model_whose_key_variable_is_unset_is_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = load_catalog(write(tmp_path, TWO_MODELS))
    monkeypatch.delenv("SEECODES_TEST_ANTHROPIC_KEY", raising=False)

    with pytest.raises(ModelUnavailable) as refused:
        catalog.usable("strict deep")

    assert refused.value.code == "model_unavailable"
    assert "SEECODES_TEST_ANTHROPIC_KEY is not set" in refused.value.detail
    assert [spec.id for spec in catalog.available()] == ["strict light"]


def test_model_whose_key_variable_is_set_is_usable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = load_catalog(write(tmp_path, TWO_MODELS))
    monkeypatch.setenv("SEECODES_TEST_ANTHROPIC_KEY", "sk-ant-test")

    assert catalog.usable("strict deep").id == "strict deep"


def test_local_model_without_llama_cpp_engine_is_unavailable_with_the_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_find_spec = __import__("importlib").util.find_spec
    monkeypatch.setattr(
        "importlib.util.find_spec", lambda name, *a: None if name == "xllamacpp" else real_find_spec(name, *a)
    )

    with pytest.raises(ModelUnavailable) as refused:
        load_catalog(None).usable("strict light")

    assert "xllamacpp (llama.cpp) is not installed" in refused.value.detail
    assert "local-model" in refused.value.detail


def test_local_model_context_is_capped_at_what_smollm2_supports(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[[models]]\nid = "tiny"\nmax_context = 32000\npricing = { base = 1, per_token = 0 }\n'
        '[models.provider]\nkind = "local"\n',
    )

    with pytest.raises(CatalogError, match="at most 8192 tokens"):
        load_catalog(path)


def test_built_in_local_model_is_available_when_the_extra_is_installed() -> None:
    if local_model_problem():
        tier_unavailable(local_model_problem())

    assert load_catalog(None).usable("strict light").id == "strict light"


def test_serve_refuses_to_start_on_a_bad_models_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, TWO_MODELS.replace("base = 50", "base = -1"))
    monkeypatch.setenv("SEECODES_ENV", "dev")
    monkeypatch.setenv("SEECODES_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SEECODES_MODELS_FILE", str(path))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["serve", "--port", "1"])
    finally:
        get_settings.cache_clear()

    assert result.exit_code == 2
    assert 'models[1] ("strict deep").pricing.base' in " ".join(result.output.split())
    assert not (tmp_path / "var").exists()  # refused before migrating anything


def test_an_executor_polls_only_the_queues_of_models_it_can_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = load_catalog(write(tmp_path, TWO_MODELS))
    runtime = SimpleNamespace(catalog=catalog)
    monkeypatch.delenv("SEECODES_TEST_ANTHROPIC_KEY", raising=False)
    without_key = {spec.name: spec.listen for spec in run_queues(runtime)}  # type: ignore[arg-type]
    monkeypatch.setenv("SEECODES_TEST_ANTHROPIC_KEY", "sk-ant-test")
    with_key = {spec.name: spec.listen for spec in run_queues(runtime)}  # type: ignore[arg-type]

    # Both queues stay declared (another worker may hold the key); only the listening differs.
    # Each model has its queue partitioned by installation, and the earlier releases' one drained.
    assert without_key == {
        "runs:strict light:by-installation": True,
        "runs:strict light": True,
        "runs:strict deep:by-installation": False,
        "runs:strict deep": False,
    }
    assert with_key == dict.fromkeys(without_key, True)
