"""Regenerate `seecodes_client/models.py` from the server's OpenAPI document.

    .venv/bin/python clients/python/generate.py          # write it
    .venv/bin/python clients/python/generate.py --check  # exit 1 when it is out of date

The models are generated (datamodel-code-generator, pydantic v2); the protocol layer around them
(`jira.py`, `ide.py`, `_protocol.py`) is written by hand. tests/clients/test_python_client.py runs
the check, so a route whose schema changes without a regenerated client fails `make test`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODELS = HERE / "src" / "seecodes_client" / "models.py"
HEADER = '"""Wire models, generated from the server\'s OpenAPI document by clients/python/generate.py: do not edit."""\n\n'


def document() -> dict[str, object]:
    from seecodes.app import create_app
    from seecodes.config import Settings

    var_dir = Path(tempfile.mkdtemp(prefix="seecodes-client-gen-"))
    settings = Settings(
        env="test",
        var_dir=var_dir,
        database_url=f"sqlite:///{var_dir / 'unused.db'}",
        secret_key="client-generation-" + "0" * 32,
        forge_jwks_url=str(var_dir / "jwks.json"),
        forge_app_id="ari:cloud:ecosystem::app/00000000-0000-4000-8000-000000000001",
        public_base_url="http://127.0.0.1:8080",
    )
    return create_app(settings).openapi()


def generate() -> str:
    with tempfile.TemporaryDirectory() as scratch:
        source, target = Path(scratch) / "openapi.json", Path(scratch) / "models.py"
        source.write_text(json.dumps(document()))
        subprocess.run(
            [
                str(Path(sys.executable).with_name("datamodel-codegen")),
                "--input", str(source), "--input-file-type", "openapi",
                "--output", str(target), "--output-model-type", "pydantic_v2.BaseModel",
                "--target-python-version", "3.11", "--use-standard-collections", "--use-union-operator",
                "--enum-field-as-literal", "all", "--use-schema-description", "--use-double-quotes",
                "--disable-timestamp", "--formatters", "ruff-format",
                # A newer server may add a field: an older client reads past it.
                "--extra-fields", "ignore", "--collapse-root-models", "--field-constraints", "--use-annotated",
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        return HEADER + target.read_text().split("\n", 1)[1].lstrip("\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true")
    fresh = generate()
    if parser.parse_args().check:
        if MODELS.read_text() != fresh:
            print(f"{MODELS} is out of date: run clients/python/generate.py", file=sys.stderr)
            return 1
        return 0
    MODELS.write_text(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
