"""The README's settings tables and `config.Settings` agree: every setting has a row, every row is a
setting, and each documented default is the code's.

A settings table is any README table under the header `| setting | default | what it does |`
(Configuration, Models and Jira connector each have one). A row's first cell names one or more
variables in backticks; they share the row's default. A default cell is `empty…` (the code's
default is empty, None or an empty list; words may follow, saying what empty means), or starts
with the value in backticks (words may follow). Defaults the code derives from another setting
and the README says in words are listed, by name, in DESCRIBED_IN_WORDS.
"""

from __future__ import annotations

import re
from enum import Enum
from pathlib import Path

from pydantic import AliasChoices, SecretStr
from pydantic.fields import FieldInfo

from seecodes.config import Settings

README = Path(__file__).resolve().parents[1] / "README.md"
SETTINGS_TABLE_HEADER = "| setting | default | what it does |"
VARIABLE = re.compile(r"SEECODES_[A-Z0-9_]*[A-Z0-9]")
EMPTY = ""

# Defaults the README says in words, because the code derives them when the setting is unset.
DESCRIBED_IN_WORDS = {
    "SEECODES_SECRET_KEY": "a placeholder the code replaces by a random secret under SEECODES_VAR_DIR",
    "SEECODES_JIRA_REDIRECT_URI": "empty in the code, {public_base_url}/v1/integrations/jira/callback in effect",
    "SEECODES_JIRA_POST_CONNECT_URL": "empty in the code, {public_base_url}/v1/integrations/jira/done in effect",
}
# Variables the README names that are not settings of the server: the test suite and CI read them.
NOT_SETTINGS = {
    "SEECODES_TEST_POSTGRES_URL",
    "SEECODES_REQUIRE_ALL_TIERS",
    "SEECODES_FUZZ_EXAMPLES",
    "SEECODES_FUZZ_SEED",
}


def documented_defaults() -> dict[str, str]:
    """Every variable of every settings table in the README, with its default cell."""
    documented: dict[str, str] = {}
    in_table = False
    for line in README.read_text().splitlines():
        if line.strip() == SETTINGS_TABLE_HEADER:
            in_table = True
            continue
        if not in_table or line.startswith("|---"):
            continue
        if not line.startswith("|"):
            in_table = False
            continue
        name_cell, default_cell = (cell.strip() for cell in line.strip("|").split("|")[:2])
        names = VARIABLE.findall(name_cell)
        assert names, f"a settings row without a SEECODES_ variable: {line}"
        for name in names:
            assert name not in documented, f"{name} has two rows in the README's settings tables"
            documented[name] = default_cell
    return documented


def environment_names(name: str, field: FieldInfo) -> list[str]:
    """The variables pydantic-settings reads a field from: its aliases, else prefix + name."""
    alias = field.validation_alias
    if isinstance(alias, str):
        return [alias.upper()]
    if isinstance(alias, AliasChoices):
        return [choice.upper() for choice in alias.choices if isinstance(choice, str)]
    return [f"{Settings.model_config.get('env_prefix', '')}{name}".upper()]


def code_defaults() -> dict[str, object]:
    return {
        variable: field.get_default(call_default_factory=True)
        for name, field in Settings.model_fields.items()
        for variable in environment_names(name, field)
    }


def parse_default(cell: str) -> str | None:
    """The value a default cell states, or None when it states none we can read."""
    if cell.lower().startswith("empty"):
        return EMPTY
    quoted = re.match(r"`([^`]*)`", cell)
    return quoted.group(1) if quoted else None


def same_default(documented: str, code: object) -> bool:
    if isinstance(code, SecretStr):
        code = code.get_secret_value()
    if code is None or code == "" or code == []:
        return documented == EMPTY
    if isinstance(code, bool):
        return documented == str(code).lower()
    if isinstance(code, Enum):
        return documented == str(code.value)
    if isinstance(code, Path):
        return Path(documented) == code
    if isinstance(code, list):  # a comma-separated list setting
        return [part.strip() for part in documented.split(",")] == [
            str(item).removesuffix(".0") for item in code
        ]
    if isinstance(code, int | float):
        try:
            return float(documented) == float(code)
        except ValueError:
            return False
    return documented == str(code)


def test_every_setting_has_a_row_in_a_readme_settings_table() -> None:
    missing = sorted(set(code_defaults()) - set(documented_defaults()))

    assert not missing, f"settings config.py reads that no README settings table lists: {missing}"


def test_every_readme_settings_row_is_a_setting() -> None:
    unknown = sorted(set(documented_defaults()) - set(code_defaults()))

    assert not unknown, f"README settings rows config.py does not read: {unknown}"


def test_every_documented_default_is_the_codes() -> None:
    documented = documented_defaults()
    code = code_defaults()

    wrong = []
    for name in sorted(set(documented) & set(code) - set(DESCRIBED_IN_WORDS)):
        stated = parse_default(documented[name])
        if stated is None:
            wrong.append(f"{name}: unreadable default {documented[name]!r} (start it with `value` or empty)")
        elif not same_default(stated, code[name]):
            wrong.append(f"{name}: README says {stated!r}, config.py has {code[name]!r}")

    assert not wrong, "\n".join(wrong)


def test_every_variable_the_readme_names_is_in_a_settings_table() -> None:
    """A setting mentioned only in prose gets a row too, with its default."""
    named = set(VARIABLE.findall(README.read_text()))

    prose_only = sorted(named - set(documented_defaults()) - NOT_SETTINGS)

    assert not prose_only, f"variables the README names outside its settings tables: {prose_only}"


def test_the_exceptions_name_real_settings_and_only_test_variables() -> None:
    code = code_defaults()

    assert set(DESCRIBED_IN_WORDS) <= set(code), "DESCRIBED_IN_WORDS names a setting config.py lacks"
    assert not NOT_SETTINGS & set(code), "NOT_SETTINGS names a setting: document it in a table instead"


def test_the_parser_reads_defaults_as_written() -> None:
    """The comparison itself can tell a right default from a wrong one."""
    assert parse_default("`2097152` (2 MiB)") == "2097152"
    assert parse_default("empty: the built-in catalog") == EMPTY
    assert parse_default("placeholder") is None
    assert same_default("0.05", 0.05)
    assert not same_default("0.5", 0.05)
    assert same_default("./var", Path("./var"))
    assert not same_default("./tmp", Path("./var"))
    assert same_default("false", False)
    assert not same_default("true", False)
    assert same_default(EMPTY, SecretStr(""))
    assert same_default(EMPTY, [])
    assert not same_default(EMPTY, "x")
