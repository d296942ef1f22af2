"""Deployment manifests are valid and consistent with the code (issue 8, acceptance item 2).

* every YAML file under deploy/ and stack.yml parses;
* core Kubernetes kinds pass ``kubernetes_validate`` (strict, Kubernetes 1.30 schemas shipped in the wheel);
* every other kind (Knative, Eventing RabbitMQ, KEDA, Gateway API, the operators' CRs) passes the JSON
  Schema vendored under deploy/schemas/ -- a kind with neither is an error, never silently skipped;
* every function (docs/architecture.md, "The functions") is deployed on Knative, OpenFaaS and plain
  Kubernetes, each deployed function has its entry point ``functions/<name>/main.py`` defining
  ``<name>``, and every entry point present is deployed;
* platform timeouts exceed the time budgets the same manifests give the sender and the sweeper, and the
  console's memory limit covers an Argon2id sign-in on each of its threads;
* every path the HTTP functions serve reaches its function through each platform's public route (Gateway API
  matching emulated), over the example Gateway's TLS listener only, and the event stream reaches the events
  server (not a function: an always-on Deployment running ``billing.http.events_app``) with no request
  timeout, through a Service the route may reference; the operator console's pages (its own route table,
  sign-in and static files, all under ``/console``) reach the console on the API's host, and the functions'
  private paths (probes, ``/metrics``, the triggers) reach nothing;
* the events server runs the events app under gunicorn from the status image of the same release, with
  the functions' Secret and settings, probes that a pod full of streams does not fail, and a grace period
  that covers its shutdown; its NetworkPolicy admits the Gateway and reaches only PostgreSQL, RabbitMQ
  and DNS;
* the migration Jobs wait for PostgreSQL and RabbitMQ first, and the bootstrap Jobs run the ``billing``
  commands as the CLI parses them (the first tenant, its instance, the ERP's key and the first console
  operator, an admin): idempotent, secrets only by environment variable name.

The checkers are plain functions so the negative tests can prove they catch broken manifests.
"""

from __future__ import annotations

import ast
import copy
import json
import re
import shlex
import tomllib
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from billing.adapters.topology import queue_names
from billing.cli import build_parser
from billing.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SCHEMAS = DEPLOY / "schemas"
STACK = ROOT / "stack.yml"
FUNCTIONS_DIR = ROOT / "functions"
K8S_VERSION = "1.30"
# The function set (docs/architecture.md, "The functions"; the entry points may not all exist yet).
FUNCTIONS = ("send", "status", "control", "sender", "sweeper", "webhook", "deliverer", "console")
HTTP_FUNCTIONS = ("send", "status", "control", "webhook", "console")
TRIGGER_FUNCTIONS = ("sender", "sweeper", "deliverer")
# The events server (deploy/README.md, "The events server"): its Deployment and Service on every platform,
# the gunicorn application it serves, and its name in PUBLIC_REQUESTS.
EVENTS = "events"
EVENTS_SERVER = "billing-events"
EVENTS_APP_SOURCE = ROOT / "shared" / "billing" / "http" / "events_app.py"
EVENTS_APP = "billing.http.events_app:create_app()"
GUNICORN_GRACEFUL_TIMEOUT_S = 30  # gunicorn's default --graceful-timeout
# The operator console (docs/console.md), an HTTP function with a router of its own: every page is
# /console/<rest>, and ``billing.http.console.entry`` routes <rest> through its table
# (``billing.http.console.pages.ROUTES``) after the doors it opens before any session, (method, pattern of
# <rest>): sign-in and the static files.
CONSOLE = "console"
CONSOLE_PREFIX = "/console"
CONSOLE_STATIC = ROOT / "shared" / "billing" / "http" / "console" / "static"
CONSOLE_DOORS = (
    ("GET", r"^/login/?$"),
    ("POST", r"^/login/?$"),
    ("GET", r"^/static/[a-z0-9_-]+\.(css|js|svg)$"),
)
# What a process of the console holds besides its sign-ins' Argon2id memory (measured: ~80 MiB idle, master
# and worker, ~110 MiB serving pages), with some room.
CONSOLE_PROCESS_MIB = 128
PLATFORMS = ("knative", "keda", "openfaas")
KNATIVE_MAX_REVISION_TIMEOUT_S = 600  # config-defaults max-revision-timeout-seconds (Knative default)
CRON_PERIOD_S = 60  # the sweeper tick: every minute on every platform

CORE_API_VERSIONS = frozenset(
    {"v1", "apps/v1", "batch/v1", "networking.k8s.io/v1", "policy/v1", "autoscaling/v2", "rbac.authorization.k8s.io/v1"}
)

Doc = dict[str, Any]


# --------------------------------------------------------------------------------------------- loading
def manifest_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*.y*ml") if SCHEMAS not in p.parents)


@cache
def _load(path: Path) -> tuple[Doc, ...]:
    docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    return tuple(docs)


def load(path: Path) -> list[Doc]:
    """Documents of one file (deep copies: tests may mutate them)."""
    return copy.deepcopy(list(_load(path)))


def platform_docs(platform: str) -> list[Doc]:
    return [doc for path in sorted((DEPLOY / platform).glob("*.yaml")) for doc in load(path)]


def all_docs() -> Iterator[tuple[str, Doc]]:
    for path in manifest_files():
        for index, doc in enumerate(load(path)):
            yield f"{path.relative_to(ROOT)}#{index}:{doc.get('kind')}/{doc.get('metadata', {}).get('name')}", doc


def stack() -> Doc:
    data = yaml.safe_load(STACK.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@cache
def vendored_schemas() -> dict[tuple[str, str], Doc]:
    """(apiVersion, kind) -> schema, for every Kubernetes-style schema under deploy/schemas/."""
    found: dict[tuple[str, str], Doc] = {}
    for path in sorted(SCHEMAS.rglob("*.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        props = schema.get("properties", {})
        if "apiVersion" in props and "kind" in props:
            found[(props["apiVersion"]["const"], props["kind"]["const"])] = schema
    return found


def schema_errors(schema: Doc, instance: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    ]


def k8s_errors(doc: Doc) -> list[str]:
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{'/'.join(map(str, exc.path))}: {exc.message}"]
    return []


def validation_errors(doc: Doc) -> list[str]:
    """Validate one manifest with the right validator; unknown kinds are errors."""
    key = (doc.get("apiVersion", ""), doc.get("kind", ""))
    if key[0] in CORE_API_VERSIONS:
        return k8s_errors(doc)
    schema = vendored_schemas().get(key)
    if schema is None:
        return [f"no validator for {key[1]} {key[0]}: vendor a schema under deploy/schemas/"]
    return schema_errors(schema, doc)


# --------------------------------------------------------------------------------------------- parsing
_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def go_duration_s(value: Any) -> float:
    """OpenFaaS timeouts: a Go duration ("5m5s", "300s") or a bare number of seconds."""
    text = str(value).strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = _GO_DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a Go duration: {value!r}")
    return sum(float(n) * _GO_UNITS[u] for n, u in parts)


def default_budget(field: str) -> float:
    default = Settings.model_fields[field].default
    assert isinstance(default, float | int)
    return float(default)


def configmaps(docs: list[Doc]) -> dict[str, dict[str, str]]:
    return {d["metadata"]["name"]: dict(d.get("data", {})) for d in docs if d.get("kind") == "ConfigMap"}


def container_env(container: Mapping[str, Any], maps: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """The environment a container gets from ConfigMaps of the same manifest set, then its own env."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef")
        if ref is not None:
            env.update(maps.get(ref["name"], {}))
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = str(item["value"])
    return env


def budgets(env: Mapping[str, Any]) -> tuple[float, float]:
    sender = float(env.get("BILLING_FUNCTION_BUDGET_S", default_budget("function_budget_s")))
    sweeper = float(env.get("BILLING_SWEEPER_BUDGET_S", default_budget("sweeper_budget_s")))
    return sender, sweeper


def deliverer_budget(env: Mapping[str, Any]) -> float:
    """The longest a deliverer invocation runs: its budget, plus the POST in flight when it ends."""
    budget = float(env.get("BILLING_DELIVERER_BUDGET_S", default_budget("deliverer_budget_s")))
    return budget + float(env.get("BILLING_WEBHOOK_TIMEOUT_S", default_budget("webhook_timeout_s")))


def pod_spec(doc: Doc) -> Doc:
    kind = doc["kind"]
    if kind == "CronJob":
        spec: Doc = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        return spec
    spec = doc["spec"]["template"]["spec"]
    return spec


def knative_services(docs: list[Doc]) -> dict[str, Doc]:
    return {
        d["metadata"]["name"]: d
        for d in docs
        if d.get("apiVersion") == "serving.knative.dev/v1" and d.get("kind") == "Service"
    }


# -------------------------------------------------------------------------------------------- checkers
def knative_timeout_problems(docs: list[Doc]) -> list[str]:
    """timeoutSeconds set on every Service, within Knative's maximum, and above the budget of its function."""
    problems: list[str] = []
    maps = configmaps(docs)
    for name, svc in knative_services(docs).items():
        spec = svc["spec"]["template"]["spec"]
        timeout = spec.get("timeoutSeconds")
        if not isinstance(timeout, int):
            problems.append(f"knative {name}: no timeoutSeconds")
            continue
        if timeout > KNATIVE_MAX_REVISION_TIMEOUT_S:
            problems.append(f"knative {name}: timeoutSeconds {timeout} > max-revision-timeout-seconds")
        sender_budget, sweeper_budget = budgets(container_env(spec["containers"][0], maps))
        if name == "sender" and not timeout > sender_budget:
            problems.append(f"knative sender: timeoutSeconds {timeout} <= BILLING_FUNCTION_BUDGET_S {sender_budget}")
        longest = deliverer_budget(container_env(spec["containers"][0], maps))
        if name == "deliverer" and not timeout > longest:
            problems.append(f"knative deliverer: timeoutSeconds {timeout} <= its budget + one POST ({longest:g} s)")
        if name == "sweeper":
            if not timeout > sweeper_budget:
                problems.append(
                    f"knative sweeper: timeoutSeconds {timeout} <= BILLING_SWEEPER_BUDGET_S {sweeper_budget}"
                )
            if not sweeper_budget < CRON_PERIOD_S:
                problems.append(f"knative sweeper: budget {sweeper_budget} s does not fit the 60 s tick")
    return problems


def openfaas_timeout_problems(stack_doc: Doc) -> list[str]:
    """exec/read/write timeouts on every function, read/write >= exec, and all above the function's budget."""
    problems: list[str] = []
    for name, fn in stack_doc.get("functions", {}).items():
        env = fn.get("environment", {})
        try:
            timeouts = {key: go_duration_s(env[key]) for key in ("exec_timeout", "read_timeout", "write_timeout")}
        except KeyError as exc:
            problems.append(f"openfaas {name}: {exc.args[0]} missing")
            continue
        except ValueError as exc:
            problems.append(f"openfaas {name}: {exc}")
            continue
        for key in ("read_timeout", "write_timeout"):
            if timeouts[key] < timeouts["exec_timeout"]:
                problems.append(f"openfaas {name}: {key} < exec_timeout")
        sender_budget, sweeper_budget = budgets(env)
        budget = {"sender": sender_budget, "sweeper": sweeper_budget, "deliverer": deliverer_budget(env)}.get(name)
        if budget is not None:
            for key, value in timeouts.items():
                if not value > budget:
                    problems.append(f"openfaas {name}: {key} {value:g} s <= budget {budget:g} s")
        if name == "sweeper" and not sweeper_budget < CRON_PERIOD_S:
            problems.append(f"openfaas sweeper: budget {sweeper_budget} s does not fit the 60 s tick")
    return problems


def keda_timeout_problems(docs: list[Doc]) -> list[str]:
    """The sweeper CronJob's deadline above the sweeper budget, and the budget under the tick period."""
    problems: list[str] = []
    maps = configmaps(docs)
    cronjobs = [d for d in docs if d.get("kind") == "CronJob"]
    if not cronjobs:
        problems.append("keda: no sweeper CronJob")
    for cron in cronjobs:
        deadline = cron["spec"]["jobTemplate"]["spec"].get("activeDeadlineSeconds")
        _, sweeper_budget = budgets(container_env(pod_spec(cron)["containers"][0], maps))
        if not isinstance(deadline, int) or not deadline > sweeper_budget:
            problems.append(
                f"keda {cron['metadata']['name']}: activeDeadlineSeconds {deadline} <= budget {sweeper_budget}"
            )
        if not sweeper_budget < CRON_PERIOD_S:
            problems.append(f"keda sweeper: budget {sweeper_budget} s does not fit the 60 s tick")
    return problems


def entry_point_problems(name: str, source: str) -> list[str]:
    """``functions/<name>/main.py`` must define ``<name>`` at module level (def, assignment or import)."""
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return []
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return []
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
            return []
        if isinstance(node, ast.ImportFrom) and any((a.asname or a.name) == name for a in node.names):
            return []
    return [f"functions/{name}/main.py does not define {name!r}"]


def present_entry_points() -> set[str]:
    return {p.parent.name for p in FUNCTIONS_DIR.glob("*/main.py")}


# ------------------------------------------------------------------------------------- tests: validity
ALL_DOCS = list(all_docs())


def test_manifests_exist_for_every_platform() -> None:
    assert STACK.is_file()
    for platform in ("knative", "openfaas", "keda"):
        assert list((DEPLOY / platform).glob("*.yaml")), platform


@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_yaml_parses_into_kubernetes_objects(path: Path) -> None:
    docs = load(path)
    assert docs, f"{path} is empty"
    for doc in docs:
        assert isinstance(doc, dict)
        assert {"apiVersion", "kind", "metadata"} <= doc.keys()
        assert doc["metadata"].get("name")


@pytest.mark.parametrize(("ident", "doc"), ALL_DOCS, ids=[ident for ident, _ in ALL_DOCS])
def test_manifest_passes_its_schema(ident: str, doc: Doc) -> None:
    assert validation_errors(doc) == [], ident


def test_vendored_schemas_are_valid_json_schemas() -> None:
    paths = sorted(SCHEMAS.rglob("*.json"))
    assert len(paths) >= 6
    for path in paths:
        jsonschema.Draft202012Validator.check_schema(json.loads(path.read_text(encoding="utf-8")))


def test_knative_containers_are_valid_kubernetes_containers() -> None:
    """Knative's schema only lists the container keys; the k8s schema checks their contents."""
    for name, svc in knative_services(platform_docs("knative")).items():
        containers = svc["spec"]["template"]["spec"]["containers"]
        for container in containers:  # Knative fills in the probe port (the serving port); a Pod needs it
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                if "httpGet" in container.get(probe, {}):
                    container[probe]["httpGet"].setdefault("port", container["ports"][0]["containerPort"])
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": containers}}
        assert k8s_errors(pod) == [], name


def test_stack_yml_passes_the_openfaas_schema() -> None:
    schema = json.loads((SCHEMAS / "openfaas" / "stack_v1.json").read_text(encoding="utf-8"))
    assert schema_errors(schema, stack()) == []


# -------------------------------------------------------------------------- tests: the validators bite
def test_kubernetes_validate_rejects_a_bad_core_object() -> None:
    doc = load(DEPLOY / "keda" / "20-connector.yaml")[0]
    doc["spec"]["replicas"] = "two"
    assert k8s_errors(doc)
    doc = load(DEPLOY / "keda" / "20-connector.yaml")[0]
    doc["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"  # typo: strict mode
    assert k8s_errors(doc)


def test_unknown_kinds_are_errors_not_skipped() -> None:
    assert validation_errors({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})


def test_vendored_schemas_reject_broken_custom_resources() -> None:
    svc = knative_services(platform_docs("knative"))["sender"]
    broken = copy.deepcopy(svc)
    broken["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "PORT", "value": "9000"})
    assert validation_errors(broken), "PORT is reserved by Knative"
    broken = copy.deepcopy(svc)
    broken["spec"]["template"]["metadata"]["annotations"]["autoscaling.knative.dev/min-scale"] = 0
    assert validation_errors(broken), "annotation values must be strings"
    broken = copy.deepcopy(svc)
    broken["spec"]["template"]["spec"]["timeoutSecond"] = 300
    assert validation_errors(broken), "typo at spec level"

    keda = platform_docs("keda")
    scaled = next(d for d in keda if d["kind"] == "ScaledObject" and d["metadata"]["name"] == "sender")
    broken = copy.deepcopy(scaled)
    broken["spec"]["triggers"][0]["metadata"]["protocol"] = "amqp"
    assert validation_errors(broken), "useRegex needs protocol http"
    broken = copy.deepcopy(scaled)
    del broken["spec"]["triggers"]
    assert validation_errors(broken)

    source = next(d for d in platform_docs("knative") if d["kind"] == "RabbitmqSource")
    broken = copy.deepcopy(source)
    broken["spec"]["rabbitmqResourcesConfig"]["parallelism"] = 0
    assert validation_errors(broken)
    broken = copy.deepcopy(source)
    broken["spec"]["delivery"]["deadLetterSink"] = {"uri": "http://x"}
    assert validation_errors(broken), "RabbitmqSource has no deadLetterSink"

    bad_stack = stack()
    bad_stack["functions"]["sender"]["enviroment"] = {}
    schema = json.loads((SCHEMAS / "openfaas" / "stack_v1.json").read_text(encoding="utf-8"))
    assert schema_errors(schema, bad_stack), "faas-cli would silently ignore the typo"


# ------------------------------------------------------------------- tests: functions <-> entry points
def test_function_set_matches_the_contract_and_the_entry_points() -> None:
    """Every entry point present is one of the contract's functions (so it is deployed below)."""
    assert present_entry_points() <= set(FUNCTIONS)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_entry_point_defines_its_target(name: str) -> None:
    path = FUNCTIONS_DIR / name / "main.py"
    if not path.is_file():
        pytest.skip(f"functions/{name}/main.py is not written yet")
    assert entry_point_problems(name, path.read_text(encoding="utf-8")) == []


def test_entry_point_checker_catches_a_missing_target() -> None:
    assert entry_point_problems("sender", "def send(request):\n    return 'x'\n")
    assert entry_point_problems("sender", "def sender(request):\n    return 'x'\n") == []
    assert entry_point_problems("sender", "from billing.http.entry import trigger as sender\n") == []


def test_every_function_is_deployed_on_every_platform() -> None:
    expected = set(FUNCTIONS) | present_entry_points()
    assert set(stack()["functions"]) == expected
    assert set(knative_services(platform_docs("knative"))) == expected
    keda_deployments = {d["metadata"]["name"] for d in platform_docs("keda") if d["kind"] == "Deployment"}
    assert keda_deployments == expected | {"billing-connector", EVENTS_SERVER}
    # Beside the functions, always on: the connector (no Knative: its sources deliver) and the events server.
    for platform, others in (("knative", {EVENTS_SERVER}), ("openfaas", {"billing-connector", EVENTS_SERVER})):
        assert {d["metadata"]["name"] for d in platform_docs(platform) if d["kind"] == "Deployment"} == others


def test_images_and_build_args_name_their_function() -> None:
    for name, fn in stack()["functions"].items():
        assert fn["lang"] == "dockerfile"
        assert fn["handler"] == "."
        assert fn["build_args"]["FUNCTION"] == name
        assert re.search(rf"/billing-{name}:", fn["image"]), fn["image"]
    for name, svc in knative_services(platform_docs("knative")).items():
        assert f"/billing-{name}:" in svc["spec"]["template"]["spec"]["containers"][0]["image"]
    for doc in platform_docs("keda"):
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] in FUNCTIONS:
            assert f"/billing-{doc['metadata']['name']}:" in pod_spec(doc)["containers"][0]["image"]


# ------------------------------------------------------------------------------------- tests: timeouts
def test_timeouts_exceed_the_budgets() -> None:
    assert knative_timeout_problems(platform_docs("knative")) == []
    assert openfaas_timeout_problems(stack()) == []
    assert keda_timeout_problems(platform_docs("keda")) == []


def test_timeout_checker_catches_a_short_knative_timeout() -> None:
    docs = platform_docs("knative")
    knative_services(docs)["sender"]["spec"]["template"]["spec"]["timeoutSeconds"] = 200
    assert any("sender" in p for p in knative_timeout_problems(docs))

    docs = platform_docs("knative")
    env = knative_services(docs)["sweeper"]["spec"]["template"]["spec"]["containers"][0]["env"]
    next(e for e in env if e["name"] == "BILLING_SWEEPER_BUDGET_S")["value"] = "150"
    assert any("sweeper" in p for p in knative_timeout_problems(docs))

    docs = platform_docs("knative")
    knative_services(docs)["deliverer"]["spec"]["template"]["spec"]["timeoutSeconds"] = 55
    assert any("deliverer" in p for p in knative_timeout_problems(docs))

    docs = platform_docs("knative")
    del knative_services(docs)["status"]["spec"]["template"]["spec"]["timeoutSeconds"]
    assert knative_timeout_problems(docs) == ["knative status: no timeoutSeconds"]


def test_timeout_checker_catches_a_short_openfaas_timeout() -> None:
    bad = stack()
    bad["functions"]["sender"]["environment"]["exec_timeout"] = "3m"
    assert any("sender: exec_timeout" in p for p in openfaas_timeout_problems(bad))
    bad = stack()
    bad["functions"]["sender"]["environment"]["BILLING_FUNCTION_BUDGET_S"] = "400"
    assert openfaas_timeout_problems(bad)
    bad = stack()
    bad["functions"]["sweeper"]["environment"]["write_timeout"] = "30s"
    assert openfaas_timeout_problems(bad)
    bad = stack()
    del bad["functions"]["send"]["environment"]["read_timeout"]
    assert openfaas_timeout_problems(bad) == ["openfaas send: read_timeout missing"]


def test_timeout_checker_catches_a_short_cronjob_deadline() -> None:
    docs = platform_docs("keda")
    cron = next(d for d in docs if d["kind"] == "CronJob")
    cron["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"] = 45
    assert keda_timeout_problems(docs)


def test_go_durations() -> None:
    assert go_duration_s("5m5s") == 305
    assert go_duration_s("300s") == 300
    assert go_duration_s(120) == 120
    assert go_duration_s("1h") == 3600
    with pytest.raises(ValueError, match="Go duration"):
        go_duration_s("5 minutes")


# --------------------------------------------------------------------------- tests: platform specifics
def test_knative_services_scale_to_zero_probe_health_and_read_their_settings() -> None:
    for name, svc in knative_services(platform_docs("knative")).items():
        template = svc["spec"]["template"]
        assert template["metadata"]["annotations"]["autoscaling.knative.dev/min-scale"] == "0", name
        spec = template["spec"]
        container = spec["containers"][0]
        assert container["readinessProbe"]["httpGet"]["path"] == "/healthz", name
        refs = {(k, v["name"]) for src in container["envFrom"] for k, v in src.items()}
        assert {("secretRef", "billing-secrets"), ("configMapRef", "billing-config")} <= refs, name
        assert {"requests", "limits"} <= container["resources"].keys(), name
        env = container_env(container, {})
        assert int(env["THREADS"]) == spec["containerConcurrency"], f"{name}: THREADS != containerConcurrency"


_MIB = {"Ki": 1 / 1024, "Mi": 1.0, "Gi": 1024.0, "k": 1e3 / 2**20, "M": 1e6 / 2**20, "G": 1e9 / 2**20, "": 1 / 2**20}


def quantity_mib(value: Any) -> float:
    """A Kubernetes memory quantity ("512Mi", "1Gi", "500M", bytes) in MiB."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|k|M|G|)", str(value))
    if match is None:
        raise ValueError(f"not a memory quantity: {value!r}")
    return float(match[1]) * _MIB[match[2]]


def console_threads_and_memory(platform: str, docs: list[Doc]) -> tuple[int, float]:
    """(THREADS, memory limit in MiB) of the console on a platform."""
    if platform == "openfaas":
        fn = stack()["functions"][CONSOLE]
        return int(fn["environment"]["THREADS"]), quantity_mib(fn["limits"]["memory"])
    if platform == "knative":
        container = knative_services(docs)[CONSOLE]["spec"]["template"]["spec"]["containers"][0]
    else:
        [deployment] = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == CONSOLE]
        container = pod_spec(deployment)["containers"][0]
    threads = int(container_env(container, configmaps(docs))["THREADS"])
    return threads, quantity_mib(container["resources"]["limits"]["memory"])


def console_memory_problems(threads: int, limit_mib: float) -> list[str]:
    """A sign-in verifies one Argon2id hash, which holds ``memory_cost`` while it runs: the console's memory
    limit covers its process and THREADS sign-ins at once, or a burst of sign-ins gets the pod OOM-killed."""
    from billing.services.console.operators import _hasher

    per_sign_in = _hasher().memory_cost / 1024  # KiB
    needed = CONSOLE_PROCESS_MIB + threads * per_sign_in
    if limit_mib < needed:
        return [
            f"memory limit {limit_mib:g} MiB < {CONSOLE_PROCESS_MIB} MiB of process + {threads} sign-ins at once"
            f" x {per_sign_in:g} MiB (Argon2id) = {needed:g} MiB"
        ]
    return []


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_console_memory_limit_covers_a_sign_in_on_every_thread(platform: str) -> None:
    assert console_memory_problems(*console_threads_and_memory(platform, platform_docs(platform))) == []


def test_console_memory_checker_catches_a_limit_too_small_for_its_threads() -> None:
    assert quantity_mib("512Mi") == 512 and quantity_mib("1Gi") == 1024 and quantity_mib(str(2**20)) == 1
    assert console_memory_problems(4, 256) != []
    assert console_memory_problems(2, 256) == []
    docs = platform_docs("keda")
    [deployment] = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == CONSOLE]
    pod_spec(deployment)["containers"][0]["resources"]["limits"]["memory"] = "256Mi"
    assert console_memory_problems(*console_threads_and_memory("keda", docs))


def test_knative_sources_cover_every_queue_and_the_tick() -> None:
    names = queue_names("billing")
    docs = platform_docs("knative")
    routed = {
        d["spec"]["rabbitmqResourcesConfig"]["queueName"]: d["spec"]["sink"]["ref"]["name"]
        for d in docs
        if d["kind"] == "RabbitmqSource"
    }
    assert routed == {
        **dict.fromkeys(names.sender, "sender"),
        **dict.fromkeys(names.sweeper, "sweeper"),
        **dict.fromkeys(names.deliverer, "deliverer"),
    }
    for d in docs:
        if d["kind"] == "RabbitmqSource":
            config = d["spec"]["rabbitmqResourcesConfig"]
            # our queues are classic priority queues declared by the code: never let the source redeclare
            assert config["predeclared"] is True
            assert config["queueType"] == "classic"
    pings = [d for d in docs if d["kind"] == "PingSource"]
    assert len(pings) == 1
    assert pings[0]["spec"]["schedule"] == "* * * * *"
    assert pings[0]["spec"]["sink"]["ref"]["name"] == "sweeper"


# One concrete request per route the HTTP functions serve (the table is checked against their ROUTES below,
# so a route added to a function without a public path here fails the test).
PUBLIC_REQUESTS = (
    ("POST", "/api/v1/billing/send/overdue", "send"),
    ("GET", "/api/v1/billing/openapi.json", "send"),
    ("GET", "/api/v1/billing/queue/q-1/status", "status"),
    ("GET", "/api/v1/billing/queue/q-1/contacts", "status"),
    ("GET", "/api/v1/billing/queues", "status"),
    ("GET", "/api/v1/billing/conversations", "status"),
    ("GET", "/api/v1/billing/conversations/c-1/messages", "status"),
    ("POST", "/api/v1/billing/queue/q-1/control", "control"),
    ("POST", "/api/v1/billing/invoices/NF-1/cancel", "control"),
    ("POST", "/api/v1/billing/conversations/c-1/close", "control"),
    ("POST", "/api/v1/billing/webhook/evolution/5f0c6c1e-0000-4000-8000-000000000000", "webhook"),
    ("POST", "/api/v1/billing/webhook/evolution/5f0c6c1e-0000-4000-8000-000000000000/messages-upsert", "webhook"),
    # Server-Sent Events, and a WebSocket upgrade of the same GET: the events server, never status.
    ("GET", "/api/v1/billing/events", EVENTS),
    # The operator console, on the API's host: its session cookie (Path=/) opens the event stream above.
    ("GET", "/console/login", CONSOLE),
    ("POST", "/console/login", CONSOLE),
    ("GET", "/console/static/console.js", CONSOLE),
    ("GET", "/console/static/console.css", CONSOLE),
    ("POST", "/console/logout", CONSOLE),
    ("POST", "/console/tenant", CONSOLE),
    ("GET", "/console/", CONSOLE),
    ("GET", "/console/queues", CONSOLE),
    ("GET", "/console/queues/q-1", CONSOLE),
    ("GET", "/console/queues/q-1/progress", CONSOLE),
    ("POST", "/console/queues/q-1/control", CONSOLE),
    ("GET", "/console/inbox", CONSOLE),
    ("GET", "/console/inbox/c-1", CONSOLE),
    ("POST", "/console/inbox/c-1/close", CONSOLE),
    ("GET", "/console/instances", CONSOLE),
    ("POST", "/console/instances/i-1/key", CONSOLE),
    ("GET", "/console/templates", CONSOLE),
    ("POST", "/console/templates/preview", CONSOLE),
    ("GET", "/console/templates/overdue/1", CONSOLE),
    ("POST", "/console/templates/overdue/1", CONSOLE),
    ("POST", "/console/templates/overdue/1/enabled", CONSOLE),
    ("GET", "/console/settings", CONSOLE),
    ("POST", "/console/settings/hours", CONSOLE),
    ("POST", "/console/settings/hours/remove", CONSOLE),
    ("POST", "/console/settings/closed-dates", CONSOLE),
    ("POST", "/console/settings/closed-dates/remove", CONSOLE),
    ("POST", "/console/settings/sending", CONSOLE),
    ("POST", "/console/settings/keys", CONSOLE),
    ("POST", "/console/settings/keys/erp/revoke", CONSOLE),
)
# What no platform publishes: the functions' probes and /metrics, the trigger functions (POST / on their own
# Service; /function/<name> on OpenFaaS) and a path that only starts like the console's.
PRIVATE_REQUESTS = (
    ("GET", "/healthz"),
    ("GET", "/_/health"),
    ("GET", "/metrics"),
    ("POST", "/"),
    ("POST", "/function/sender"),
    ("GET", "/consoles"),
)
GATEWAY_EXAMPLE = DEPLOY / "gateway" / "public-gateway.example.yaml"


def route_source(name: str) -> Path:
    """Where the routes of an HTTP function, or of the events server, are declared."""
    return EVENTS_APP_SOURCE if name == EVENTS else FUNCTIONS_DIR / name / "main.py"


def console_routes() -> list[tuple[str, re.Pattern[str]]]:
    """(method, whole-path pattern) of every console route: the table ``billing.http.console.entry``
    dispatches signed-in requests through (``billing.http.console.pages.ROUTES``, sign-out and the tenant
    switch included), then the doors ``entry.handle`` opens before any session (CONSOLE_DOORS). Their
    patterns match the path after /console, anchored at both ends; here they are put under /console."""
    from billing.http.console.pages import ROUTES

    table = [(r.method, r.pattern.pattern) for r in ROUTES] + list(CONSOLE_DOORS)
    assert all(pattern.startswith("^") and pattern.endswith("$") for _, pattern in table), "anchored both ends"
    return [(method, re.compile("^" + re.escape(CONSOLE_PREFIX) + pattern[1:])) for method, pattern in table]


def function_routes(name: str) -> list[tuple[str, re.Pattern[str]]]:
    """(method, path pattern) of every ``route(...)`` in ``functions/<name>/main.py``'s ROUTES (the events
    server's in ``billing/http/events_app.py``), compiled as ``billing.http.entry.route`` does (anchored at
    the end, searched); the console's from its own table (``console_routes``)."""
    if name == CONSOLE:
        return console_routes()
    tree = ast.parse(route_source(name).read_text(encoding="utf-8"))
    constants = {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for target in node.targets
        if isinstance(target, ast.Name)
    }

    def literal(arg: ast.expr) -> str:  # a string, or the name of a module-level string
        return str(arg.value if isinstance(arg, ast.Constant) else constants[arg.id])  # type: ignore[attr-defined]

    return [
        (literal(node.args[0]), re.compile(literal(node.args[1]) + r"/?$"))
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "route"
    ]


def _path_matches(match: Mapping[str, Any], path: str) -> tuple[bool, bool, int]:
    """(matches, exact, prefix length) of one HTTPRoute match for a path (Gateway API semantics: a
    PathPrefix matches whole path elements, its trailing slash ignored)."""
    kind, value = match["path"]["type"], match["path"]["value"]
    if kind == "Exact":
        return path == value, True, len(value)
    prefix = value.rstrip("/") or "/"
    ok = prefix == "/" or path == prefix or path.startswith(prefix + "/")
    return ok, False, len(prefix)


def route_target(route: Doc, method: str, path: str) -> tuple[str, str, str] | None:
    """Where an HTTPRoute sends a request: (backend Service, Host rewrite or "", path forwarded), choosing
    among matching rules by Gateway API precedence (exact path, longest prefix, method match)."""
    best: tuple[tuple[bool, int, bool], Doc, Mapping[str, Any]] | None = None
    for rule in route["spec"]["rules"]:
        for match in rule["matches"]:
            ok, exact, length = _path_matches(match, path)
            if not ok or match.get("method", method) != method:
                continue
            rank = (exact, length, "method" in match)
            if best is None or rank > best[0]:
                best = (rank, rule, match)
    if best is None:
        return None
    _, rule, match = best
    host, forwarded = "", path
    for flt in rule.get("filters", []):
        rewrite = flt.get("urlRewrite", {})
        host = rewrite.get("hostname", host)
        if rewrite.get("path", {}).get("type") == "ReplacePrefixMatch":
            assert match["path"]["type"] == "PathPrefix", "ReplacePrefixMatch needs a PathPrefix match"
            prefix = match["path"]["value"].rstrip("/")
            forwarded = rewrite["path"]["replacePrefixMatch"] + path[len(prefix) :]
    return rule["backendRefs"][0]["name"], host, forwarded


def reached_function(platform: str, route: Doc, method: str, path: str) -> tuple[str, str] | None:
    """(function, path the function sees) behind each platform's way of reaching its functions."""
    target = route_target(route, method, path)
    if target is None:
        return None
    backend, host, forwarded = target
    if backend == EVENTS_SERVER:  # the events server's plain Service, on every platform
        return EVENTS, forwarded
    if platform == "knative":  # Kourier's internal gateway routes on the rewritten Host
        assert backend == "kourier-internal"
        return host.removesuffix(".billing.svc.cluster.local"), forwarded
    if platform == "openfaas":  # the OpenFaaS gateway strips /function/<name>
        assert backend == "gateway"
        name = forwarded.split("/")[2] if forwarded.startswith("/function/") else ""
        return name, forwarded.removeprefix(f"/function/{name}")
    return backend, forwarded


def public_route(platform: str) -> Doc:
    [route] = [d for d in platform_docs(platform) if d["kind"] == "HTTPRoute"]
    return route


def route_problems(platform: str, route: Doc) -> list[str]:
    problems = []
    for method, path, function in PUBLIC_REQUESTS:
        reached = reached_function(platform, route, method, path)
        if reached != (function, path):
            problems.append(f"{platform}: {method} {path} reaches {reached}, not {function}")
    for method, path in PRIVATE_REQUESTS:
        target = route_target(route, method, path)
        if target is not None:
            problems.append(f"{platform}: {method} {path} is published (to {target[0]})")
    return problems


def test_every_public_request_is_one_that_its_function_serves_and_every_route_has_one() -> None:
    for name in (*HTTP_FUNCTIONS, EVENTS):
        routes = function_routes(name)
        assert routes, name
        requests = [(m, p) for m, p, f in PUBLIC_REQUESTS if f == name]
        for method, path in requests:
            assert any(m == method and pattern.search(path) for m, pattern in routes), (name, method, path)
        for method, pattern in routes:
            assert any(m == method and pattern.search(p) for m, p in requests), f"{name}: no request for {pattern}"


def console_answer(method: str, path: str) -> Any:
    """The console function's answer to a request that carries no session cookie (no database needed)."""
    from billing.http.console.entry import handle
    from flask import Flask, request

    with Flask(__name__).test_request_context(path, method=method):
        return handle(request)


def test_the_console_serves_its_doors_before_any_session_and_sends_its_pages_to_sign_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CONSOLE_DOORS are what ``entry.handle`` serves itself: without a session each door's request gets its
    answer (the sign-in form, the form's refusal without its CSRF token, a file) and every other console
    request is sent to sign in first; every static file the package ships is served through the door."""
    monkeypatch.setattr("billing.http.entry.ensure_logging", lambda: None)  # no process-wide logging set-up
    for method, path, name in PUBLIC_REQUESTS:
        if name != CONSOLE:
            continue
        answer = console_answer(method, path)
        rest = path.removeprefix(CONSOLE_PREFIX)
        if any(m == method and re.search(pattern, rest) for m, pattern in CONSOLE_DOORS):
            assert answer.status_code in {200, 403} and "Location" not in answer.headers, (method, path)
        else:
            assert answer.status_code == 303, (method, path)
            assert answer.headers["Location"].startswith(f"{CONSOLE_PREFIX}/login?next="), (method, path)
    files = sorted(f.name for f in CONSOLE_STATIC.iterdir() if f.is_file())
    assert files
    for name in files:
        assert any(re.search(pattern, f"/static/{name}") for _, pattern in CONSOLE_DOORS), name
        assert console_answer("GET", f"{CONSOLE_PREFIX}/static/{name}").status_code == 200, name
    assert console_answer("GET", f"{CONSOLE_PREFIX}/static/missing.js").status_code == 404


@pytest.mark.parametrize("platform", ["knative", "keda", "openfaas"])
def test_public_routes_send_every_api_request_to_its_function_with_its_path(platform: str) -> None:
    assert route_problems(platform, public_route(platform)) == []


def test_route_checker_catches_a_missing_or_misdirected_route() -> None:
    route = public_route("knative")
    route["spec"]["rules"] = [r for r in route["spec"]["rules"] if "status." not in str(r.get("filters"))]
    assert any("/conversations " in p and "None" in p for p in route_problems("knative", route))
    route = public_route("openfaas")
    route["spec"]["rules"][0]["filters"][0]["urlRewrite"]["path"]["replacePrefixMatch"] = "/function/send"
    assert any("/send/overdue" in p for p in route_problems("openfaas", route))
    for platform in PLATFORMS:  # without its exact rule, the stream falls to status's GET prefix
        route = public_route(platform)
        route["spec"]["rules"] = [r for r in route["spec"]["rules"] if EVENTS_SERVER not in str(r["backendRefs"])]
        assert route_problems(platform, route) == [
            f"{platform}: GET /api/v1/billing/events reaches ('status', '/api/v1/billing/events'), not {EVENTS}"
        ]


def console_rule(route: Doc) -> Doc:
    rules: list[Doc] = [r for r in route["spec"]["rules"] if "console" in str(r)]
    [rule] = rules
    return rule


@pytest.mark.parametrize("platform", PLATFORMS)
def test_route_checker_catches_a_missing_misdirected_or_catch_all_console_route(platform: str) -> None:
    console_requests = [f"{method} {path} " for method, path, name in PUBLIC_REQUESTS if name == CONSOLE]
    route = public_route(platform)
    route["spec"]["rules"].remove(console_rule(route))
    problems = route_problems(platform, route)
    assert [p.removeprefix(f"{platform}: ").partition("reaches")[0] for p in problems] == console_requests
    assert all("reaches None" in p for p in problems)

    route = public_route(platform)
    rule = console_rule(route)
    if platform == "knative":  # Kourier would route on another function's Host
        rule["filters"][0]["urlRewrite"]["hostname"] = "control.billing.svc.cluster.local"
    elif platform == "keda":
        rule["backendRefs"][0]["name"] = "control"
    else:  # the gateway strips /function/console: the console must still see /console/...
        rule["filters"][0]["urlRewrite"]["path"]["replacePrefixMatch"] = "/function/console"
    problems = route_problems(platform, route)
    assert len(problems) == len(console_requests)
    assert "GET /console/queues reaches" in " ".join(problems)

    route = public_route(platform)  # publishing more than /console: the probes, /metrics, the triggers
    console_rule(route)["matches"] = [{"path": {"type": "PathPrefix", "value": "/"}}]
    problems = route_problems(platform, route)
    assert any("GET /metrics is published" in p for p in problems)
    assert any("POST /function/sender is published" in p for p in problems)


def backend_problems(platform: str, route: Doc, docs: list[Doc]) -> list[str]:
    """Every backendRef naming one of our Services: the Service exists in the namespace referred to, on that
    port, and a ReferenceGrant in that namespace allows the route when it is another one's."""
    problems = []
    services = {
        (d["metadata"]["namespace"], d["metadata"]["name"]): d
        for d in docs
        if (d["apiVersion"], d["kind"]) == ("v1", "Service")
    }
    grants = [d for d in docs if d["kind"] == "ReferenceGrant"]
    here = route["metadata"]["namespace"]
    for rule in route["spec"]["rules"]:
        for ref in rule["backendRefs"]:
            namespace = ref.get("namespace", here)
            service = services.get((namespace, ref["name"]))
            if service is None:
                if ref["name"] == EVENTS_SERVER:
                    problems.append(f"{platform}: no Service {namespace}/{ref['name']}")
                continue  # the platform's own gateway (Kourier, OpenFaaS): not ours to check
            if ref["port"] not in {port["port"] for port in service["spec"]["ports"]}:
                problems.append(f"{platform}: Service {namespace}/{ref['name']} has no port {ref['port']}")
            allowed = namespace == here or any(
                grant["metadata"]["namespace"] == namespace
                and {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": here}
                in grant["spec"]["from"]
                and any(
                    to["kind"] == "Service" and to.get("name", ref["name"]) == ref["name"] for to in grant["spec"]["to"]
                )
                for grant in grants
            )
            if not allowed:
                problems.append(
                    f"{platform}: no ReferenceGrant lets {here}'s route use Service {namespace}/{ref['name']}"
                )
    return problems


def event_stream_rules(route: Doc) -> list[Doc]:
    return [r for r in route["spec"]["rules"] if any(ref["name"] == EVENTS_SERVER for ref in r["backendRefs"])]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_event_stream_reaches_the_events_service_with_no_request_timeout(platform: str) -> None:
    """Envoy-based Gateways end a response after 15 s unless the route disables its timeout; the stream goes
    to the events server's own Service (not through Kourier or the OpenFaaS gateway, which would cut it)."""
    route = public_route(platform)
    assert backend_problems(platform, route, platform_docs(platform)) == []
    [rule] = event_stream_rules(route)
    assert rule["timeouts"]["request"] == "0s"
    assert "filters" not in rule, "the events server sees the path as the client sent it"
    assert [m["path"] for m in rule["matches"]] == [{"type": "Exact", "value": "/api/v1/billing/events"}]


def test_backend_checker_catches_a_missing_service_port_or_grant() -> None:
    route, docs = public_route("openfaas"), platform_docs("openfaas")
    grants = [d for d in docs if d["kind"] != "ReferenceGrant"]
    assert backend_problems("openfaas", route, grants) == [
        "openfaas: no ReferenceGrant lets openfaas's route use Service openfaas-fn/billing-events"
    ]
    [rule] = event_stream_rules(route)
    rule["backendRefs"][0]["port"] = 8080
    assert backend_problems("openfaas", route, docs) == [
        "openfaas: Service openfaas-fn/billing-events has no port 8080"
    ]
    route = public_route("keda")
    docs = [d for d in platform_docs("keda") if not (d["kind"] == "Service" and d["metadata"]["name"] == EVENTS_SERVER)]
    assert backend_problems("keda", route, docs) == ["keda: no Service billing/billing-events"]


def test_the_example_gateway_terminates_tls_for_every_route_and_never_serves_them_plain() -> None:
    docs = load(GATEWAY_EXAMPLE)
    [gateway] = [d for d in docs if d["kind"] == "Gateway"]
    issuers = {d["metadata"]["name"] for d in docs if d["kind"] == "ClusterIssuer"}
    assert gateway["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] in issuers

    def admits(listener: Doc, namespace: str) -> bool:
        allowed = listener.get("allowedRoutes", {}).get("namespaces", {"from": "Same"})
        if allowed["from"] == "Same":
            return bool(namespace == gateway["metadata"]["namespace"])
        if allowed["from"] == "All":
            return True
        [expression] = allowed["selector"]["matchExpressions"]
        return bool(expression["key"] == "kubernetes.io/metadata.name" and namespace in expression["values"])

    for platform in ("knative", "keda", "openfaas"):
        route = public_route(platform)
        namespace = route["metadata"]["namespace"]
        assert [(p["name"], p["namespace"]) for p in route["spec"]["parentRefs"]] == [
            (gateway["metadata"]["name"], gateway["metadata"]["namespace"])
        ]
        serving = [
            listener
            for listener in gateway["spec"]["listeners"]
            if admits(listener, namespace) and listener.get("hostname") in route["spec"]["hostnames"]
        ]
        assert serving, platform
        assert all(lst["protocol"] == "HTTPS" and lst["tls"]["certificateRefs"] for lst in serving), platform


# ------------------------------------------------------------------------ tests: Jobs, order and bootstrap
JOB_FILES = {
    "knative": ("40-migrate-job.yaml", "60-bootstrap-job.yaml"),
    "keda": ("60-migrate-job.yaml", "80-bootstrap-job.yaml"),
    "openfaas": ("migrate-job.yaml", "bootstrap-job.yaml"),
}


def job(platform: str, index: int) -> Doc:
    [doc] = load(DEPLOY / platform / JOB_FILES[platform][index])
    assert doc["kind"] == "Job"
    return doc


def billing_commands(script: str) -> list[list[str]]:
    """The ``billing`` command lines of a shell script, shell expansions replaced by a placeholder."""
    lines = script.replace("\\\n", " ").splitlines()
    commands = []
    for line in lines:
        words = shlex.split(line, comments=True)
        if words[:1] == ["billing"]:
            commands.append(["x" if "$" in word else word for word in words[1:]])
    return commands


def env_sources(container: Mapping[str, Any]) -> set[tuple[str, str]]:
    return {(kind, ref["name"]) for source in container.get("envFrom", []) for kind, ref in source.items()}


def command_name(args: Any) -> str:
    """The "<group> <sub-command>" of a parsed ``billing`` command line (``operator`` names its sub-command
    ``operator_command``, the other groups ``sub``)."""
    sub = getattr(args, "sub", None) or getattr(args, f"{args.command}_command", None)
    return f"{args.command} {sub}"


def bootstrap_problems(doc: Doc, secret_keys: set[str]) -> list[str]:
    """The bootstrap Job creates a tenant, an instance, a key and the first console operator (an admin),
    each --if-missing, with every secret taken by variable name from the Secret billing-bootstrap (the
    operator's password too: one generated would be printed into the Job's log), as the real CLI parses
    the commands."""
    [container] = pod_spec(doc)["containers"]
    problems = []
    if not {("secretRef", "billing-secrets"), ("secretRef", "billing-bootstrap")} <= env_sources(container):
        problems.append("the container does not read billing-secrets and billing-bootstrap")
    script = container["args"][0] if container["command"][0] == "sh" else shlex.join(container["command"])
    parsed = {}
    for argv in billing_commands(script):
        try:
            args = build_parser().parse_args(argv)
        except SystemExit:
            problems.append(f"the CLI refuses: billing {shlex.join(argv)}")
            continue
        parsed[command_name(args)] = args
    if set(parsed) != {"tenant create", "instance add", "apikey create", "operator create"}:
        problems.append(f"commands: {sorted(parsed)}")
    for name, args in parsed.items():
        if not args.if_missing:
            problems.append(f"{name} without --if-missing: a second run would fail")
    instance, key = parsed.get("instance add"), parsed.get("apikey create")
    if instance is not None and (instance.api_key or instance.webhook_secret):
        problems.append("instance add takes a secret on its command line")
    secrets = [getattr(instance, "api_key_from_env", ""), getattr(instance, "webhook_secret_from_env", "")]
    secrets.append(getattr(key, "key_from_env", ""))
    operator = parsed.get("operator create")
    secrets.append(getattr(operator, "password_from_env", ""))
    if not all(secrets):
        problems.append("a secret is not taken from the environment by name")
    if operator is not None and operator.role != "admin":
        problems.append(f"the first operator is a {operator.role}: nobody could manage the console")
    optional = set(re.findall(r"\$\{(\w+):-", script))  # ${VAR:-default}
    required = {*re.findall(r"\$\{?(\w+)", script), *filter(None, secrets)} - optional
    problems += [f"{name} is not a key of the Secret billing-bootstrap" for name in sorted(required - secret_keys)]
    return problems


def bootstrap_secret_keys() -> set[str]:
    docs = [
        d for d in load(DEPLOY / "knative" / "02-secret.example.yaml") if d["metadata"]["name"] == "billing-bootstrap"
    ]
    keda = [d for d in load(DEPLOY / "keda" / "02-secret.example.yaml") if d["metadata"]["name"] == "billing-bootstrap"]
    assert docs == keda
    return set(docs[0]["stringData"])


@pytest.mark.parametrize("platform", ["knative", "keda", "openfaas"])
def test_the_bootstrap_job_creates_the_first_tenant_idempotently_from_a_secret(platform: str) -> None:
    assert bootstrap_problems(job(platform, 1), bootstrap_secret_keys()) == []


def test_bootstrap_checker_catches_a_secret_on_the_command_line_and_a_second_run_that_fails() -> None:
    keys = bootstrap_secret_keys()
    doc = job("knative", 1)
    container = pod_spec(doc)["containers"][0]
    container["args"][0] = container["args"][0].replace(
        "--api-key-from-env BOOTSTRAP_GATEWAY_API_KEY", '--api-key "$BOOTSTRAP_GATEWAY_API_KEY"'
    )
    assert any("command line" in p for p in bootstrap_problems(doc, keys))
    doc = job("knative", 1)
    container = pod_spec(doc)["containers"][0]
    container["args"][0] = container["args"][0].replace('"$BOOTSTRAP_TENANT" --if-missing', '"$BOOTSTRAP_TENANT"')
    assert bootstrap_problems(doc, keys) == ["tenant create without --if-missing: a second run would fail"]
    doc = job("knative", 1)
    pod_spec(doc)["containers"][0]["args"][0] += "billing apikey create --tenant t --name k --key-from-env KEY --typo\n"
    assert any("CLI refuses" in p for p in bootstrap_problems(doc, keys))
    assert any("BOOTSTRAP_TENANT" in p for p in bootstrap_problems(job("keda", 1), keys - {"BOOTSTRAP_TENANT"}))


def test_bootstrap_checker_catches_an_operator_password_printed_a_second_run_that_fails_or_no_admin() -> None:
    keys = bootstrap_secret_keys()
    for platform in PLATFORMS:
        doc = job(platform, 1)
        script = pod_spec(doc)["containers"][0]["args"]
        assert " --password-from-env BILLING_BOOTSTRAP_OPERATOR_PASSWORD" in script[0], platform
        script[0] = script[0].replace(" --password-from-env BILLING_BOOTSTRAP_OPERATOR_PASSWORD", "")
        assert bootstrap_problems(doc, keys) == ["a secret is not taken from the environment by name"]
    doc = job("knative", 1)
    script = pod_spec(doc)["containers"][0]["args"]
    script[0] = script[0].replace("billing operator create --if-missing", "billing operator create")
    assert bootstrap_problems(doc, keys) == ["operator create without --if-missing: a second run would fail"]
    doc = job("openfaas", 1)
    script = pod_spec(doc)["containers"][0]["args"]
    script[0] = script[0].replace("--role admin", "--role viewer")
    assert bootstrap_problems(doc, keys) == ["the first operator is a viewer: nobody could manage the console"]
    for missing in ("BILLING_BOOTSTRAP_OPERATOR_EMAIL", "BILLING_BOOTSTRAP_OPERATOR_PASSWORD"):
        assert bootstrap_problems(job("keda", 1), keys - {missing}) == [
            f"{missing} is not a key of the Secret billing-bootstrap"
        ]
    doc = job("keda", 1)
    script = pod_spec(doc)["containers"][0]["args"]
    script[0] = "\n".join(line for line in script[0].splitlines() if "OPERATOR" not in line.upper()) + "\n"
    assert bootstrap_problems(doc, keys) == [
        "commands: ['apikey create', 'instance add', 'tenant create']",
        "a secret is not taken from the environment by name",
    ]


@pytest.mark.parametrize("platform", ["knative", "keda", "openfaas"])
def test_migration_jobs_wait_for_postgres_and_rabbitmq_before_migrating(platform: str) -> None:
    spec = pod_spec(job(platform, 0))
    waits = spec.get("initContainers", [])
    assert [c["command"][:2] for c in waits] == [["billing", "wait"]]
    [wait] = waits
    args = build_parser().parse_args(wait["command"][1:])
    # within the Job's deadline, with room left for the migration itself
    assert args.timeout + 120 <= job(platform, 0)["spec"]["activeDeadlineSeconds"]
    [migrate] = spec["containers"]
    assert env_sources(wait) == env_sources(migrate), "the same URLs as the migration"
    assert wait.get("env") == migrate.get("env")


def test_openfaas_sweeper_ticks_come_from_the_connector_which_calls_the_gateway() -> None:
    """The cron-connector posts a bare body and cannot present the trigger token the internal
    functions require on OpenFaaS (the gateway publishes them): the connector sends the tick."""
    functions = stack()["functions"]
    for name, fn in functions.items():
        assert fn["secrets"] == ["billing-secrets"], name
        assert "topic" not in fn.get("annotations", {}), name
    deployment = load(DEPLOY / "openfaas" / "connector.yaml")[0]
    command = pod_spec(deployment)["containers"][0]["command"]
    assert command[:2] == ["billing", "connector"]
    urls = dict(zip(command[2::2], command[3::2], strict=True))
    assert urls["--sender-url"].endswith("/function/sender")
    assert urls["--sweeper-url"].endswith("/function/sweeper")
    assert urls["--deliverer-url"].endswith("/function/deliverer")
    assert int(urls["--tick-interval"]) == CRON_PERIOD_S


def test_keda_scales_the_workers_on_their_queues() -> None:
    names = queue_names("billing")
    docs = platform_docs("keda")
    scaled = {d["spec"]["scaleTargetRef"]["name"]: d for d in docs if d["kind"] == "ScaledObject"}
    assert {"billing-connector", "sender", "sweeper", "deliverer"} <= scaled.keys()
    auth = {d["metadata"]["name"] for d in docs if d["kind"] == "TriggerAuthentication"}
    workers = (("sender", names.sender), ("sweeper", names.sweeper), ("deliverer", names.deliverer))
    for target, queues in (*workers, ("billing-connector", names.work)):
        trigger = scaled[target]["spec"]["triggers"][0]
        assert trigger["type"] == "rabbitmq"
        assert trigger["authenticationRef"]["name"] in auth
        pattern = re.compile(trigger["metadata"]["queueName"])
        matched = {q for q in (*names.work, *(names.dead_letter(q) for q in names.work)) if pattern.search(q)}
        assert matched == set(queues), target
    deployment = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "billing-connector")
    command = pod_spec(deployment)["containers"][0]["command"]
    assert command[:2] == ["billing", "connector"]


def test_dockerfile_is_multi_stage_slim_non_root_and_parameterised() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, flags=re.MULTILINE | re.IGNORECASE)
    assert len(stages) >= 2
    final = text[text.rindex("\nFROM ") :]
    assert re.search(r"^FROM python:\$\{PYTHON_VERSION\}-slim", final.strip(), flags=re.MULTILINE)
    assert re.search(r"^ARG PYTHON_VERSION=3\.1[12]$", text, flags=re.MULTILINE)
    assert "ARG FUNCTION" in final
    user = re.findall(r"^USER\s+(\S+)", final, flags=re.MULTILINE)
    assert user and not user[-1].startswith(("0", "root"))
    assert not re.search(r"apt-get install|build-essential|gcc", final), "no build tools in the final image"
    assert (
        "functions-framework --source functions/${FUNCTION}/main.py --target ${FUNCTION} --port ${PORT:-8080}" in final
    )
    for copied in re.findall(r"^COPY\s+(?:--\S+\s+)*(\S+)\s", text, flags=re.MULTILINE):
        if copied.startswith(("/", "--")) or "$" in copied:
            continue
        assert (ROOT / copied).exists(), f"COPY source {copied} missing"
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".venv", ".git", "tests"} <= set(ignored)
    # Pinned to what CI ran, and without extras: no simulator (aiohttp) or dev tools in production.
    assert re.search(r"pip install -c constraints\.txt \.(\s|$)", text)


def test_every_dependency_is_pinned_above_the_known_vulnerable_releases() -> None:
    def canonical(name: str) -> str:  # PEP 503: case and -_. do not matter
        return re.sub(r"[-_.]+", "-", name).lower()

    pins = {
        canonical(name): version
        for name, version in (
            line.split("==", 1)
            for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines()
            if line and not line.startswith("#")
        )
    }
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = [*project["dependencies"], *(d for extra in project["optional-dependencies"].values() for d in extra)]
    for requirement in declared:
        name = canonical(re.split(r"[<>=!~\[ ]", requirement, maxsplit=1)[0])
        assert name in pins, f"{name} is not pinned in constraints.txt"
    floors = {"aiohttp": (3, 12, 14), "cryptography": (44, 0, 1), "gunicorn": (23, 0, 0)}
    for name, floor in floors.items():
        version = tuple(int(part) for part in pins[name].split(".")[:3])
        assert version >= floor, f"{name} {pins[name]} is below {floor}"
    assert "aiohttp" not in " ".join(project["dependencies"])  # the simulator's, not the functions'


@pytest.mark.parametrize(
    ("platform", "http_policy", "trigger_policy"),
    [
        ("knative", "billing-http-functions", "billing-trigger-functions"),
        ("keda", "billing-http-functions", "billing-trigger-functions"),
    ],
)
def test_network_policies_fence_every_function_and_only_those(
    platform: str, http_policy: str, trigger_policy: str
) -> None:
    policies = {d["metadata"]["name"]: d for d in platform_docs(platform) if d.get("kind") == "NetworkPolicy"}

    def selected(name: str) -> set[str]:
        [expression] = policies[name]["spec"]["podSelector"]["matchExpressions"]
        return set(expression["values"])

    assert selected(http_policy) == set(HTTP_FUNCTIONS)
    assert selected(trigger_policy) == set(TRIGGER_FUNCTIONS)
    assert selected(http_policy) | selected(trigger_policy) == present_entry_points()
    assert set(policies) == {http_policy, trigger_policy, EVENTS_SERVER}
    for name in (http_policy, trigger_policy):
        assert policies[name]["spec"]["policyTypes"] == ["Ingress"] and policies[name]["spec"]["ingress"][0]["from"]


def test_openfaas_network_policy_selects_every_function_by_its_openfaas_label() -> None:
    policies = {d["metadata"]["name"]: d for d in load(DEPLOY / "openfaas" / "network-policies.yaml")}
    assert set(policies) == {"billing-functions-from-gateway", EVENTS_SERVER}
    policy = policies["billing-functions-from-gateway"]
    [expression] = policy["spec"]["podSelector"]["matchExpressions"]
    assert expression["key"] == "faas_function" and set(expression["values"]) == set(stack()["functions"])


# ------------------------------------------------------------------------------- tests: the events server
GUNICORN_FLAGS = frozenset({"--no-control-socket", "--preload", "--reload", "--daemon", "--check-config"})


def gunicorn_arguments(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    """(options, applications) of a gunicorn command line after ``gunicorn``; a flag's value is ""."""
    options: dict[str, str] = {}
    positional: list[str] = []
    words = iter(argv)
    for word in words:
        if word in GUNICORN_FLAGS:
            options[word] = ""
        elif word.startswith("--"):
            name, _, value = word.partition("=")
            options[name] = value or next(words, "")
        else:
            positional.append(word)
    return options, positional


def events_deployment(docs: list[Doc]) -> Doc:
    [deployment] = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == EVENTS_SERVER]
    return deployment


def expand_defaults(text: str) -> str:
    """stack.yml's ``${VAR:-default}`` as faas-cli expands it with VAR unset."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", text)


def function_container_env(platform: str, name: str, docs: list[Doc]) -> dict[str, str]:
    """The environment (ConfigMaps included) a function gets on a platform."""
    if platform == "openfaas":
        return {key: str(value) for key, value in stack()["functions"][name]["environment"].items()}
    if platform == "knative":
        container = knative_services(docs)[name]["spec"]["template"]["spec"]["containers"][0]
    else:
        [function] = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == name]
        container = pod_spec(function)["containers"][0]
    return container_env(container, configmaps(docs))


def function_image(platform: str, name: str, docs: list[Doc]) -> str:
    if platform == "openfaas":
        return expand_defaults(stack()["functions"][name]["image"])
    if platform == "knative":
        image: str = knative_services(docs)[name]["spec"]["template"]["spec"]["containers"][0]["image"]
        return image
    [function] = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == name]
    image = pod_spec(function)["containers"][0]["image"]
    return image


def probe_problems(container: Doc, port_name: str) -> list[str]:
    problems = []
    for probe in ("startupProbe", "readinessProbe"):
        action = container.get(probe, {}).get("httpGet", {})
        if (action.get("path"), action.get("port")) != ("/healthz", port_name):
            problems.append(f"{probe} is not GET /healthz on port {port_name}")
    liveness = container.get("livenessProbe")
    if liveness is None:
        problems.append("no livenessProbe")
    elif "httpGet" in liveness:
        # A probe request waits for a free thread: on a pod whose threads all hold streams it would fail and
        # restart a pod full of healthy streams. gunicorn's arbiter restarts a hung worker by itself.
        problems.append("livenessProbe waits for a free thread (httpGet): probe the socket instead")
    return problems


def events_server_problems(platform: str, docs: list[Doc]) -> list[str]:
    """The events server's Deployment: gunicorn serving the events app (one process, several threads) from the
    status image of the same release, the functions' Secret and settings, probes, shutdown, and a Service."""
    problems: list[str] = []
    deployment = events_deployment(docs)
    spec = pod_spec(deployment)
    [container] = spec["containers"]
    command = container.get("command", [])
    options, applications = gunicorn_arguments(command[1:])
    if command[:1] != ["gunicorn"] or applications != [EVENTS_APP]:
        problems.append(f"command is not gunicorn serving {EVENTS_APP}: {command}")
    env = container_env(container, configmaps(docs))
    streams_per_key = int(env.get("BILLING_EVENTS_STREAMS_PER_KEY", default_budget("events_streams_per_key")))
    if int(options.get("--workers", "1")) != 1:
        problems.append("more than one worker: each would open its own LISTEN and count streams per key apart")
    if not int(options.get("--threads", "1")) > streams_per_key:
        problems.append(
            f"--threads must exceed BILLING_EVENTS_STREAMS_PER_KEY ({streams_per_key}): a thread per stream"
        )
    ports = {port["containerPort"]: port["name"] for port in container.get("ports", [])}
    bound = int(options.get("--bind", ":0").rpartition(":")[2])
    if bound not in ports:
        problems.append(f"gunicorn binds port {bound}, the container declares {sorted(ports)}")
    problems += probe_problems(container, ports.get(bound, "?"))

    image = container["image"]
    status_image = function_image(platform, "status", docs)
    if image != status_image:
        problems.append(f"image {image} is not the status function's {status_image} (same release, same code)")

    sources = env_sources(container)
    if ("secretRef", "billing-secrets") not in sources:
        problems.append("does not read the Secret billing-secrets (DATABASE_URL, RABBITMQ_URL, BILLING_SECRET_KEY)")
    for item in container.get("env", []):
        ref = item.get("valueFrom", {}).get("secretKeyRef")
        if ref is not None and (ref["name"] != "billing-secrets" or not ref.get("optional")):
            problems.append(f"{item['name']} must come from an optional key of billing-secrets (else envFrom's)")
    functions_env = function_container_env(platform, "deliverer", docs)
    for key in ("BILLING_ENV", "BILLING_BROKER_QUEUE_PREFIX", "BILLING_INTERNAL_AUTH"):
        if env.get(key) != functions_env.get(key):
            problems.append(f"{key} is {env.get(key)!r}, the functions' {functions_env.get(key)!r}")

    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    sleep = float(pre_stop[1]) if pre_stop[:1] == ["sleep"] and len(pre_stop) == 2 else 0.0
    if not sleep > 0:
        problems.append("no preStop sleep: the Gateway may still send new streams to a stopping pod")
    graceful = float(options.get("--graceful-timeout", GUNICORN_GRACEFUL_TIMEOUT_S))
    grace = spec.get("terminationGracePeriodSeconds", 30)
    if not grace > sleep + graceful:
        problems.append(
            f"terminationGracePeriodSeconds {grace} <= preStop {sleep:g} s + --graceful-timeout {graceful:g} s"
        )

    labels = deployment["spec"]["template"]["metadata"]["labels"]
    services = [
        d for d in docs if (d["apiVersion"], d["kind"]) == ("v1", "Service") and d["metadata"]["name"] == EVENTS_SERVER
    ]
    if len(services) != 1:
        problems.append(f"{len(services)} Services {EVENTS_SERVER}")
    for service in services:
        if service["metadata"]["namespace"] != deployment["metadata"]["namespace"]:
            problems.append("the Service is not in the Deployment's namespace")
        if not service["spec"]["selector"].items() <= labels.items():
            problems.append("the Service does not select the Deployment's pods")
        for port in service["spec"]["ports"]:
            if port["targetPort"] not in {*ports, *ports.values()}:
                problems.append(f"the Service targets port {port['targetPort']}, not the container's")
    if labels.get("app.kubernetes.io/name") != EVENTS_SERVER:
        problems.append("pods not labelled app.kubernetes.io/name=billing-events (monitors, NetworkPolicy)")
    return problems


def test_the_events_app_is_the_module_gunicorn_loads() -> None:
    """The command's application exists: ``billing.http.events_app`` defines ``create_app``."""
    module, _, call = EVENTS_APP.partition(":")
    assert module.replace(".", "/") + ".py" == str(EVENTS_APP_SOURCE.relative_to(ROOT / "shared"))
    tree = ast.parse(EVENTS_APP_SOURCE.read_text(encoding="utf-8"))
    assert call.removesuffix("()") in {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_events_server_runs_always_on_with_the_secrets_probes_and_a_grace_period(platform: str) -> None:
    docs = platform_docs(platform)
    assert events_server_problems(platform, docs) == []
    deployment = events_deployment(docs)
    assert deployment["spec"]["replicas"] >= 1, "always on: never scaled to zero"
    assert not [d for d in docs if d["kind"] == "ScaledObject" and d["spec"]["scaleTargetRef"]["name"] == EVENTS_SERVER]
    assert EVENTS_SERVER not in knative_services(docs), "a Knative Service cuts WebSockets and scales to zero"
    [budget] = [d for d in docs if d["kind"] == "PodDisruptionBudget" and d["metadata"]["name"] == EVENTS_SERVER]
    assert (
        budget["spec"]["selector"]["matchLabels"].items()
        <= deployment["spec"]["template"]["metadata"]["labels"].items()
    )


def test_events_server_checker_catches_a_wrong_command_image_secret_probe_or_grace() -> None:
    def broken(change: Any) -> list[str]:
        docs = platform_docs("keda")
        change(pod_spec(events_deployment(docs)))
        return events_server_problems("keda", docs)

    def container(spec: Doc) -> Doc:
        found: Doc = spec["containers"][0]
        return found

    assert any("command" in p for p in broken(lambda s: container(s).update(command=["billing", "connector"])))
    assert any("worker" in p for p in broken(lambda s: container(s)["command"].extend(["--workers", "4"])))
    assert any("image" in p for p in broken(lambda s: container(s).update(image="x/billing-status:0.0.9")))
    assert any("billing-secrets" in p for p in broken(lambda s: container(s).update(envFrom=[])))
    assert any(
        "optional" in p for p in broken(lambda s: container(s)["env"][0]["valueFrom"]["secretKeyRef"].pop("optional"))
    )
    assert any(
        "free thread" in p for p in broken(lambda s: container(s).update(livenessProbe=container(s)["readinessProbe"]))
    )
    assert any("readinessProbe" in p for p in broken(lambda s: container(s).pop("readinessProbe")))
    assert any(
        "terminationGracePeriodSeconds" in p for p in broken(lambda s: s.update(terminationGracePeriodSeconds=30))
    )
    assert any("preStop" in p for p in broken(lambda s: container(s).pop("lifecycle")))
    docs = platform_docs("openfaas")
    env = pod_spec(events_deployment(docs))["containers"][0]["env"]
    next(e for e in env if e["name"] == "BILLING_BROKER_QUEUE_PREFIX")["value"] = "other"
    assert any("BILLING_BROKER_QUEUE_PREFIX" in p for p in events_server_problems("openfaas", docs))


def url_ports(secret: Doc) -> set[int]:
    """The ports of the URLs in billing-secrets (PostgreSQL, the pooler, RabbitMQ)."""
    return {urlsplit(v).port or 0 for k, v in secret["stringData"].items() if k.endswith("_URL")}


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_events_server_admits_the_gateway_and_reaches_only_postgres_rabbitmq_and_dns(platform: str) -> None:
    docs = platform_docs(platform)
    [policy] = [d for d in docs if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == EVENTS_SERVER]
    deployment = events_deployment(docs)
    assert policy["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    assert (
        policy["spec"]["podSelector"]["matchLabels"].items()
        <= deployment["spec"]["template"]["metadata"]["labels"].items()
    )
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]

    def namespaces(peers: list[Doc]) -> set[str]:
        return {peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for peer in peers}

    [ingress] = policy["spec"]["ingress"]
    assert namespaces(ingress["from"]) == {"gateway-system", "monitoring"}  # the Gateway's proxy, Prometheus
    [container] = pod_spec(deployment)["containers"]
    assert [p["port"] for p in ingress["ports"]] == [port["containerPort"] for port in container["ports"]]
    allowed = {(port["port"], port["protocol"]) for rule in policy["spec"]["egress"] for port in rule["ports"]}
    assert {(53, "UDP"), (53, "TCP")} <= allowed
    [secret] = [
        d for d in load(DEPLOY / "knative" / "02-secret.example.yaml") if d["metadata"]["name"] == "billing-secrets"
    ]
    assert {(port, "TCP") for port in url_ports(secret)} <= allowed
