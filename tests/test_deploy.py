"""deploy/: the Prometheus alert rules, their unit tests and the example scrape config pass promtool,
the Grafana dashboard's queries parse, and every metric either names is on /metrics and in the
README, so none of them can drift from the code.

promtool comes with Debian's `prometheus` package (.ci/run installs it); without it the tier is
skipped on a laptop and fails in CI (tests/support/tiers.py)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.metrics import scrape
from tests.support.tiers import tier_unavailable

ROOT = Path(__file__).resolve().parents[1]
PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "seecodes.json"
METRIC = re.compile(r"\bseecodes_[a-z0-9_]+\b")
# What Grafana puts in place of its variables before it sends a query.
GRAFANA_VARIABLES = {
    "$__rate_interval": "5m",
    "$__range": "6h",
    "$model": ".*",
    "$api_job": "seecodes-api",
    "$worker_job": "seecodes-worker",
}


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        tier_unavailable("promtool is missing: install Debian's `prometheus` package")
    assert found is not None
    return found


def _promtool(promtool: str, *args: str, cwd: Path = PROMETHEUS) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def _dashboard() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return dashboard


def _queries(dashboard: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def _as_promql(query: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        query = query.replace(variable, value)
    return query


def test_the_alert_rules_pass_promtool(promtool: str) -> None:
    checked = _promtool(promtool, "check", "rules", "alerts.yml")

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


def test_the_alerts_fire_as_their_unit_tests_say(promtool: str) -> None:
    tested = _promtool(promtool, "test", "rules", "alerts_test.yml")

    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_the_example_scrape_config_passes_promtool(promtool: str) -> None:
    checked = _promtool(promtool, "check", "config", "prometheus.yml")

    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = (PROMETHEUS / "prometheus.yml").read_text()
    assert "job_name: seecodes-api" in config
    assert "job_name: seecodes-worker" in config


def test_the_dashboard_queries_are_valid_promql(promtool: str, tmp_path: Path) -> None:
    # promtool parses rule expressions; each dashboard query becomes a recording rule.
    queries = _queries(_dashboard())
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{index}", "expr": _as_promql(query)}
                    for index, query in enumerate(queries)
                ],
            }
        ]
    }
    (tmp_path / "dashboard_rules.yml").write_text(json.dumps(rules))  # JSON is YAML

    checked = _promtool(promtool, "check", "rules", "dashboard_rules.yml", cwd=tmp_path)

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"{len(queries)} rules found" in checked.stdout


def test_the_dashboard_is_grafana_json_with_a_query_on_every_panel() -> None:
    dashboard = _dashboard()

    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert dashboard["uid"] == "seecodes-overview"
    assert dashboard["templating"]["list"][0]["type"] == "datasource"
    assert len(ids) == len(set(ids))
    assert len(panels) >= 15
    for panel in panels:
        assert panel["targets"], panel["title"]
        assert all(target["datasource"]["uid"] == "${datasource}" for target in panel["targets"])


async def test_every_metric_the_rules_and_the_dashboard_name_is_on_metrics(client: httpx.AsyncClient) -> None:
    named = set(METRIC.findall((PROMETHEUS / "alerts.yml").read_text()))
    named |= set(METRIC.findall((PROMETHEUS / "alerts_test.yml").read_text()))
    named |= {name for query in _queries(_dashboard()) for name in METRIC.findall(query)}

    exposed = (await scrape(client)).names()

    assert len(named) >= 15  # the rules and the dashboard were read
    assert named - exposed == set()


async def test_every_metric_on_metrics_is_listed_in_the_readme(client: httpx.AsyncClient) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Metrics") :]
    section = section[: section.index("\n## ")]

    families = {
        family.name for family in (await scrape(client)).families if family.name.startswith("seecodes_")
    }
    listed = set(METRIC.findall(section))

    missing = {name for name in families if name not in listed and f"{name}_total" not in listed}
    assert missing == set()
    assert len(families) >= 20
