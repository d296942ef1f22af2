"""deploy/monitoring/ (issue 19, items 6 and 7) agrees with the code and with the other manifests.

* every metric the Grafana dashboard queries (panels and template variables) is one that ``GET /metrics``
  of the functions or of ``billing connector`` serves: the names come from the exposition the code renders,
  not from a list kept here; ``_bucket``/``_sum``/``_count`` names belong to a histogram;
* the dashboard imports into Grafana 10+: a ``${DS_PROMETHEUS}`` input and variable, ``tenant`` and
  ``instance`` variables, unique panel ids, grid positions inside the 24 columns that do not overlap;
* the scrape configurations (plain Prometheus, and the Prometheus Operator's PodMonitors) reach every
  deployed function on its port, the connector on its metrics port and the events server (the functions'
  /metrics, always on) on its port, each once, with the metrics token from a file or a Secret, never inline.

The PodMonitors and the ConfigMap are also validated as manifests by test_manifests.py (the PodMonitor
against deploy/schemas/monitoring.coreos.com/podmonitor_v1.json).
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from billing import metrics
from billing.config import Settings
from billing.db import engine
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
MONITORING = DEPLOY / "monitoring"
DASHBOARD = MONITORING / "grafana-dashboard.json"
SCRAPE_CONFIGS = MONITORING / "prometheus-scrape-configs.yaml"
POD_MONITORS = MONITORING / "podmonitors.yaml"
POD_MONITOR_SCHEMA = DEPLOY / "schemas" / "monitoring.coreos.com" / "podmonitor_v1.json"
DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
GRID_COLUMNS = 24

Doc = dict[str, Any]

# The sample names a family of each type is exposed under (text format and OpenMetrics).
SAMPLE_SUFFIXES: dict[str, tuple[str, ...]] = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
    "info": ("_info",),
    "stateset": ("",),
    "unknown": ("",),
}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
# Prometheus relabel_config keys, and the actions the scrape configs may use.
RELABEL_KEYS = frozenset({"source_labels", "separator", "regex", "modulus", "target_label", "replacement", "action"})
RELABEL_ACTIONS = frozenset({"replace", "keep", "drop", "labelmap", "labeldrop", "labelkeep"})


# ------------------------------------------------------------------------------------ what the code exports
class _NoRows:
    """An engine whose queries return no rows: the database collector still declares its families."""

    def connect(self) -> contextlib.AbstractContextManager[_NoRows]:
        return contextlib.nullcontext(self)

    def execute(self, *args: object, **kwargs: object) -> list[tuple[object, ...]]:
        return []


@cache
def exported_families() -> dict[str, str]:
    """Family name -> type, parsed from what the functions' and the connector's /metrics render."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine, "get_engine", _NoRows)
        text = metrics.render().decode() + metrics.render_connector().decode()
    families = {family.name: family.type for family in text_string_to_metric_families(text)}
    # Once a counter or histogram has samples, prometheus_client adds its creation time as a
    # ``<family>_created`` series, which the text parser reads as a gauge family: not a metric to chart.
    return {name: kind for name, kind in families.items() if not (name.endswith("_created") and name[:-8] in families)}


def exported_series(families: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """Sample name a query can use -> (family, type)."""
    return {family + suffix: (family, kind) for family, kind in families.items() for suffix in SAMPLE_SUFFIXES[kind]}


# ---------------------------------------------------------------------------------------------- PromQL
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_BRACKETS = re.compile(r"\[[^\]]*\]")  # ranges and subqueries, with any Grafana variable inside
_MATCHERS = re.compile(r"\{[^}]*\}")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", re.IGNORECASE)
# A whole identifier (not part of a number, a label or a $variable) that is not called like a function.
_IDENTIFIER = re.compile(r"(?<![\w$.:])([A-Za-z_:][\w:]*)(?![\w:]|\s*\()")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right"}
    | {"atan2", "inf", "nan"}
)


def promql_metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (strings, label matchers, ranges and grouping
    labels removed; functions and aggregations are followed by a parenthesis)."""
    text = _STRINGS.sub(" ", expr)
    text = _BRACKETS.sub(" ", text)
    text = _MATCHERS.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    return {name for name in _IDENTIFIER.findall(text) if name.lower() not in _KEYWORDS}


def variable_expression(query: str) -> str:
    """The PromQL inside a Grafana Prometheus variable query ("" when it names only a label)."""
    if match := re.fullmatch(r"\s*label_values\((.*),\s*[A-Za-z_]\w*\s*\)\s*", query, flags=re.DOTALL):
        return match.group(1)
    if re.fullmatch(r"\s*label_values\(\s*[A-Za-z_]\w*\s*\)\s*", query):
        return ""
    if match := re.fullmatch(r"\s*query_result\((.*)\)\s*", query, flags=re.DOTALL):
        return match.group(1)
    raise ValueError(f"unsupported variable query {query!r}: teach this test to read it")


# ------------------------------------------------------------------------------------------- dashboard
def load_dashboard() -> Doc:
    data = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def panels(dashboard: Doc) -> Iterator[Doc]:
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # a collapsed row carries its panels


def expressions(dashboard: Doc) -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every panel query and every query variable."""
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            yield f"panel {panel.get('id')} {panel.get('title')!r} {target.get('refId')}", target.get("expr", "")
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            query = variable["query"]
            text = query.get("query", "") if isinstance(query, dict) else query
            yield f"variable {variable['name']}", variable_expression(text)


def used_metric_names(dashboard: Doc) -> set[str]:
    return {name for _, expr in expressions(dashboard) for name in promql_metric_names(expr)}


def metric_problems(dashboard: Doc, families: Mapping[str, str]) -> list[str]:
    """Metric names the dashboard queries that /metrics does not serve, or that use a histogram's
    series names on something that is not a histogram."""
    series = exported_series(families)
    problems: list[str] = []
    for where, expr in expressions(dashboard):
        names = promql_metric_names(expr)
        if not names and expr.strip():
            problems.append(f"{where}: no metric found in {expr!r}")
        for name in sorted(names):
            suffix = next((s for s in HISTOGRAM_SUFFIXES if name.endswith(s)), None)
            base = name[: -len(suffix)] if suffix else name
            if name not in series:
                kind = families.get(base) if suffix else None
                hint = f" ({base} is a {kind}, not a histogram)" if kind else ""
                problems.append(f"{where}: {name} is not exported{hint}")
            elif suffix and series[name] != (base, "histogram"):
                problems.append(f"{where}: {name} is a {series[name][1]} series, not a histogram's {suffix}")
        if "histogram_quantile" in expr and not any(
            series.get(name, ("", ""))[1] == "histogram" and name.endswith("_bucket") for name in names
        ):
            problems.append(f"{where}: histogram_quantile without a histogram's _bucket series")
    return problems


def grid_problems(dashboard: Doc) -> list[str]:
    """Unique integer panel ids; gridPos inside the 24 columns; top-level panels do not overlap."""
    problems: list[str] = []
    ids = [panel.get("id") for panel in panels(dashboard)]
    if not all(isinstance(i, int) for i in ids):
        problems.append(f"panel ids must be integers: {ids}")
    duplicates = sorted({i for i in ids if ids.count(i) > 1}, key=str)
    if duplicates:
        problems.append(f"duplicate panel ids: {duplicates}")
    placed: list[tuple[int, int, int, int, object]] = []
    top_level = {id(panel) for panel in dashboard.get("panels", [])}
    for panel in panels(dashboard):
        pos = panel.get("gridPos", {})
        x, y, w, h = (pos.get(key) for key in ("x", "y", "w", "h"))
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (x, y, w, h)):
            problems.append(f"panel {panel.get('id')}: gridPos {pos} needs integer x, y, w, h")
            continue
        assert isinstance(x, int) and isinstance(y, int) and isinstance(w, int) and isinstance(h, int)
        if x < 0 or y < 0 or w < 1 or h < 1 or x + w > GRID_COLUMNS:
            problems.append(f"panel {panel.get('id')}: gridPos {pos} outside the {GRID_COLUMNS} columns")
        if panel.get("type") == "row" and (x, w, h) != (0, GRID_COLUMNS, 1):
            problems.append(f"row {panel.get('id')}: gridPos {pos} must span the width with height 1")
        if id(panel) not in top_level:
            continue  # a collapsed row's panels are placed when it opens
        for ox, oy, ow, oh, other in placed:
            if x < ox + ow and ox < x + w and y < oy + oh and oy < y + h:
                problems.append(f"panel {panel.get('id')} overlaps panel {other}")
        placed.append((x, y, w, h, panel.get("id")))
    return problems


# ------------------------------------------------------------------------------------------- manifests
def load_docs(path: Path) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]


def deployed_functions() -> set[str]:
    """Every entry point present is deployed (test_manifests.py checks that)."""
    return {path.parent.name for path in (ROOT / "functions").glob("*/main.py")}


def function_containers() -> list[Doc]:
    """The function containers of plain Kubernetes (Deployments) and Knative (Services)."""
    functions = deployed_functions()
    containers: list[Doc] = []
    for doc in load_docs(DEPLOY / "keda" / "10-functions.yaml") + load_docs(DEPLOY / "knative" / "10-services.yaml"):
        if (
            doc["kind"] in {"Deployment", "Service"}
            and doc["metadata"]["name"] in functions
            and "template" in doc.get("spec", {})
        ):
            containers.extend(doc["spec"]["template"]["spec"]["containers"])
    return containers


def function_port() -> int:
    ports: set[int] = {
        port["containerPort"] for container in function_containers() for port in container.get("ports", [])
    }
    assert len(ports) == 1, f"the functions listen on one port on every platform: {ports}"
    return ports.pop()


def connector_deployments() -> list[Doc]:
    docs = load_docs(DEPLOY / "keda" / "20-connector.yaml") + load_docs(DEPLOY / "openfaas" / "connector.yaml")
    return [doc for doc in docs if doc["kind"] == "Deployment"]


def connector_metrics_port_name() -> str:
    """The named port ``billing connector --metrics-port`` listens on, the same in every manifest."""
    names: set[str] = set()
    for deployment in connector_deployments():
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        command = container["command"]
        port = int(command[command.index("--metrics-port") + 1])
        names |= {p["name"] for p in container["ports"] if p["containerPort"] == port}
    assert len(names) == 1, names
    return names.pop()


def events_deployments() -> list[Doc]:
    """The events server (``billing.http.events_app`` under gunicorn) of every platform."""
    return [
        doc
        for path in sorted(DEPLOY.glob("*/*.yaml"))
        for doc in load_docs(path)
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] == "billing-events"
    ]


def events_label_and_port_name() -> tuple[str, str]:
    """The pod label and the named port of the events server, the same in every manifest."""
    found: set[tuple[str, str]] = set()
    for deployment in events_deployments():
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        label = deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]
        found |= {(label, port["name"]) for port in container["ports"]}
    assert len(found) == 1, found
    return found.pop()


def namespaces() -> set[str]:
    """Where the functions and the connector run: billing (Knative, KEDA) and the OpenFaaS function namespace."""
    return {deployment["metadata"]["namespace"] for deployment in connector_deployments()}


def secret_the_functions_read() -> str:
    names: set[str] = {
        source["secretRef"]["name"]
        for container in function_containers()
        for source in container.get("envFrom", [])
        if "secretRef" in source
    }
    assert len(names) == 1, names
    return names.pop()


def scrape_configs() -> dict[str, Doc]:
    [configmap] = load_docs(SCRAPE_CONFIGS)
    [text] = configmap["data"].values()
    config = yaml.safe_load(text)
    assert set(config) == {"scrape_configs"}, "a scrape_config_files file holds scrape_configs only"
    return {job["job_name"]: job for job in config["scrape_configs"]}


def keep_regex(job: Doc, source_label: str) -> str:
    [regex] = [
        rule["regex"]
        for rule in job["relabel_configs"]
        if rule.get("action") == "keep" and rule["source_labels"] == [source_label]
    ]
    assert isinstance(regex, str)
    return regex


def alternatives(regex: str) -> set[str]:
    return set(regex.strip("()").split("|"))


# ------------------------------------------------------------------------------------ tests: dashboard
def test_the_exporters_declare_typed_families() -> None:
    families = exported_families()
    assert families, "nothing rendered"
    assert set(families.values()) <= SAMPLE_SUFFIXES.keys()
    assert "histogram" in families.values(), "the suffix checks below need a histogram to compare with"


def test_every_metric_on_the_dashboard_is_exported() -> None:
    assert metric_problems(load_dashboard(), exported_families()) == []


def test_every_exported_family_has_a_panel() -> None:
    series = exported_series(exported_families())
    shown = {series[name][0] for name in used_metric_names(load_dashboard()) if name in series}
    assert shown == set(exported_families())


def test_panel_ids_are_unique_and_grid_positions_valid() -> None:
    dashboard = load_dashboard()
    assert grid_problems(dashboard) == []
    assert sum(1 for panel in panels(dashboard) if panel.get("type") != "row") >= 10


def test_dashboard_imports_with_a_prometheus_input_and_tenant_and_instance_variables() -> None:
    dashboard = load_dashboard()
    assert dashboard["id"] is None and dashboard["uid"]
    assert dashboard["schemaVersion"] >= 38  # Grafana 10.0
    [grafana] = [r for r in dashboard["__requires"] if r["type"] == "grafana"]
    assert int(grafana["version"].split(".")[0]) >= 10
    required_panels = {r["id"] for r in dashboard["__requires"] if r["type"] == "panel"}
    assert {p["type"] for p in panels(dashboard) if p["type"] != "row"} <= required_panels
    [source] = dashboard["__inputs"]
    assert (source["name"], source["type"], source["pluginId"]) == ("DS_PROMETHEUS", "datasource", "prometheus")
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    # Provisioned from a file (no import dialog), ${DS_PROMETHEUS} resolves to this variable instead.
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    for name, label in (("tenant", "tenant_id"), ("instance", "instance_id")):
        variable = variables[name]
        assert variable["type"] == "query" and variable["datasource"] == DATASOURCE
        assert variable["query"]["query"].startswith("label_values(")
        assert variable["query"]["query"].rstrip(") ").endswith(label)
        uses = [expr for _, expr in expressions(dashboard) if f'{label}=~"${name}"' in expr]
        assert uses, f"no query filters {label} by ${name}"
    for panel in panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]
            assert target["expr"].strip(), panel["title"]


# ------------------------------------------------------------------------- tests: the checkers bite
def test_metric_names_are_read_from_promql() -> None:
    expr = (
        'sum by (le, instance_id) (rate(foo_bucket{job="rate(bar)", a=~"$tenant"}[$__rate_interval]))'
        " / on (tenant_id) group_left baz:ratio offset 5m * 1e3 + histogram_quantile(0.95, qux_bucket[5m] @ start())"
    )
    assert promql_metric_names(expr) == {"foo_bucket", "baz:ratio", "qux_bucket"}
    assert promql_metric_names("count(x > 0) or vector(0)") == {"x"}
    assert promql_metric_names("delta((max without (pod) (y{a='b'}))[10m:1m]) unless bool z") == {"y", "z"}
    assert variable_expression('label_values(foo_count{tenant_id=~"$tenant"}, instance_id)').startswith("foo_count{")
    assert variable_expression("label_values(tenant_id)") == ""
    with pytest.raises(ValueError, match="unsupported"):
        variable_expression("metrics(billing_.*)")


@pytest.mark.parametrize(
    ("exported", "broken", "expected"),
    [
        ("billing_messages_sent_total", "billing_message_sent_total", "billing_message_sent_total is not exported"),
        ("billing_sender_outcomes_total", "billing_sender_outcomes_bucket", "is a counter, not a histogram"),
        ("billing_active_queues", "billing_active_queues_count", "is a gauge, not a histogram"),
        ("billing_send_duration_seconds_bucket", "billing_send_duration_seconds", "is not exported"),
    ],
)
def test_metric_checker_catches_a_wrong_name(exported: str, broken: str, expected: str) -> None:
    dashboard = load_dashboard()
    target = next(
        t for p in panels(dashboard) for t in p.get("targets", []) if exported in promql_metric_names(t["expr"])
    )
    target["expr"] = re.sub(rf"\b{exported}\b", broken, target["expr"])
    problems = metric_problems(dashboard, exported_families())
    assert any(expected in p for p in problems), problems


def test_metric_checker_reads_template_variables() -> None:
    dashboard = load_dashboard()
    variable = next(v for v in dashboard["templating"]["list"] if v["name"] == "instance")
    variable["query"]["query"] = variable["query"]["query"].replace("seconds_count", "second_count")
    assert any("variable instance" in p for p in metric_problems(dashboard, exported_families()))


def test_grid_checker_catches_duplicate_ids_overlaps_and_overflow() -> None:
    dashboard = load_dashboard()
    first, second = [p for p in dashboard["panels"] if p["type"] != "row"][:2]
    broken = copy.deepcopy(dashboard)
    broken["panels"][-1]["id"] = broken["panels"][0]["id"]
    assert any("duplicate panel ids" in p for p in grid_problems(broken))
    broken = copy.deepcopy(dashboard)
    panel = next(p for p in broken["panels"] if p["id"] == second["id"])
    panel["gridPos"] = dict(first["gridPos"])
    assert any("overlaps" in p for p in grid_problems(broken))
    panel["gridPos"] = {**first["gridPos"], "x": 20, "w": 8}
    assert any("outside" in p for p in grid_problems(broken))
    panel["gridPos"] = {**first["gridPos"], "w": "8"}
    assert any("integer" in p for p in grid_problems(broken))


# ------------------------------------------------------------------------------ tests: scrape configs
def test_scrape_configs_reach_every_function_and_the_connector_with_the_token_from_a_file() -> None:
    jobs = scrape_configs()
    assert set(jobs) == {"billing-functions", "billing-connector", "billing-events"}
    for name, job in jobs.items():
        assert job["metrics_path"] == "/metrics", name
        authorization = job["authorization"]
        assert authorization.get("type", "Bearer") == "Bearer", name
        assert authorization["credentials_file"].startswith("/"), name
        assert "credentials" not in authorization and "bearer_token" not in job, f"{name}: token inline"
        [discovery] = job["kubernetes_sd_configs"]
        assert discovery["role"] == "pod", name
        assert set(discovery["namespaces"]["names"]) == namespaces(), name
        for rule in job["relabel_configs"]:
            assert set(rule) <= RELABEL_KEYS, rule
            assert rule.get("action", "replace") in RELABEL_ACTIONS, rule
            if rule.get("action", "replace") == "replace":
                assert rule.get("target_label"), rule
            re.compile(rule.get("regex", ".*"))

    functions = jobs["billing-functions"]
    assert keep_regex(functions, "__meta_kubernetes_pod_container_port_number") == str(function_port())
    [naming] = [rule for rule in functions["relabel_configs"] if rule.get("target_label") == "function"]
    assert alternatives(naming["regex"]) == deployed_functions()

    connector = jobs["billing-connector"]
    labels = {d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] for d in connector_deployments()}
    assert {keep_regex(connector, "__meta_kubernetes_pod_label_app_kubernetes_io_name")} == labels
    assert keep_regex(connector, "__meta_kubernetes_pod_container_port_name") == connector_metrics_port_name()

    events = jobs["billing-events"]
    label, port_name = events_label_and_port_name()
    assert {d["metadata"]["namespace"] for d in events_deployments()} == namespaces()
    assert keep_regex(events, "__meta_kubernetes_pod_label_app_kubernetes_io_name") == label
    assert keep_regex(events, "__meta_kubernetes_pod_container_port_name") == port_name
    # Scraped once: the functions' job names no function after the events server's pods, so it drops them.
    assert re.fullmatch(naming["regex"], label) is None


def test_pod_monitors_match_the_deployed_pods_and_send_the_metrics_token() -> None:
    token_key = Settings.model_fields["metrics_token"].alias
    assert token_key == "BILLING_METRICS_TOKEN"
    monitors = load_docs(POD_MONITORS)
    assert {d["kind"] for d in monitors} == {"PodMonitor"}
    by_place = {(d["metadata"]["namespace"], d["metadata"]["name"]): d for d in monitors}
    names = ("billing-functions", "billing-connector", "billing-events")
    assert set(by_place) == {(ns, name) for ns in namespaces() for name in names}
    label, port_name = events_label_and_port_name()
    for (namespace, name), monitor in by_place.items():
        for endpoint in monitor["spec"]["podMetricsEndpoints"]:
            assert endpoint["path"] == "/metrics"
            credentials = endpoint["authorization"]["credentials"]
            assert credentials == {"name": secret_the_functions_read(), "key": token_key}, (namespace, name)
        selector = monitor["spec"]["selector"]
        if name == "billing-functions":
            [expression] = selector["matchExpressions"]
            assert expression["operator"] == "In" and set(expression["values"]) == deployed_functions()
            assert [e["portNumber"] for e in monitor["spec"]["podMetricsEndpoints"]] == [function_port()]
        elif name == "billing-events":
            assert selector == {"matchLabels": {"app.kubernetes.io/name": label}}
            assert [e["port"] for e in monitor["spec"]["podMetricsEndpoints"]] == [port_name]
        else:
            assert selector == {"matchLabels": {"app.kubernetes.io/name": "billing-connector"}}
            assert [e["port"] for e in monitor["spec"]["podMetricsEndpoints"]] == [connector_metrics_port_name()]


def test_pod_monitor_schema_rejects_typos_and_conflicting_credentials() -> None:
    validator = jsonschema.Draft202012Validator(json.loads(POD_MONITOR_SCHEMA.read_text(encoding="utf-8")))
    monitor = load_docs(POD_MONITORS)[0]
    assert list(validator.iter_errors(monitor)) == []
    broken = copy.deepcopy(monitor)
    broken["spec"]["podMetricsEndpoints"][0]["portNumbr"] = 8080
    assert list(validator.iter_errors(broken)), "typo in an endpoint"
    broken = copy.deepcopy(monitor)
    broken["spec"]["podMetricsEndpoints"][0]["bearerTokenSecret"] = {"name": "s", "key": "k"}
    assert list(validator.iter_errors(broken)), "authorization and bearerTokenSecret together"
    broken = copy.deepcopy(monitor)
    del broken["spec"]["podMetricsEndpoints"][0]["relabelings"][0]["targetLabel"]
    assert list(validator.iter_errors(broken)), "a replace relabeling needs targetLabel"
    broken = copy.deepcopy(monitor)
    del broken["spec"]["selector"]
    assert list(validator.iter_errors(broken)), "selector is required"
