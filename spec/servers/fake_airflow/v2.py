"""Airflow 3 public API (/api/v2) handlers, keyed by operationId."""
import json
import time

from . import common
from .common import limit_offset, one_of, order, pattern, patterns, prefix, ranges, states_filter
from .errors import HTTPError, ValidationFailed, unique_violation
from .responses import Resp, Stream
from .state import RUN_STATES, TERMINAL_TI, task_log_lines
from .util import DAY, iso_off, iso_z, midnight, parse_dt, redact_value
from .tokens import sign_blob, unsign_blob

HANDLERS = {}
DEFAULT_VERSION = "3.3.2"  # the version /api/v2/version answers unless told otherwise
GIT_VERSION = ".release:9f2c4e1d7b3a5c6e8f0a1b2c3d4e5f6a7b8c9d0e"


def op(*names):
    def deco(fn):
        for n in names:
            HANDLERS[n] = fn
        return fn
    return deco


def fallback(c):
    """Operations without a dedicated handler: empty but well-formed answers."""
    if c.req.method == "GET":
        return {"total_entries": 0}
    return Resp(c.op.get("status", 200), None)


def extra_body_checks(c, opmeta, body):
    """Checks on top of the schema (logical_date must be present on trigger, as in Airflow 3.0)."""
    if opmeta["op"] == "trigger_dag_run" and c.settings.get("require_logical_date") and isinstance(body, dict):
        if "logical_date" not in body:
            return [{"type": "missing", "loc": ["body", "logical_date"], "msg": "Field required", "input": body}]
    return []


# =========================================================================== lookups

def get_dag(c, dag_id=None):
    dag_id = dag_id if dag_id is not None else c.path["dag_id"]
    dag = c.state.dags.get(dag_id)
    if dag is None:
        raise HTTPError(404, f"The Dag with ID: `{dag_id}` was not found")
    return dag


def get_run(c, dag_id=None, run_id=None):
    dag_id = dag_id if dag_id is not None else c.path["dag_id"]
    run_id = run_id if run_id is not None else c.path["dag_run_id"]
    run = c.state.find_run(dag_id, run_id)
    if run is None:
        raise HTTPError(404, f"The DagRun with dag_id: `{dag_id}` and run_id: `{run_id}` was not found")
    return run


def get_ti(c, map_index=None):
    run = get_run(c)
    task_id = c.path["task_id"]
    if map_index is None:
        map_index = c.path.get("map_index", c.q.get("map_index", -1))
        if map_index is None:
            map_index = -1
    ti = run.ti(task_id, map_index)
    if ti is None:
        task = run.dag.tasks.get(task_id)
        if task is not None and task.mapped and map_index == -1:
            raise HTTPError(404, "Task instance is mapped, add the map_index value to the URL")
        raise HTTPError(404, f"The Task Instance with dag_id: `{run.dag.dag_id}`, run_id: `{run.run_id}`, "
                             f"task_id: `{task_id}` and map_index: `{map_index}` was not found")
    return ti


def dag_ids_for(c, dag_id):
    if dag_id == "~":
        return None
    get_dag(c, dag_id)
    return dag_id


# =========================================================================== serializers

def version_json(dag, v):
    return {"id": v["id"], "version_number": v["version_number"], "dag_id": dag.dag_id,
            "bundle_name": "dags-folder", "bundle_version": None, "created_at": iso_z(v["created_at"]),
            "dag_display_name": dag.display_name, "bundle_url": None}


def tags_json(dag):
    return [{"name": t, "dag_id": dag.dag_id, "dag_display_name": dag.display_name} for t in sorted(dag.tags)]


def last_run(c, dag):
    runs = c.state.all_runs(dag.dag_id)
    if not runs:
        return None
    return max(runs, key=lambda r: (r.run_after or 0, r.id))


def dag_json(c, dag):
    nxt = c.state.next_schedule(dag, c.now)
    return {
        "dag_id": dag.dag_id,
        "dag_display_name": dag.display_name,
        "is_paused": dag.is_paused,
        "is_stale": dag.stale,
        "last_parsed_time": iso_z(dag.last_parsed),
        "last_parse_duration": 0.0421,
        "last_expired": None,
        "bundle_name": "dags-folder",
        "bundle_version": None,
        "relative_fileloc": dag.relative_fileloc,
        "fileloc": dag.fileloc,
        "description": dag.description,
        "timetable_summary": dag.schedule,
        "timetable_description": dag.timetable_description or ("Never, external triggers only"
                                                               if dag.schedule is None else None),
        "timetable_partitioned": False,
        "tags": tags_json(dag),
        "max_active_tasks": dag.max_active_tasks,
        "max_active_runs": dag.max_active_runs,
        "max_consecutive_failed_dag_runs": 0,
        "has_task_concurrency_limits": False,
        "has_import_errors": False,
        "next_dagrun_logical_date": iso_z(nxt["logical_date"]) if nxt else None,
        "next_dagrun_data_interval_start": iso_z(nxt["start"]) if nxt else None,
        "next_dagrun_data_interval_end": iso_z(nxt["end"]) if nxt else None,
        "next_dagrun_run_after": iso_z(nxt["run_after"]) if nxt else None,
        "owners": list(dag.owners),
        "file_token": c.state.file_token(dag),
        "allowed_run_types": None,
    }


def dag_details_json(c, dag):
    d = dag_json(c, dag)
    active = sum(1 for r in c.state.all_runs(dag.dag_id) if r.view(c.now).state in ("queued", "running"))
    d.update({
        "catchup": dag.catchup,
        "concurrency": dag.max_active_tasks,
        "dag_run_timeout": None,
        "asset_expression": {"any": [{"asset": {"uri": "s3://data-lake/raw/sales.csv", "name": "raw_sales",
                                                "group": "asset", "id": 1}}]}
        if dag.dag_id == "example_ml" else None,
        "default_args": {"owner": dag.owners[0], "retries": 0},
        "doc_md": dag.doc_md,
        "end_date": None,
        "is_paused_upon_creation": None,
        "last_parsed": iso_z(dag.last_parsed),
        "params": {k: {"value": v, "description": None, "schema": {}, "source": None}
                   for k, v in dag.params.items()},
        "render_template_as_native_obj": False,
        "start_date": iso_z(dag.start_date),
        "template_search_path": None,
        "timezone": "UTC",
        "owner_links": {},
        "latest_dag_version": version_json(dag, dag.latest_version),
        "is_favorite": dag.dag_id in c.state.favorites.get(c.user, set()),
        "active_runs_count": active,
    })
    return d


def run_json(c, run, v=None):
    v = v or run.view(c.now)
    dag = run.dag
    duration = (v.end - v.start) if v.end is not None and v.start is not None else None
    return {
        "dag_run_id": run.run_id,
        "dag_id": dag.dag_id,
        "logical_date": iso_z(run.logical_date),
        "queued_at": iso_z(v.queued if v.queued is not None else run.queued_at),
        "start_date": iso_z(v.start),
        "end_date": iso_z(v.end),
        "duration": round(duration, 6) if duration is not None else None,
        "data_interval_start": iso_z(run.data_interval[0]),
        "data_interval_end": iso_z(run.data_interval[1]),
        "run_after": iso_z(run.run_after),
        "last_scheduling_decision": iso_z(v.end or v.start),
        "run_type": run.run_type,
        "state": v.state,
        "triggered_by": run.triggered_by,
        "triggering_user_name": run.user,
        "conf": run.conf,
        "note": run.note,
        "dag_versions": [version_json(dag, run.version)],
        "bundle_version": None,
        "dag_display_name": dag.display_name,
        "partition_key": None,
    }


def ti_json(c, ti, v=None, history=False):
    v = v or ti.view(c.now)
    run = ti.run
    task = ti.task
    duration = (v.end - v.start) if v.end is not None and v.start is not None else None
    started = v.start is not None
    d = {
        "task_id": ti.task_id,
        "task_display_name": ti.task_id,
        "dag_id": run.dag.dag_id,
        "dag_run_id": run.run_id,
        "dag_display_name": run.dag.display_name,
        "map_index": ti.map_index,
        "start_date": iso_z(v.start),
        "end_date": iso_z(v.end),
        "duration": round(duration, 6) if duration is not None else None,
        "state": v.state,
        "try_number": v.try_number,
        "max_tries": task.retries,
        "hostname": "fake-worker-1" if started else None,
        "unixname": "airflow",
        "pool": task.pool,
        "pool_slots": 1,
        "queue": "default",
        "priority_weight": 1 + len(run.dag.closure([task.task_id], "down")),
        "operator": task.operator,
        "operator_name": task.operator,
        "queued_when": iso_z(v.queued),
        "scheduled_when": iso_z(v.queued),
        "pid": (4000 + (abs(hash(ti.id)) % 5000)) if started else None,
        "executor": None,
        "executor_config": "{}",
        "dag_version": version_json(run.dag, run.version),
    }
    if not history:
        d.update({
            "id": ti.id,
            "logical_date": iso_z(run.logical_date),
            "run_after": iso_z(run.run_after),
            "note": ti.note,
            "rendered_map_index": str(ti.map_index) if ti.map_index >= 0 else None,
            "rendered_fields": dict(task.rendered),
            "trigger": None,
            "triggerer_job": None,
        })
    return d


def variable_json(var):
    value = var["value"]
    if value is not None:
        try:
            parsed = json.loads(value)
        except (ValueError, TypeError):
            value = redact_value(var["key"], value)
        else:
            if isinstance(parsed, dict):
                value = json.dumps({k: redact_value(k, x) for k, x in parsed.items()})
            else:
                value = redact_value(var["key"], json.dumps(parsed))
                if value != "***":
                    value = var["value"]
    return {"key": var["key"], "value": value, "description": var["description"], "is_encrypted": True,
            "team_name": var.get("team_name")}


def pool_json(c, pool):
    usage = c.state.pool_usage(pool["name"], c.now)
    occupied = usage["running"] + usage["queued"] + (usage["deferred"] if pool["include_deferred"] else 0)
    slots = pool["slots"]
    return {"name": pool["name"], "slots": slots, "description": pool["description"],
            "include_deferred": pool["include_deferred"], "occupied_slots": occupied,
            "running_slots": usage["running"], "queued_slots": usage["queued"],
            "scheduled_slots": usage["scheduled"], "open_slots": -1 if slots == -1 else slots - occupied,
            "deferred_slots": usage["deferred"], "team_name": pool.get("team_name")}


def connection_json(conn):
    extra = conn["extra"]
    if extra is not None:
        try:
            parsed = json.loads(extra)
            if isinstance(parsed, dict):
                extra = json.dumps({k: redact_value(k, v) for k, v in parsed.items()})
        except ValueError:
            pass
    return {"connection_id": conn["connection_id"], "conn_type": conn["conn_type"],
            "description": conn["description"], "host": conn["host"], "login": conn["login"],
            "schema": conn["schema"], "port": conn["port"],
            "password": None if conn["password"] is None else "***", "extra": extra,
            "team_name": conn.get("team_name")}


def collection(key, items, total):
    return {key: items, "total_entries": total}


def paged(c, items, key, serializer, mapping, default):
    items = order(c, items, mapping, default)
    limit, offset = limit_offset(c)
    total = len(items)
    return collection(key, [serializer(i) for i in items[offset:offset + limit]], total)


# =========================================================================== monitor / version / login

@op("get_version")
def get_version(c):
    return {"version": c.state.airflow_version, "git_version": GIT_VERSION}


def health_body(state, t):
    beat = iso_z(t - 2.5)
    return {"metadatabase": {"status": "healthy"},
            "scheduler": {"status": "healthy", "latest_scheduler_heartbeat": beat},
            "triggerer": {"status": "healthy", "latest_triggerer_heartbeat": beat},
            "dag_processor": {"status": "healthy", "latest_dag_processor_heartbeat": beat}}


@op("get_health")
def get_health(c):
    return health_body(c.state, c.now)


@op("login")
def login(c):
    nxt = c.req.query.get("next", [None])[-1]
    loc = "/auth/login" + (f"?next={nxt}" if nxt else "")
    return Resp(307, b"", None, {"Location": loc})


@op("logout")
def logout(c):
    return Resp(307, b"", None, {"Location": "/auth/logout"})


# =========================================================================== DAGs

DAG_ORDER = {
    "dag_id": lambda d: d.dag_id,
    "dag_display_name": lambda d: d.display_name,
    "next_dagrun": lambda d: d.dag_id,
    "state": lambda d: d.dag_id,
    "start_date": lambda d: d.start_date,
    "last_run_state": lambda d: d._last_state,
    "last_run_start_date": lambda d: d._last_start,
}


def filter_dags(c, q):
    dags = list(c.state.dags.values())
    for d in dags:
        lr = last_run(c, d)
        lv = lr.view(c.now) if lr else None
        d._last_state = lv.state if lv else None
        d._last_start = lv.start if lv else None
    tags = q.get("tags")
    if tags:
        if q.get("tags_match_mode") == "all":
            dags = [d for d in dags if set(tags) <= set(d.tags)]
        else:
            dags = [d for d in dags if set(tags) & set(d.tags)]
    owners = q.get("owners")
    if owners:
        dags = [d for d in dags if set(owners) & set(d.owners)]
    pat = q.get("dag_id_pattern")
    if pat and pat != "~":
        dags = pattern(dags, pat, lambda d: d.dag_id)
    dags = prefix(dags, q.get("dag_id_prefix_pattern"), lambda d: d.dag_id)
    dags = patterns(dags, q, "dag_display_name", lambda d: d.display_name)
    if q.get("exclude_stale", True):
        dags = [d for d in dags if not d.stale]
    if q.get("paused") is not None:
        dags = [d for d in dags if d.is_paused == q["paused"]]
    if q.get("has_import_errors") is True:
        dags = []
    if q.get("last_dag_run_state"):
        dags = [d for d in dags if d._last_state == q["last_dag_run_state"]]
    if q.get("dag_run_state"):
        wanted = set(q["dag_run_state"])
        dags = [d for d in dags if any(r.view(c.now).state in wanted for r in c.state.all_runs(d.dag_id))]
    for field in ("start_date", "end_date"):
        for opname in ("gte", "gt", "lte", "lt"):
            raw = q.get(f"dag_run_{field}_{opname}")
            if raw is None:
                continue
            bound = parse_dt(raw)
            cmp = common.RANGE_OPS[opname]
            attr = "start" if field == "start_date" else "end"

            def ok(d, attr=attr, cmp=cmp, bound=bound):
                for r in c.state.all_runs(d.dag_id):
                    val = getattr(r.view(c.now), attr)
                    if val is not None and cmp(val, bound):
                        return True
                return False
            dags = [d for d in dags if ok(d)]
    if q.get("is_favorite") is not None:
        favs = c.state.favorites.get(c.user, set())
        dags = [d for d in dags if (d.dag_id in favs) == q["is_favorite"]]
    if q.get("bundle_name"):
        dags = [d for d in dags if q["bundle_name"] == "dags-folder"]
    if q.get("has_asset_schedule") is not None:
        dags = [d for d in dags if (d.dag_id == "example_ml") == q["has_asset_schedule"]]
    return dags


@op("get_dags")
def get_dags(c):
    dags = filter_dags(c, c.q)
    return paged(c, dags, "dags", lambda d: dag_json(c, d), DAG_ORDER, ["dag_id"])


@op("get_dag")
def get_dag_op(c):
    return dag_json(c, get_dag(c))


@op("get_dag_details")
def get_dag_details(c):
    return dag_details_json(c, get_dag(c))


def check_dag_mask(mask):
    if mask and mask != ["is_paused"]:
        raise HTTPError(400, "Only `is_paused` field can be updated through the REST API")


@op("patch_dag")
def patch_dag(c):
    dag = get_dag(c)
    check_dag_mask(c.q.get("update_mask"))
    c.state.set_paused(dag, bool(c.body["is_paused"]), c.now)
    return dag_json(c, dag)


@op("patch_dags")
def patch_dags(c):
    check_dag_mask(c.q.get("update_mask"))
    dags = filter_dags(c, c.q)
    dags = order(c, dags, DAG_ORDER, ["dag_id"], value=["dag_id"])
    limit, offset = limit_offset(c)
    chosen = dags[offset:offset + limit]
    for d in chosen:
        c.state.set_paused(d, bool(c.body["is_paused"]), c.now)
    return collection("dags", [dag_json(c, d) for d in chosen], len(dags))


@op("delete_dag")
def delete_dag(c):
    dag_id = c.path["dag_id"]
    dag = c.state.dags.get(dag_id)
    if dag is None:
        raise HTTPError(404, f"Dag with id: {dag_id} was not found")
    for run in c.state.all_runs(dag_id):
        if any(ti.view(c.now).state == "running" for ti in run.tis):
            raise HTTPError(409, f"Task instances of dag with id: '{dag_id}' are still running")
    del c.state.dags[dag_id]
    c.state.runs.pop(dag_id, None)
    for favs in c.state.favorites.values():
        favs.discard(dag_id)
    return Resp(204, b"")


@op("get_dag_tags")
def get_dag_tags(c):
    tags = sorted({t for d in c.state.dags.values() for t in d.tags})
    tags = patterns(tags, c.q, "tag_name", lambda t: t)
    tags = order(c, tags, {"name": lambda t: t}, ["name"])
    limit, offset = limit_offset(c)
    return {"tags": tags[offset:offset + limit], "total_entries": len(tags)}


@op("favorite_dag")
def favorite_dag(c):
    dag = get_dag(c)
    c.state.favorites.setdefault(c.user, set()).add(dag.dag_id)
    return Resp(204, b"")


@op("unfavorite_dag")
def unfavorite_dag(c):
    dag = get_dag(c)
    favs = c.state.favorites.setdefault(c.user, set())
    if dag.dag_id not in favs:
        raise HTTPError(409, "Dag is not marked as favorite")
    favs.discard(dag.dag_id)
    return Resp(204, b"")


@op("get_tasks")
def get_tasks(c):
    dag = get_dag(c)
    tasks = list(dag.tasks.values())
    key = c.q.get("order_by") or "task_id"
    name = key.lstrip("-")
    attrs = {"task_id": lambda t: t.task_id, "operator": lambda t: t.operator, "pool": lambda t: t.pool,
             "priority_weight": lambda t: len(dag.closure([t.task_id], "down")), "task_display_name":
             lambda t: t.task_id, "downstream_task_ids": lambda t: ",".join(t.downstream)}
    if name not in attrs:
        raise HTTPError(400, f"'{dag.dag_id}' DAG has no attribute '{name}'")
    tasks.sort(key=attrs[name], reverse=key.startswith("-"))
    return {"tasks": [task_json(dag, t) for t in tasks], "total_entries": len(tasks)}


@op("get_task")
def get_task(c):
    dag = get_dag(c)
    task = dag.tasks.get(c.path["task_id"])
    if task is None:
        raise HTTPError(404, f"Task with id {c.path['task_id']} was not found")
    return task_json(dag, task)


def task_json(dag, t):
    return {
        "task_id": t.task_id,
        "task_display_name": t.task_id,
        "owner": dag.owners[0],
        "start_date": iso_z(dag.start_date),
        "end_date": None,
        "trigger_rule": t.trigger_rule,
        "depends_on_past": False,
        "wait_for_downstream": False,
        "retries": float(t.retries),
        "queue": "default",
        "pool": t.pool,
        "pool_slots": 1.0,
        "execution_timeout": None,
        "retry_delay": {"__type": "TimeDelta", "days": 0, "seconds": 300, "microseconds": 0},
        "retry_exponential_backoff": 0.0,
        "priority_weight": 1.0,
        "weight_rule": "downstream",
        "ui_color": "#ffefeb" if t.operator == "PythonOperator" else "#f0ede4",
        "ui_fgcolor": "#000",
        "template_fields": list(t.template_fields),
        "downstream_task_ids": list(t.downstream),
        "doc_md": t.doc_md,
        "operator_name": t.operator,
        "params": {},
        "class_ref": {"module_path": _module_of(t.operator), "class_name": t.operator},
        "is_mapped": bool(t.mapped),
        "extra_links": list(EXTRA_LINKS.get((dag.dag_id, t.task_id), {})),
    }


def _module_of(operator):
    return {"PythonOperator": "airflow.providers.standard.operators.python",
            "BashOperator": "airflow.providers.standard.operators.bash",
            "EmptyOperator": "airflow.providers.standard.operators.empty"}.get(operator, "airflow.models")


EXTRA_LINKS = {("example_etl", "load"): {"Warehouse": "https://warehouse.example.com/tables/sales"}}


@op("get_dag_stats")
def get_dag_stats(c):
    wanted = c.q.get("dag_ids")
    dags = [d for d in c.state.dags.values() if not wanted or d.dag_id in wanted]
    out = []
    for d in sorted(dags, key=lambda d: d.dag_id):
        counts = {s: 0 for s in RUN_STATES}
        for r in c.state.all_runs(d.dag_id):
            counts[r.view(c.now).state] += 1
        out.append({"dag_id": d.dag_id, "dag_display_name": d.display_name,
                    "stats": [{"state": s, "count": n} for s, n in counts.items()]})
    return collection("dags", out, len(out))


@op("get_dag_source")
def get_dag_source(c):
    dag = get_dag(c)
    accept = accept_json_or_text(c)
    vn = c.q.get("version_number")
    if vn is not None and vn not in [v["version_number"] for v in dag.versions]:
        raise HTTPError(404, f"The source code for Dag: {dag.dag_id}, version: {vn} was not found")
    content = c.state.dag_sources[dag.dag_id]
    if accept == "text":
        return Resp(200, content, "text/plain; charset=utf-8")
    return {"content": content, "dag_id": dag.dag_id, "version_number": vn or dag.latest_version["version_number"],
            "dag_display_name": dag.display_name}


def accept_json_or_text(c):
    accept = (c.req.header("accept") or "*/*").strip()
    if accept.startswith("*/*") or accept.startswith("application/json"):
        return "json"
    if accept.startswith("text/plain"):
        return "text"
    raise HTTPError(406, "Only application/json or text/plain is supported")


@op("reparse_dag_file")
def reparse_dag_file(c):
    dag = c.state.dag_for_file_token(c.path["file_token"])
    if dag is None:
        raise HTTPError(404, "Dag file not found")
    dag.last_parsed = c.now
    return Resp(201, None)


@op("get_dag_versions")
def get_dag_versions(c):
    dag_id = c.path["dag_id"]
    dags = list(c.state.dags.values()) if dag_id == "~" else [get_dag(c)]
    items = [(d, v) for d in dags for v in d.versions]
    if c.q.get("version_number") is not None:
        items = [i for i in items if i[1]["version_number"] == c.q["version_number"]]
    if c.q.get("bundle_name"):
        items = [i for i in items if c.q["bundle_name"] == "dags-folder"]
    mapping = {"id": lambda i: i[1]["id"], "version_number": lambda i: i[1]["version_number"],
               "bundle_name": lambda i: "dags-folder", "bundle_version": lambda i: ""}
    return paged(c, items, "dag_versions", lambda i: version_json(*i), mapping, ["id"])


@op("get_dag_version")
def get_dag_version(c):
    dag = get_dag(c)
    for v in dag.versions:
        if v["version_number"] == c.path["version_number"]:
            return version_json(dag, v)
    raise HTTPError(404, f"The DagVersion with dag_id: `{dag.dag_id}` and version_number: "
                         f"`{c.path['version_number']}` was not found")


@op("list_dag_warnings")
def list_dag_warnings(c):
    items = list(c.state.dag_warnings)
    if c.q.get("dag_id"):
        items = [w for w in items if w["dag_id"] == c.q["dag_id"]]
    if c.q.get("warning_type"):
        items = [w for w in items if w["warning_type"] == c.q["warning_type"]]
    mapping = {k: (lambda w, k=k: w[k]) for k in ("dag_id", "warning_type", "message", "timestamp")}

    def ser(w):
        return {"dag_id": w["dag_id"], "warning_type": w["warning_type"], "message": w["message"],
                "timestamp": iso_z(w["timestamp"]), "dag_display_name": w["dag_id"]}
    return paged(c, items, "dag_warnings", ser, mapping, ["dag_id"])


# =========================================================================== DAG runs

class Row:
    """A run (or task instance) with its view at request time."""
    __slots__ = ("obj", "v")

    def __init__(self, obj, t):
        self.obj = obj
        self.v = obj.view(t)


def _dur(row):
    v = row.v
    return (v.end - v.start) if v.end is not None and v.start is not None else None


RUN_ORDER = {
    "id": lambda r: r.obj.id,
    "state": lambda r: r.v.state,
    "dag_id": lambda r: r.obj.dag.dag_id,
    "run_id": lambda r: r.obj.run_id,
    "dag_run_id": lambda r: r.obj.run_id,
    "logical_date": lambda r: r.obj.logical_date,
    "run_after": lambda r: r.obj.run_after,
    "start_date": lambda r: r.v.start,
    "end_date": lambda r: r.v.end,
    "updated_at": lambda r: r.obj.updated_at,
    "conf": lambda r: common.dumps_conf(r.obj.conf),
    "duration": _dur,
    "execution_date": lambda r: r.obj.logical_date,
}

RUN_RANGES = {
    "run_after": lambda r: r.obj.run_after,
    "logical_date": lambda r: r.obj.logical_date,
    "start_date": lambda r: r.v.start,
    "end_date": lambda r: r.v.end,
    "updated_at": lambda r: r.obj.updated_at,
    "duration": _dur,
}


def filter_runs(c, rows, q):
    rows = ranges(c, rows, RUN_RANGES, q)
    if q.get("conf_contains"):
        rows = [r for r in rows if q["conf_contains"] in json.dumps(r.obj.conf)]
    rows = one_of(rows, q.get("run_type"), lambda r: r.obj.run_type)
    states = q.get("state") or q.get("states")
    if states:
        states = states_filter(states)
        rows = [r for r in rows if r.v.state in states]
    if q.get("dag_version"):
        rows = [r for r in rows if r.obj.version["version_number"] in q["dag_version"]]
    rows = patterns(rows, q, "run_id", lambda r: r.obj.run_id)
    rows = patterns(rows, q, "triggering_user_name", lambda r: r.obj.user)
    rows = patterns(rows, q, "dag_id", lambda r: r.obj.dag.dag_id)
    return rows


@op("get_dag_runs")
def get_dag_runs(c):
    dag_id = dag_ids_for(c, c.path["dag_id"])
    rows = [Row(r, c.now) for r in c.state.all_runs(dag_id)]
    rows = filter_runs(c, rows, c.q)
    if c.q.get("cursor") is not None:
        return common.cursor_page(c, rows, "dag_runs", lambda r: run_json(c, r.obj, r.v), RUN_ORDER, ["id"],
                                  lambda r: r.obj.id)
    return paged(c, rows, "dag_runs", lambda r: run_json(c, r.obj, r.v), RUN_ORDER, ["id"])


@op("get_list_dag_runs_batch")
def get_list_dag_runs_batch(c):
    body = c.body or {}
    dag_id = c.path["dag_id"]
    runs = c.state.all_runs(None if dag_id == "~" else dag_ids_for(c, dag_id))
    if body.get("dag_ids"):
        runs = [r for r in runs if r.dag.dag_id in body["dag_ids"]]
    rows = filter_runs(c, [Row(r, c.now) for r in runs], body)
    rows = order(c, rows, RUN_ORDER, ["id"], value=body.get("order_by") or ["id"])
    limit = min(body.get("page_limit", 100), int(c.settings["max_page_size"]))
    offset = body.get("page_offset", 0)
    return collection("dag_runs", [run_json(c, r.obj, r.v) for r in rows[offset:offset + limit]], len(rows))


@op("get_dag_run")
def get_dag_run(c):
    return run_json(c, get_run(c))


@op("trigger_dag_run")
def trigger_dag_run(c):
    dag_id = c.path["dag_id"]
    dag = c.state.dags.get(dag_id)
    if dag is None:
        raise HTTPError(404, f"Dag with dag_id: '{dag_id}' not found")
    body = c.body or {}
    logical = parse_dt(body["logical_date"]) if body.get("logical_date") else None
    run_after = parse_dt(body["run_after"]) if body.get("run_after") else c.now
    dis, die = body.get("data_interval_start"), body.get("data_interval_end")
    if (dis is None) != (die is None):
        raise ValidationFailed([{"type": "value_error", "loc": ["body"],
                                 "msg": "Value error, Either both data_interval_start and data_interval_end must "
                                        "be provided or both must be None", "input": body,
                                 "ctx": {"error": {}}}])
    if dis is not None:
        interval = (parse_dt(dis), parse_dt(die))
    elif logical is not None:
        interval = (logical, logical)
    else:
        interval = (None, None)
    run_id = body.get("dag_run_id") or f"manual__{iso_off(logical if logical is not None else run_after)}"
    if c.state.find_run(dag_id, run_id) is not None:
        raise unique_violation("dag_run", "dag_id, dag_run.run_id")
    if logical is not None and c.state.run_with_logical_date(dag_id, logical) is not None:
        raise unique_violation("dag_run", "dag_id, dag_run.logical_date")
    conf = body.get("conf")
    run = c.state.create_run(dag, run_id, logical_date=logical, run_after=run_after,
                             conf=conf if conf is not None else {}, note=body.get("note"), user=c.user, t=c.now,
                             data_interval=interval)
    return run_json(c, run)


def apply_run_patch(c, run, body, mask):
    """Sets a run's state and/or note from a patch body, limited to the update mask."""
    fields = set(body)
    if mask:
        fields &= set(mask)
    if "state" in fields and body.get("state") is not None:
        c.state.set_run_state(run, body["state"], c.now)
    if "note" in fields:
        run.note = body.get("note")
        run.updated_at = c.now


@op("patch_dag_run")
def patch_dag_run(c):
    run = get_run(c)
    apply_run_patch(c, run, c.body or {}, c.q.get("update_mask"))
    return run_json(c, run)


@op("delete_dag_run")
def delete_dag_run(c):
    run = get_run(c)
    del c.state.runs[run.dag.dag_id][run.run_id]
    return Resp(204, b"")


@op("clear_dag_run")
def clear_dag_run(c):
    run = get_run(c)
    body = c.body or {}
    tis = list(run.tis)
    if body.get("only_failed", False):
        tis = [ti for ti in tis if ti.view(c.now).state in ("failed", "upstream_failed")]
    if body.get("dry_run", True):
        return collection("task_instances", [ti_json(c, ti) for ti in tis], len(tis))
    c.state.clear_tis(run, tis, c.now)
    return run_json(c, run)


@op("wait_dag_run_until_finished")
def wait_dag_run_until_finished(c):
    run = get_run(c)
    interval = float(c.q["interval"])
    results = c.q.get("result") or []
    state = c.state
    dag_id, run_id = run.dag.dag_id, run.run_id

    def line():
        with state.lock:
            r = state.find_run(dag_id, run_id)
            if r is None:
                return None, True
            t = time.time()
            s = r.view(t).state
            out = {"state": s}
            done = s in ("success", "failed")
            if done and results:
                out["results"] = wait_results(state, t, dag_id, run_id, results)
            return out, done

    def gen():
        while True:
            out, done = line()
            if out is None:
                return
            yield (json.dumps(out) + "\n").encode()
            if done:
                return
            time.sleep(interval)
    return Stream(gen(), "application/x-ndjson")


def wait_results(state, t, dag_id, run_id, task_ids):
    xcoms = state.xcom_entries(t, dag_id, run_id)
    res = {}
    for task_id in task_ids:
        items = sorted(((k[3], x["value"]) for k, x in xcoms.items() if k[2] == task_id and k[4] == "return_value"),
                       key=lambda i: i[0])
        if not items:
            continue
        res[task_id] = [v for _, v in items] if items[0][0] >= 0 else items[0][1]
    return res


@op("get_upstream_asset_events")
def get_upstream_asset_events(c):
    run = get_run(c)
    events = [e for e in c.state.asset_events if any(x.get("run_id") == run.run_id for x in e["created_dagruns"])]
    return collection("asset_events", [asset_event_json(c, e) for e in events], len(events))


# =========================================================================== task instances

TI_ORDER = {
    "id": lambda r: r.obj.id,
    "state": lambda r: r.v.state,
    "duration": _dur,
    "start_date": lambda r: r.v.start,
    "end_date": lambda r: r.v.end,
    "map_index": lambda r: r.obj.map_index,
    "try_number": lambda r: r.v.try_number,
    "logical_date": lambda r: r.obj.run.logical_date,
    "run_after": lambda r: r.obj.run.run_after,
    "data_interval_start": lambda r: r.obj.run.data_interval[0],
    "data_interval_end": lambda r: r.obj.run.data_interval[1],
    "rendered_map_index": lambda r: r.obj.map_index,
    "operator": lambda r: r.obj.task.operator,
    "task_id": lambda r: r.obj.task_id,
    "dag_id": lambda r: r.obj.run.dag.dag_id,
    "run_id": lambda r: r.obj.run.run_id,
    "dag_run_id": lambda r: r.obj.run.run_id,
    "pool": lambda r: r.obj.task.pool,
    "queue": lambda r: "default",
    "priority_weight": lambda r: 1,
    "execution_date": lambda r: r.obj.run.logical_date,
}

TI_RANGES = {
    "run_after": lambda r: r.obj.run.run_after,
    "logical_date": lambda r: r.obj.run.logical_date,
    "execution_date": lambda r: r.obj.run.logical_date,
    "start_date": lambda r: r.v.start,
    "end_date": lambda r: r.v.end,
    "updated_at": lambda r: r.obj.updated_at,
    "duration": _dur,
}


def all_tis(c, dag_id, run_id):
    runs = c.state.all_runs(None if dag_id in (None, "~") else dag_id)
    if run_id not in (None, "~"):
        runs = [r for r in runs if r.run_id == run_id]
    return [ti for r in runs for ti in r.tis]


def filter_tis(c, rows, q):
    rows = ranges(c, rows, TI_RANGES, q)
    if q.get("task_id"):
        rows = [r for r in rows if r.obj.task_id == q["task_id"]]
    if q.get("task_ids"):
        rows = [r for r in rows if r.obj.task_id in q["task_ids"]]
    if q.get("dag_ids"):
        rows = [r for r in rows if r.obj.run.dag.dag_id in q["dag_ids"]]
    if q.get("dag_run_ids"):
        rows = [r for r in rows if r.obj.run.run_id in q["dag_run_ids"]]
    states = states_filter(q.get("state"))
    if states is not None:
        rows = [r for r in rows if r.v.state in states]
    rows = one_of(rows, q.get("pool"), lambda r: r.obj.task.pool)
    rows = one_of(rows, q.get("queue"), lambda r: "default")
    if q.get("executor"):
        rows = []
    rows = one_of(rows, q.get("try_number"), lambda r: r.v.try_number)
    rows = one_of(rows, q.get("map_index"), lambda r: r.obj.map_index)
    rows = one_of(rows, q.get("operator"), lambda r: r.obj.task.operator)
    rows = one_of(rows, q.get("version_number"), lambda r: r.obj.run.version["version_number"])
    rows = patterns(rows, q, "task_display_name", lambda r: r.obj.task_id)
    rows = patterns(rows, q, "dag_id", lambda r: r.obj.run.dag.dag_id)
    rows = patterns(rows, q, "run_id", lambda r: r.obj.run.run_id)
    rows = patterns(rows, q, "pool_name", lambda r: r.obj.task.pool)
    rows = patterns(rows, q, "queue_name", lambda r: "default")
    rows = patterns(rows, q, "operator_name", lambda r: r.obj.task.operator)
    return rows


@op("get_task_instances")
def get_task_instances(c):
    dag_id, run_id = c.path["dag_id"], c.path["dag_run_id"]
    if dag_id != "~":
        get_dag(c)
        if run_id != "~":
            get_run(c)
    elif run_id != "~":
        raise HTTPError(400, "Dag id must be provided when dag run id is not `~`")
    rows = filter_tis(c, [Row(ti, c.now) for ti in all_tis(c, dag_id, run_id)], c.q)
    if c.q.get("cursor") is not None:
        return common.cursor_page(c, rows, "task_instances", lambda r: ti_json(c, r.obj, r.v), TI_ORDER,
                                  ["map_index"], lambda r: r.obj.id)
    return paged(c, rows, "task_instances", lambda r: ti_json(c, r.obj, r.v), TI_ORDER, ["map_index"])


@op("get_task_instances_batch")
def get_task_instances_batch(c):
    body = c.body or {}
    dag_id, run_id = c.path["dag_id"], c.path["dag_run_id"]
    rows = filter_tis(c, [Row(ti, c.now) for ti in all_tis(c, dag_id, run_id)], body)
    rows = order(c, rows, TI_ORDER, ["map_index"], value=body.get("order_by") or ["map_index"])
    limit = min(body.get("page_limit", 100), int(c.settings["max_page_size"]))
    offset = body.get("page_offset", 0)
    return collection("task_instances", [ti_json(c, r.obj, r.v) for r in rows[offset:offset + limit]], len(rows))


@op("get_task_instance", "get_mapped_task_instance")
def get_task_instance(c):
    return ti_json(c, get_ti(c))


@op("get_mapped_task_instances")
def get_mapped_task_instances(c):
    run = get_run(c)
    task = run.dag.tasks.get(c.path["task_id"])
    if task is None:
        raise HTTPError(404, f"Task id {c.path['task_id']} not found")
    if not task.mapped:
        raise HTTPError(404, f"Task id {task.task_id} is not mapped")
    rows = [Row(ti, c.now) for ti in run.tis if ti.task_id == task.task_id]
    rows = filter_tis(c, rows, c.q)
    return paged(c, rows, "task_instances", lambda r: ti_json(c, r.obj, r.v), TI_ORDER, ["map_index"])


def affected_tis(c, ti, body):
    run = ti.run
    task_ids = {ti.task_id}
    if body.get("include_downstream"):
        task_ids |= run.dag.closure([ti.task_id], "down")
    if body.get("include_upstream"):
        task_ids |= run.dag.closure([ti.task_id], "up")
    out = [ti]
    for other in run.tis:
        if other is not ti and other.task_id in task_ids:
            out.append(other)
    return out


def patch_ti(c, dry_run):
    ti = get_ti(c)
    body = c.body or {}
    fields = set(body)
    mask = c.q.get("update_mask")
    if mask:
        fields &= set(mask)
    if "new_state" in fields and body.get("new_state") is not None:
        new_state = body["new_state"]
        tis = [t for t in affected_tis(c, ti, body) if t.view(c.now).state != new_state]
        if not tis:
            raise HTTPError(409, f"Task id {ti.task_id} is already in {new_state} state")
        if not dry_run:
            for t in tis:
                c.state.set_ti_state(t, new_state, c.now)
        out = [ti_json(c, t) for t in tis]
    else:
        tis = [ti]
        out = [ti_json(c, ti)]
    if "note" in fields and not dry_run:
        ti.note = body.get("note")
        ti.updated_at = c.now
        out = [ti_json(c, t) for t in tis]
    return collection("task_instances", out, len(out))


@op("patch_task_instance", "patch_task_instance_by_map_index")
def patch_task_instance(c):
    return patch_ti(c, dry_run=False)


@op("patch_task_instance_dry_run", "patch_task_instance_dry_run_by_map_index")
def patch_task_instance_dry_run(c):
    return patch_ti(c, dry_run=True)


@op("delete_task_instance")
def delete_task_instance(c):
    ti = get_ti(c)
    ti.run.tis.remove(ti)
    return None


@op("bulk_task_instances")
def bulk_task_instances(c):
    run = get_run(c)
    result = {"create": None, "update": None, "delete": None}
    for action in (c.body or {}).get("actions", []):
        kind = action["action"]
        res = {"success": [], "errors": []}
        result[kind] = res
        if kind == "create":
            res["errors"].append({"error": "Creating task instances is not supported", "status_code": 405})
            continue
        for ent in action.get("entities", []):
            task_id = ent if isinstance(ent, str) else ent.get("task_id")
            mi = -1 if isinstance(ent, str) else (ent.get("map_index") if ent.get("map_index") is not None else -1)
            ti = run.ti(task_id, mi)
            if ti is None:
                if action.get("action_on_non_existence", "fail") == "fail":
                    res["errors"].append({"error": f"The task instances with these task_ids: "
                                                   f"{{'{task_id}'}} were not found", "status_code": 404})
                continue
            if kind == "delete":
                run.tis.remove(ti)
            else:
                if ent.get("new_state"):
                    c.state.set_ti_state(ti, ent["new_state"], c.now)
                if "note" in ent:
                    ti.note = ent["note"]
            res["success"].append(task_id if mi == -1 else f"{task_id}[{mi}]")
    return result


@op("post_clear_task_instances")
def post_clear_task_instances(c):
    dag = get_dag(c)
    body = c.body or {}
    dry_run = body.get("dry_run", True)
    runs = c.state.all_runs(dag.dag_id)
    if body.get("dag_run_id"):
        run = c.state.find_run(dag.dag_id, body["dag_run_id"])
        if run is None:
            raise HTTPError(404, f"Dag Run id {body['dag_run_id']} not found in dag {dag.dag_id}")
        runs = [run]
    for key, cmp in (("start_date", lambda a, b: a >= b), ("end_date", lambda a, b: a <= b)):
        if body.get(key):
            bound = parse_dt(body[key])
            runs = [r for r in runs if r.logical_date is not None and cmp(r.logical_date, bound)]
    task_ids = body.get("task_ids")
    wanted = None
    if task_ids:
        wanted = set()
        for t in task_ids:
            wanted.add(t if isinstance(t, str) else (t[0], t[1]))
        names = {w if isinstance(w, str) else w[0] for w in wanted}
        extra = set()
        if body.get("include_downstream"):
            extra |= dag.closure(names, "down")
        if body.get("include_upstream"):
            extra |= dag.closure(names, "up")
        wanted |= extra
    only_failed = body.get("only_failed", True)
    only_running = body.get("only_running", False)
    chosen = []
    for run in runs:
        tis = []
        for ti in run.tis:
            if wanted is not None and ti.task_id not in wanted and (ti.task_id, ti.map_index) not in wanted:
                continue
            s = ti.view(c.now).state
            if only_failed and s not in ("failed", "upstream_failed"):
                continue
            if only_running and s != "running":
                continue
            tis.append(ti)
        if tis:
            chosen.append((run, tis))
    flat = [ti for _, tis in chosen for ti in tis]
    if dry_run:
        return collection("task_instances", [ti_json(c, ti) for ti in flat], len(flat))
    for run, tis in chosen:
        c.state.clear_tis(run, tis, c.now)
    return collection("task_instances", [ti_json(c, ti) for ti in flat], len(flat))


@op("get_task_instance_dependencies", "get_task_instance_dependencies_by_map_index")
def get_task_instance_dependencies(c):
    ti = get_ti(c)
    v = ti.view(c.now)
    deps = []
    if v.state is None:
        ups = [u for u in ti.task.upstream]
        if ups:
            deps.append({"name": "Trigger Rule", "reason": f"Task's trigger rule 'all_success' requires all upstream "
                                                          f"tasks to have succeeded, but found 1 non-success(es). "
                                                          f"upstream_task_ids={set(ups)}"})
        if ti.run.view(c.now).state == "queued":
            deps.append({"name": "Dagrun Running", "reason": "Task instance's dagrun was not in the 'running' "
                                                            "state but in the state 'queued'."})
    return {"dependencies": deps}


@op("get_external_log_url")
def get_external_log_url(c):
    get_ti(c)
    raise HTTPError(400, "Task log handler does not support external logs.")


@op("get_extra_links")
def get_extra_links(c):
    ti = get_ti(c)
    links = EXTRA_LINKS.get((ti.run.dag.dag_id, ti.task_id), {})
    if ti.view(c.now).state != "success":
        links = {k: None for k in links}
    return {"extra_links": links, "total_entries": len(links)}


def tries_of(c, ti):
    out = list(ti.history)
    v = ti.view(c.now)
    if v.try_number > 0 and (not out or out[-1].try_number < v.try_number):
        out.append(v)
    return out


@op("get_task_instance_tries", "get_mapped_task_instance_tries")
def get_task_instance_tries(c):
    ti = get_ti(c)
    tries = tries_of(c, ti)
    return collection("task_instances", [ti_json(c, ti, v, history=True) for v in tries], len(tries))


@op("get_task_instance_try_details", "get_mapped_task_instance_try_details")
def get_task_instance_try_details(c):
    ti = get_ti(c)
    n = c.path["task_try_number"]
    for v in tries_of(c, ti):
        if v.try_number == n:
            return ti_json(c, ti, v, history=True)
    raise HTTPError(404, f"The Task Instance with dag_id: `{ti.run.dag.dag_id}`, run_id: `{ti.run.run_id}`, "
                         f"task_id: `{ti.task_id}`, try_number: `{n}` and map_index: `{ti.map_index}` was not found")


# ---- logs

def log_view(c, ti, try_number):
    for v in tries_of(c, ti):
        if v.try_number == try_number:
            return v
    return None


def structured_lines(ti, try_number, v):
    lines = task_log_lines(ti, try_number, v)
    src = (f"/opt/airflow/logs/dag_id={ti.run.dag.dag_id}/run_id={ti.run.run_id}/task_id={ti.task_id}/"
           + (f"map_index={ti.map_index}/" if ti.map_index >= 0 else "") + f"attempt={try_number}.log")
    out = [{"event": "::group::Log message source details", "sources": [src]}, {"event": "::endgroup::"}]
    for t, level, logger, event in lines:
        out.append({"timestamp": iso_z(t), "level": level, "event": event, "logger": logger})
    return out


@op("get_log")
def get_log(c):
    accept = (c.req.header("accept") or "*/*").strip()
    if accept.startswith("*/*") or accept.startswith("application/json"):
        mode = "json"
    elif accept.startswith("application/x-ndjson"):
        mode = "ndjson"
    else:
        raise HTTPError(406, "Only application/json or application/x-ndjson is supported")
    run = get_run(c)
    map_index = c.q.get("map_index", -1)
    ti = run.ti(c.path["task_id"], -1 if map_index is None else map_index)
    if ti is None:
        raise HTTPError(404, "TaskInstance not found")
    try_number = c.path["try_number"]
    v = log_view(c, ti, try_number)
    if v is None:
        raise HTTPError(404, "TaskInstance not found")
    finished = v.state in TERMINAL_TI
    lines = structured_lines(ti, try_number, v) if v.start is not None else [
        {"event": "::group::Log message source details", "sources": []}, {"event": "::endgroup::"},
        {"timestamp": None, "event": "Log file does not exist yet; the task has not started"}]
    if mode == "ndjson":
        pos = 0
        if c.q.get("token"):
            pos = decode_log_token(c, c.q["token"]).get("log_pos", 0)
        delay = c.settings["stream_line_ms"] / 1000.0

        def gen(items=lines[pos:]):
            for i, item in enumerate(items):
                if i and delay:
                    time.sleep(delay)
                yield (json.dumps(item) + "\n").encode()
        return Stream(gen(), "application/x-ndjson")
    pos = 0
    if c.q.get("token"):
        pos = decode_log_token(c, c.q["token"]).get("log_pos", 0)
    if c.q.get("full_content"):
        chunk = lines[pos:]
    else:
        chunk = lines[pos:pos + int(c.settings["log_page_lines"])]
    end = pos + len(chunk)
    token = None
    if end < len(lines) or not finished:
        token = sign_blob({"end_of_log": False, "log_pos": end}, c.state.secret)
    return {"content": chunk, "continuation_token": token}


def decode_log_token(c, token):
    try:
        data = unsign_blob(token, c.state.secret)
        if not isinstance(data, dict):
            raise ValueError
        return data
    except ValueError:
        raise HTTPError(400, "Bad Signature. Please use only the tokens provided by the API.") from None


# ---- XCom

def xcom_json(c, key, x, value=None, with_value=False, stringify=False):
    dag_id, run_id, task_id, map_index, xkey = key
    run = c.state.find_run(dag_id, run_id)
    d = {"key": xkey, "timestamp": iso_z(x["timestamp"]),
         "logical_date": iso_z(run.logical_date) if run else None,
         "map_index": map_index, "task_id": task_id, "dag_id": dag_id, "run_id": run_id,
         "dag_display_name": dag_id, "task_display_name": task_id,
         "run_after": iso_z(run.run_after) if run else None}
    if with_value:
        d["value"] = py_str(x["value"]) if stringify else x["value"]
    return d


def py_str(value):
    """str() of the deserialized Python value, like Airflow's stringify=true."""
    return str(value)


def xcom_scope(c):
    dag_id, run_id, task_id = c.path["dag_id"], c.path["dag_run_id"], c.path["task_id"]
    if dag_id != "~":
        get_dag(c)
    if dag_id != "~" and run_id != "~":
        get_run(c)
    return dag_id, run_id, task_id


@op("get_xcom_entries")
def get_xcom_entries(c):
    dag_id, run_id, task_id = xcom_scope(c)
    entries = c.state.xcom_entries(c.now, dag_id, run_id, task_id)
    items = list(entries.items())
    if c.q.get("xcom_key"):
        items = [i for i in items if i[0][4] == c.q["xcom_key"]]
    if c.q.get("map_index") is not None:
        items = [i for i in items if i[0][3] == c.q["map_index"]]
    if c.q.get("map_index_filter") is not None:
        items = [i for i in items if i[0][3] == c.q["map_index_filter"]]
    items = patterns(items, c.q, "xcom_key", lambda i: i[0][4])
    items = patterns(items, c.q, "dag_display_name", lambda i: i[0][0])
    items = patterns(items, c.q, "run_id", lambda i: i[0][1])
    items = patterns(items, c.q, "task_id", lambda i: i[0][2])
    items.sort(key=lambda i: (i[1]["timestamp"] or 0, i[0]))
    limit, offset = limit_offset(c)
    return collection("xcom_entries", [xcom_json(c, k, x) for k, x in items[offset:offset + limit]], len(items))


def xcom_key_of(c, map_index=None):
    dag_id, run_id, task_id = c.path["dag_id"], c.path["dag_run_id"], c.path["task_id"]
    mi = c.q.get("map_index") if map_index is None else map_index
    return (dag_id, run_id, task_id, -1 if mi is None else mi, c.path["xcom_key"])


@op("get_xcom_entry")
def get_xcom_entry(c):
    key = xcom_key_of(c)
    entries = c.state.xcom_entries(c.now, key[0], key[1], key[2])
    x = entries.get(key)
    if x is None:
        raise HTTPError(404, f"XCom entry with key: `{key[4]}` not found")
    return xcom_json(c, key, x, with_value=True, stringify=bool(c.q.get("stringify")))


@op("create_xcom_entry")
def create_xcom_entry(c):
    dag = get_dag(c)
    run = get_run(c)
    task_id = c.path["task_id"]
    if task_id not in dag.tasks:
        raise HTTPError(404, f"Task with ID: `{task_id}` not found in DAG: `{dag.dag_id}`")
    body = c.body
    mi = body.get("map_index", -1)
    key = (dag.dag_id, run.run_id, task_id, mi, body["key"])
    if key in c.state.xcom_entries(c.now, dag.dag_id, run.run_id, task_id):
        raise HTTPError(409, f"The XCom with key: `{body['key']}` with mentioned task instance already exists.")
    c.state.xcoms[key] = {"value": body["value"], "timestamp": c.now}
    c.state.xcom_deleted.discard(key)
    return xcom_json(c, key, c.state.xcoms[key], with_value=True)


@op("update_xcom_entry")
def update_xcom_entry(c):
    body = c.body
    key = xcom_key_of(c, body.get("map_index", -1))
    if key not in c.state.xcom_entries(c.now, key[0], key[1], key[2]):
        raise HTTPError(404, f"The XCom with key: `{key[4]}` with mentioned task instance doesn't exist.")
    c.state.xcoms[key] = {"value": body["value"], "timestamp": c.now}
    return xcom_json(c, key, c.state.xcoms[key], with_value=True)


@op("delete_xcom_entry")
def delete_xcom_entry(c):
    key = xcom_key_of(c)
    if key not in c.state.xcom_entries(c.now, key[0], key[1], key[2]):
        raise HTTPError(404, f"XCom entry with key: `{key[4]}` not found")
    c.state.xcoms.pop(key, None)
    c.state.xcom_deleted.add(key)
    return Resp(204, b"")


# ---- HITL (no human-in-the-loop tasks in the seed)

@op("get_hitl_details")
def get_hitl_details(c):
    get_run(c)
    return {"hitl_details": [], "total_entries": 0}


@op("get_hitl_detail", "get_hitl_detail_try_detail", "update_hitl_detail")
def get_hitl_detail(c):
    ti = get_ti(c)
    raise HTTPError(404, f"Human-in-the-loop detail does not exist for Task Instance with id {ti.id}")


# =========================================================================== variables

VAR_ORDER = {"key": lambda v: v["key"], "id": lambda v: v["id"], "_val": lambda v: v["value"],
             "description": lambda v: v["description"], "is_encrypted": lambda v: True,
             "team_name": lambda v: v.get("team_name")}


def var_value(value):
    return value if isinstance(value, str) else json.dumps(value)


@op("get_variables")
def get_variables(c):
    items = list(c.state.variables.values())
    items = patterns(items, c.q, "variable_key", lambda v: v["key"])
    return paged(c, items, "variables", variable_json, VAR_ORDER, ["id"])


def find_variable(c, key=None):
    key = key if key is not None else c.path["variable_key"]
    var = c.state.variables.get(key)
    if var is None:
        raise HTTPError(404, f"The Variable with key: `{key}` was not found")
    return var


@op("get_variable")
def get_variable(c):
    return variable_json(find_variable(c))


@op("post_variable")
def post_variable(c):
    b = c.body
    if b["key"] in c.state.variables:
        raise HTTPError(409, f"The Variable with key: `{b['key']}` already exists")
    var = c.state.put_variable(b["key"], var_value(b["value"]), b.get("description"), c.now, b.get("team_name"))
    return Resp(201, variable_json(var))


def check_mask(mask, allowed):
    if not mask:
        return
    bad = [m for m in mask if m not in allowed]
    if bad:
        raise HTTPError(400, f"Invalid fields in update_mask: {', '.join(bad)}")


def apply_variable_patch(c, var, body, mask):
    fields = set(body) - {"key"}
    if mask:
        fields &= set(mask)
    if "value" in fields:
        var["value"] = var_value(body["value"])
    if "description" in fields:
        var["description"] = body.get("description")
    if "team_name" in fields:
        var["team_name"] = body.get("team_name")
    var["updated_at"] = c.now


@op("patch_variable")
def patch_variable(c):
    body = c.body
    if body["key"] != c.path["variable_key"]:
        raise HTTPError(400, "Invalid body, key from request body doesn't match uri parameter")
    var = find_variable(c)
    mask = c.q.get("update_mask")
    check_mask(mask, ("key", "value", "description", "team_name"))
    apply_variable_patch(c, var, body, mask)
    return variable_json(var)


@op("delete_variable")
def delete_variable(c):
    find_variable(c)
    del c.state.variables[c.path["variable_key"]]
    return Resp(204, b"")


def bulk(c, store, key_field, create, update, label):
    result = {"create": None, "update": None, "delete": None}
    for action in (c.body or {}).get("actions", []):
        kind = action["action"]
        res = {"success": [], "errors": []}
        result[kind] = res
        entities = action.get("entities", [])
        keys = [e if isinstance(e, str) else e.get(key_field) for e in entities]
        if kind == "create":
            mode = action.get("action_on_existence", "fail")
            existing = [k for k in keys if k in store]
            if existing and mode == "fail":
                res["errors"].append({"error": f"The {label} with these {key_field}s: {set(existing)} already exist.",
                                      "status_code": 409})
                continue
            for ent, k in zip(entities, keys):
                if k in store and mode == "skip":
                    continue
                create(ent)
                res["success"].append(k)
        else:
            mode = action.get("action_on_non_existence", "fail")
            missing = [k for k in keys if k not in store]
            if missing and mode == "fail":
                res["errors"].append({"error": f"The {label} with these {key_field}s: {set(missing)} were not found.",
                                      "status_code": 404})
                continue
            for ent, k in zip(entities, keys):
                if k not in store:
                    continue
                if kind == "delete":
                    del store[k]
                else:
                    update(ent, action.get("update_mask"))
                res["success"].append(k)
    return result


@op("bulk_variables")
def bulk_variables(c):
    def create(e):
        c.state.put_variable(e["key"], var_value(e["value"]), e.get("description"), c.now, e.get("team_name"))

    def update(e, mask):
        apply_variable_patch(c, c.state.variables[e["key"]], e, mask)
    return bulk(c, c.state.variables, "key", create, update, "variables")


# =========================================================================== pools

POOL_ORDER = {"id": lambda p: p["id"], "pool": lambda p: p["name"], "name": lambda p: p["name"]}


@op("get_pools")
def get_pools(c):
    items = patterns(list(c.state.pools.values()), c.q, "pool_name", lambda p: p["name"])
    return paged(c, items, "pools", lambda p: pool_json(c, p), POOL_ORDER, ["id"])


def find_pool(c, name=None):
    name = name if name is not None else c.path["pool_name"]
    pool = c.state.pools.get(name)
    if pool is None:
        raise HTTPError(404, f"The Pool with name: `{name}` was not found")
    return pool


@op("get_pool")
def get_pool(c):
    return pool_json(c, find_pool(c))


def new_pool(c, b):
    pool = {"name": b["name"], "slots": b["slots"], "description": b.get("description"),
            "include_deferred": bool(b.get("include_deferred", False)), "team_name": b.get("team_name"),
            "id": c.state.next_id("pool")}
    c.state.pools[b["name"]] = pool
    return pool


@op("post_pool")
def post_pool(c):
    if c.body["name"] in c.state.pools:
        raise unique_violation("slot_pool", "pool")
    return Resp(201, pool_json(c, new_pool(c, c.body)))


def apply_pool_patch(c, pool, body, mask):
    fields = set(body)
    if mask:
        fields &= set(mask)
    if pool["name"] == "default_pool" and ("pool" in fields and body.get("pool") not in (None, "default_pool")
                                           or "name" in fields and body.get("name") not in (None, "default_pool")):
        raise HTTPError(400, "Only slots and included_deferred can be modified on Default Pool")
    for f in ("slots", "description", "include_deferred", "team_name"):
        if f in fields:
            pool[f] = body[f]
    new_name = body.get("pool") if "pool" in fields else body.get("name") if "name" in fields else None
    if new_name and new_name != pool["name"]:
        del c.state.pools[pool["name"]]
        pool["name"] = new_name
        c.state.pools[new_name] = pool


@op("patch_pool")
def patch_pool(c):
    pool = find_pool(c)
    mask = c.q.get("update_mask")
    check_mask(mask, ("pool", "name", "slots", "description", "include_deferred", "team_name"))
    if not mask:
        missing = [f for f in ("pool", "slots") if f not in c.body and not (f == "pool" and "name" in c.body)]
        if missing:
            raise ValidationFailed([{"type": "missing", "loc": ["body", f], "msg": "Field required",
                                     "input": c.body} for f in missing])
    apply_pool_patch(c, pool, c.body, mask)
    return pool_json(c, pool)


@op("delete_pool")
def delete_pool(c):
    if c.path["pool_name"] == "default_pool":
        raise HTTPError(400, "Default Pool can't be deleted")
    find_pool(c)
    del c.state.pools[c.path["pool_name"]]
    return Resp(204, b"")


@op("bulk_pools")
def bulk_pools(c):
    def update(e, mask):
        apply_pool_patch(c, c.state.pools[e["name"]], e, mask)
    return bulk(c, c.state.pools, "name", lambda e: new_pool(c, e), update, "pools")


# =========================================================================== connections

CONN_ORDER = {"conn_id": lambda x: x["connection_id"], "connection_id": lambda x: x["connection_id"],
              "conn_type": lambda x: x["conn_type"], "description": lambda x: x["description"],
              "host": lambda x: x["host"], "port": lambda x: x["port"], "id": lambda x: x["id"],
              "team_name": lambda x: x.get("team_name")}
CONN_FIELDS = ("connection_id", "conn_type", "description", "host", "login", "schema", "port", "password",
               "extra", "team_name")


@op("get_connections")
def get_connections(c):
    items = pattern(list(c.state.connections.values()), c.q.get("connection_id_pattern"),
                    lambda x: x["connection_id"])
    return paged(c, items, "connections", connection_json, CONN_ORDER, ["id"])


def find_connection(c, cid=None):
    cid = cid if cid is not None else c.path["connection_id"]
    conn = c.state.connections.get(cid)
    if conn is None:
        raise HTTPError(404, f"The Connection with connection_id: `{cid}` was not found")
    return conn


@op("get_connection")
def get_connection(c):
    return connection_json(find_connection(c))


@op("post_connection")
def post_connection(c):
    b = c.body
    if b["connection_id"] in c.state.connections:
        raise HTTPError(409, f"Connection with connection_id: `{b['connection_id']}` already exists")
    conn = c.state.put_connection({k: b.get(k) for k in CONN_FIELDS})
    return Resp(201, connection_json(conn))


def apply_connection_patch(c, conn, body, mask):
    fields = set(body) - {"connection_id"}
    if mask:
        fields &= set(mask)
    for f in fields:
        if f in CONN_FIELDS:
            conn[f] = body.get(f)


@op("patch_connection")
def patch_connection(c):
    body = c.body
    if body["connection_id"] != c.path["connection_id"]:
        raise HTTPError(400, "The connection_id in the request body does not match the URL parameter")
    conn = find_connection(c)
    mask = c.q.get("update_mask")
    check_mask(mask, CONN_FIELDS)
    apply_connection_patch(c, conn, body, mask)
    return connection_json(conn)


@op("delete_connection")
def delete_connection(c):
    find_connection(c)
    del c.state.connections[c.path["connection_id"]]
    return Resp(204, b"")


@op("test_connection")
def test_connection(c):
    b = c.body
    host = b.get("host") or ""
    if "invalid" in host or "unreachable" in host:
        return {"status": False, "message": f"Could not connect to {host}: connection refused"}
    return {"status": True, "message": "Connection successfully tested"}


@op("create_default_connections")
def create_default_connections(c):
    for conn in ({"connection_id": "airflow_db", "conn_type": "postgres", "host": "postgres", "login": "airflow",
                  "schema": "airflow", "port": 5432},
                 {"connection_id": "fs_default", "conn_type": "fs", "extra": '{"path": "/"}'}):
        if conn["connection_id"] not in c.state.connections:
            c.state.put_connection(dict(conn))
    return Resp(204, b"")


@op("bulk_connections")
def bulk_connections(c):
    def create(e):
        c.state.put_connection({k: e.get(k) for k in CONN_FIELDS})

    def update(e, mask):
        apply_connection_patch(c, c.state.connections[e["connection_id"]], e, mask)
    return bulk(c, c.state.connections, "connection_id", create, update, "connections")


# =========================================================================== config

CONFIG = [
    ("core", [("dags_folder", "/opt/airflow/dags"), ("executor", "LocalExecutor"), ("parallelism", "32"),
              ("max_active_tasks_per_dag", "16"), ("load_examples", "False"), ("default_timezone", "utc"),
              ("fernet_key", "< hidden >"), ("dags_are_paused_at_creation", "True")]),
    ("database", [("sql_alchemy_conn", "< hidden >"), ("load_default_connections", "True")]),
    ("logging", [("base_log_folder", "/opt/airflow/logs"), ("logging_level", "INFO"),
                 ("remote_logging", "False")]),
    ("api", [("base_url", "http://localhost:8080"), ("expose_config", "True"), ("maximum_page_limit", None),
             ("fallback_page_limit", None), ("secret_key", "< hidden >"), ("workers", "4")]),
    ("scheduler", [("dag_dir_list_interval", "300"), ("scheduler_heartbeat_sec", "5"),
                   ("catchup_by_default", "False")]),
    ("webserver", [("instance_name", "Fake Airflow"), ("default_ui_timezone", "UTC")]),
]


def config_sections(c, api="v2"):
    out = []
    for name, options in CONFIG:
        opts = []
        for k, v in options:
            if k == "maximum_page_limit":
                v = str(int(c.settings["max_page_size"]))
            elif k == "fallback_page_limit":
                v = "50" if api == "v2" else "100"
            opts.append((k, v))
        out.append((name, opts))
    return out


def config_text(sections):
    parts = []
    for name, options in sections:
        parts.append(f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in options))
    return "\n".join(parts)


def config_json(sections):
    return {"sections": [{"name": n, "options": [{"key": k, "value": v} for k, v in opts]} for n, opts in sections]}


@op("get_config")
def get_config(c):
    accept = accept_json_or_text(c)
    sections = config_sections(c)
    section = c.q.get("section")
    if section:
        sections = [s for s in sections if s[0] == section]
        if not sections:
            raise HTTPError(404, f"Section {section} not found.")
    if accept == "text":
        return Resp(200, config_text(sections), "text/plain; charset=utf-8")
    return config_json(sections)


@op("get_config_value")
def get_config_value(c):
    accept = accept_json_or_text(c)
    section, option = c.path["section"], c.path["option"]
    for name, options in config_sections(c):
        if name == section:
            for k, v in options:
                if k == option:
                    sections = [(name, [(k, v)])]
                    if accept == "text":
                        return Resp(200, config_text(sections), "text/plain; charset=utf-8")
                    return config_json(sections)
    raise HTTPError(404, f"Option [{section}/{option}] not found.")


# =========================================================================== providers / plugins

PROVIDERS = [
    ("apache-airflow-providers-common-sql", "1.27.0", "Common SQL Provider"),
    ("apache-airflow-providers-http", "5.3.0", "Hypertext Transfer Protocol (HTTP)"),
    ("apache-airflow-providers-postgres", "6.2.0", "PostgreSQL"),
    ("apache-airflow-providers-standard", "1.4.0", "Airflow Standard Provider"),
]


@op("get_providers")
def get_providers(c):
    items = [{"package_name": p, "version": v, "description": d,
              "documentation_url": f"https://airflow.apache.org/docs/{p}/{v}/"} for p, v, d in PROVIDERS]
    limit, offset = limit_offset(c)
    return collection("providers", items[offset:offset + limit], len(items))


PLUGIN = {"name": "fake_metrics_plugin", "source": "$PLUGINS_FOLDER/fake_metrics_plugin.py",
          "macros": ["fake_metrics_plugin.ds_add_days"], "flask_blueprints": [], "fastapi_apps": [],
          "fastapi_root_middlewares": [], "external_views": [], "react_apps": [], "appbuilder_views": [],
          "appbuilder_menu_items": [], "global_operator_extra_links": [], "operator_extra_links": [],
          "timetables": [], "listeners": []}


@op("get_plugins")
def get_plugins(c):
    items = [dict(PLUGIN)]
    limit, offset = limit_offset(c)
    return collection("plugins", items[offset:offset + limit], len(items))


@op("import_errors")
def plugin_import_errors(c):
    return collection("import_errors", [], 0)


# =========================================================================== import errors / event logs / jobs

IE_ORDER = {"id": lambda e: e["import_error_id"], "import_error_id": lambda e: e["import_error_id"],
            "timestamp": lambda e: e["timestamp"], "filename": lambda e: e["filename"],
            "bundle_name": lambda e: e["bundle_name"], "stacktrace": lambda e: e["stack_trace"]}


def import_error_json(e):
    return {"import_error_id": e["import_error_id"], "timestamp": iso_z(e["timestamp"]), "filename": e["filename"],
            "bundle_name": e["bundle_name"], "stack_trace": e["stack_trace"]}


@op("get_import_errors")
def get_import_errors(c):
    items = patterns(list(c.state.import_errors), c.q, "filename", lambda e: e["filename"])
    return paged(c, items, "import_errors", import_error_json, IE_ORDER, ["id"])


@op("get_import_error")
def get_import_error(c):
    for e in c.state.import_errors:
        if e["import_error_id"] == c.path["import_error_id"]:
            return import_error_json(e)
    raise HTTPError(404, f"The ImportError with import_error_id: `{c.path['import_error_id']}` was not found")


EVENT_ORDER = {"id": lambda e: e["event_log_id"], "event_log_id": lambda e: e["event_log_id"],
               "dttm": lambda e: e["when"], "when": lambda e: e["when"], "dag_id": lambda e: e["dag_id"],
               "task_id": lambda e: e["task_id"], "run_id": lambda e: e["run_id"], "event": lambda e: e["event"],
               "logical_date": lambda e: e["logical_date"], "execution_date": lambda e: e["logical_date"],
               "owner": lambda e: e["owner"], "extra": lambda e: e["extra"]}


def event_json(e, api="v2"):
    fmt = iso_z if api == "v2" else iso_off
    d = {"event_log_id": e["event_log_id"], "when": fmt(e["when"]), "dag_id": e["dag_id"], "task_id": e["task_id"],
         "run_id": e["run_id"], "map_index": e["map_index"], "try_number": e["try_number"], "event": e["event"],
         "owner": e["owner"], "extra": e["extra"]}
    if api == "v2":
        d.update({"logical_date": iso_z(e["logical_date"]), "dag_display_name": e["dag_id"],
                  "task_display_name": e["task_id"]})
    else:
        d["execution_date"] = iso_off(e["logical_date"])
    return d


def filter_events(c, items):
    q = c.q
    for f in ("dag_id", "task_id", "run_id", "owner", "event", "map_index", "try_number"):
        if q.get(f) is not None:
            items = [e for e in items if e[f] == q[f]]
    inc = q.get("included_events")
    exc = q.get("excluded_events")
    if isinstance(inc, str):
        inc = inc.split(",")
    if isinstance(exc, str):
        exc = exc.split(",")
    if inc:
        items = [e for e in items if e["event"] in inc]
    if exc:
        items = [e for e in items if e["event"] not in exc]
    if q.get("before"):
        b = parse_dt(q["before"])
        items = [e for e in items if e["when"] < b]
    if q.get("after"):
        a = parse_dt(q["after"])
        items = [e for e in items if e["when"] > a]
    for f in ("dag_id", "task_id", "run_id", "owner", "event"):
        items = patterns(items, q, f, lambda e, f=f: e[f])
    return items


@op("get_event_logs")
def get_event_logs(c):
    items = filter_events(c, list(c.state.event_logs))
    return paged(c, items, "event_logs", event_json, EVENT_ORDER, ["id"])


@op("get_event_log")
def get_event_log(c):
    for e in c.state.event_logs:
        if e["event_log_id"] == c.path["event_log_id"]:
            return event_json(e)
    raise HTTPError(404, f"The Event Log with id: `{c.path['event_log_id']}` not found")


JOB_ORDER = {k: (lambda j, k=k: j[k]) for k in ("id", "dag_id", "state", "job_type", "start_date", "end_date",
                                               "hostname", "executor_class", "unixname")}
JOB_ORDER["latest_heartbeat"] = lambda j: j["start_date"]


def job_json(c, j):
    beat = c.now - 1.5 if j["alive"] else j["end_date"]
    return {"id": j["id"], "dag_id": j["dag_id"], "state": j["state"], "job_type": j["job_type"],
            "start_date": iso_z(j["start_date"]), "end_date": iso_z(j["end_date"]),
            "latest_heartbeat": iso_z(beat), "executor_class": j["executor_class"], "hostname": j["hostname"],
            "unixname": j["unixname"], "dag_display_name": j["dag_id"]}


@op("get_jobs")
def get_jobs(c):
    items = list(c.state.jobs)
    q = c.q
    if q.get("is_alive") is not None:
        items = [j for j in items if j["alive"] == q["is_alive"]]
    for f, k in (("job_state", "state"), ("job_type", "job_type"), ("hostname", "hostname"),
                 ("executor_class", "executor_class")):
        if q.get(f):
            items = [j for j in items if j[k] == q[f]]
    items = ranges(c, items, {"start_date": lambda j: j["start_date"], "end_date": lambda j: j["end_date"]})
    return paged(c, items, "jobs", lambda j: job_json(c, j), JOB_ORDER, ["id"])


# =========================================================================== assets

def find_asset(c, asset_id=None):
    asset_id = asset_id if asset_id is not None else c.path["asset_id"]
    for a in c.state.assets:
        if a["id"] == asset_id:
            return a
    raise HTTPError(404, f"The Asset with ID: `{asset_id}` was not found")


def asset_json(c, a):
    events = [e for e in c.state.asset_events if e["asset_id"] == a["id"]]
    last = max(events, key=lambda e: e["timestamp"]) if events else None
    return {
        "id": a["id"], "name": a["name"], "uri": a["uri"], "group": a["group"], "extra": a["extra"],
        "created_at": iso_z(a["created_at"]), "updated_at": iso_z(a["updated_at"]),
        "scheduled_dags": [{"dag_id": d, "created_at": iso_z(a["created_at"]), "updated_at": iso_z(a["updated_at"])}
                           for d in a["consuming_dags"]],
        "producing_tasks": [{"dag_id": d, "task_id": t, "created_at": iso_z(a["created_at"]),
                             "updated_at": iso_z(a["updated_at"])} for d, t in a["producing"]],
        "consuming_tasks": [],
        "aliases": [alias_json(x) for x in c.state.asset_aliases if x["id"] in a["aliases"]],
        "watchers": [],
        "last_asset_event": {"id": last["id"], "timestamp": iso_z(last["timestamp"])} if last else
        {"id": None, "timestamp": None},
    }


def alias_json(a):
    return {"id": a["id"], "name": a["name"], "group": a["group"]}


def asset_event_json(c, e):
    a = next((x for x in c.state.assets if x["id"] == e["asset_id"]), None)
    return {"id": e["id"], "asset_id": e["asset_id"], "uri": a["uri"] if a else None,
            "name": a["name"] if a else None, "group": a["group"] if a else None, "extra": e["extra"],
            "source_task_id": e["source_task_id"], "source_dag_id": e["source_dag_id"],
            "source_run_id": e["source_run_id"], "source_map_index": e["source_map_index"],
            "created_dagruns": e["created_dagruns"], "timestamp": iso_z(e["timestamp"]),
            "partition_key": e.get("partition_key")}


ASSET_ORDER = {k: (lambda a, k=k: a[k]) for k in ("id", "name", "uri", "created_at", "updated_at")}


@op("get_assets")
def get_assets(c):
    items = list(c.state.assets)
    items = patterns(items, c.q, "name", lambda a: a["name"])
    items = patterns(items, c.q, "uri", lambda a: a["uri"])
    if c.q.get("dag_ids"):
        wanted = set(c.q["dag_ids"])
        items = [a for a in items if wanted & (set(a["consuming_dags"]) | {d for d, _ in a["producing"]})]
    return paged(c, items, "assets", lambda a: asset_json(c, a), ASSET_ORDER, ["id"])


@op("get_asset")
def get_asset(c):
    return asset_json(c, find_asset(c))


@op("get_asset_aliases")
def get_asset_aliases(c):
    items = patterns(list(c.state.asset_aliases), c.q, "name", lambda a: a["name"])
    mapping = {"id": lambda a: a["id"], "name": lambda a: a["name"]}
    return paged(c, items, "asset_aliases", alias_json, mapping, ["id"])


@op("get_asset_alias")
def get_asset_alias(c):
    for a in c.state.asset_aliases:
        if a["id"] == c.path["asset_alias_id"]:
            return alias_json(a)
    raise HTTPError(404, f"The Asset Alias with ID: `{c.path['asset_alias_id']}` was not found")


EVENT_ORDER_ASSET = {k: (lambda e, k=k: e[k]) for k in ("source_task_id", "source_dag_id", "source_run_id",
                                                       "source_map_index", "timestamp", "id")}


@op("get_asset_events")
def get_asset_events(c):
    items = list(c.state.asset_events)
    q = c.q
    for f in ("asset_id", "source_dag_id", "source_task_id", "source_run_id", "source_map_index"):
        if q.get(f) is not None:
            items = [e for e in items if e[f] == q[f]]
    names = {a["id"]: a["name"] for a in c.state.assets}
    items = patterns(items, q, "name", lambda e: names.get(e["asset_id"]))
    items = ranges(c, items, {"timestamp": lambda e: e["timestamp"]})
    return paged(c, items, "asset_events", lambda e: asset_event_json(c, e), EVENT_ORDER_ASSET, ["timestamp"])


@op("create_asset_event")
def create_asset_event(c):
    asset = find_asset(c, c.body["asset_id"])
    e = {"id": c.state.next_id("asset_event"), "asset_id": asset["id"], "extra": c.body.get("extra") or {},
         "source_dag_id": None, "source_task_id": None, "source_run_id": None, "source_map_index": -1,
         "timestamp": c.now, "created_dagruns": [], "partition_key": c.body.get("partition_key")}
    c.state.asset_events.append(e)
    return asset_event_json(c, e)


@op("materialize_asset")
def materialize_asset(c):
    asset = find_asset(c)
    if not asset["producing"]:
        raise HTTPError(400, f"No DAG materializes asset with ID: {asset['id']}")
    dag = c.state.dags.get(asset["producing"][0][0])
    if dag is None:
        raise HTTPError(404, f"The Dag with ID: `{asset['producing'][0][0]}` was not found")
    body = c.body or {}
    run_id = body.get("dag_run_id") or f"asset_materialization__{iso_off(c.now)}"
    if c.state.find_run(dag.dag_id, run_id):
        raise unique_violation("dag_run", "dag_id, dag_run.run_id")
    run = c.state.create_run(dag, run_id, logical_date=None, run_after=c.now, conf=body.get("conf") or {},
                             note=body.get("note"), user=c.user, t=c.now, run_type="asset_materialization")
    return run_json(c, run)


def queued_events(c, asset_id=None, dag_id=None):
    items = list(c.state.queued_asset_events)
    if asset_id is not None:
        items = [e for e in items if e["asset_id"] == asset_id]
    if dag_id is not None:
        items = [e for e in items if e["dag_id"] == dag_id]
    if c.q.get("before"):
        b = parse_dt(c.q["before"])
        items = [e for e in items if e["created_at"] < b]
    return items


def queued_json(e):
    return {"asset_id": e["asset_id"], "dag_id": e["dag_id"], "created_at": iso_z(e["created_at"]),
            "dag_display_name": e["dag_id"]}


@op("get_asset_queued_events")
def get_asset_queued_events(c):
    asset = find_asset(c)
    items = queued_events(c, asset_id=asset["id"])
    if not items:
        raise HTTPError(404, f"Queue event with asset_id: `{asset['id']}` was not found")
    return collection("queued_events", [queued_json(e) for e in items], len(items))


@op("delete_asset_queued_events")
def delete_asset_queued_events(c):
    asset = find_asset(c)
    items = queued_events(c, asset_id=asset["id"])
    if not items:
        raise HTTPError(404, f"Queue event with asset_id: `{asset['id']}` was not found")
    for e in items:
        c.state.queued_asset_events.remove(e)
    return Resp(204, b"")


@op("get_dag_asset_queued_events")
def get_dag_asset_queued_events(c):
    dag = get_dag(c)
    items = queued_events(c, dag_id=dag.dag_id)
    if not items:
        raise HTTPError(404, f"Queue event with dag_id: `{dag.dag_id}` was not found")
    return collection("queued_events", [queued_json(e) for e in items], len(items))


@op("delete_dag_asset_queued_events")
def delete_dag_asset_queued_events(c):
    dag = get_dag(c)
    items = queued_events(c, dag_id=dag.dag_id)
    if not items:
        raise HTTPError(404, f"Queue event with dag_id: `{dag.dag_id}` was not found")
    for e in items:
        c.state.queued_asset_events.remove(e)
    return Resp(204, b"")


@op("get_dag_asset_queued_event")
def get_dag_asset_queued_event(c):
    dag = get_dag(c)
    items = queued_events(c, asset_id=c.path["asset_id"], dag_id=dag.dag_id)
    if not items:
        raise HTTPError(404, f"Queued event with dag_id: `{dag.dag_id}` and asset_id: `{c.path['asset_id']}` "
                             f"was not found")
    return queued_json(items[0])


@op("delete_dag_asset_queued_event")
def delete_dag_asset_queued_event(c):
    dag = get_dag(c)
    items = queued_events(c, asset_id=c.path["asset_id"], dag_id=dag.dag_id)
    if not items:
        raise HTTPError(404, f"Queued event with dag_id: `{dag.dag_id}` and asset_id: `{c.path['asset_id']}` "
                             f"was not found")
    for e in items:
        c.state.queued_asset_events.remove(e)
    return Resp(204, b"")


# =========================================================================== backfills

def backfill_json(c, b):
    dag = c.state.dags.get(b["dag_id"])
    return {"id": b["id"], "dag_id": b["dag_id"], "from_date": iso_z(b["from_date"]), "to_date": iso_z(b["to_date"]),
            "dag_run_conf": b["dag_run_conf"], "is_paused": b["is_paused"], "reprocess_behavior": b["reprocess"],
            "max_active_runs": b["max_active_runs"], "created_at": iso_z(b["created_at"]),
            "completed_at": iso_z(b["completed_at"]), "updated_at": iso_z(b["updated_at"]),
            "dag_display_name": dag.display_name if dag else b["dag_id"]}


def backfill_dates(c, dag, body):
    start, end = parse_dt(body["from_date"]), parse_dt(body["to_date"])
    if start > end:
        raise HTTPError(400, "from_date must be before or equal to to_date")
    if dag.schedule is None:
        raise HTTPError(422, f"{dag.dag_id} has no schedule")
    step = 7 * DAY if dag.schedule == "@weekly" else DAY
    dates = []
    d = midnight(start) if midnight(start) >= start else midnight(start) + DAY
    if d > start and abs(midnight(start) - start) < 1e-6:
        d = start
    while d <= end and len(dates) < 1000:
        dates.append(d)
        d += step
    reprocess = body.get("reprocess_behavior", "none")
    out = []
    for d in dates:
        existing = c.state.run_with_logical_date(dag.dag_id, d)
        if existing is not None:
            s = existing.view(c.now).state
            if reprocess == "none" or (reprocess == "failed" and s != "failed"):
                continue
        out.append(d)
    if body.get("run_backwards"):
        out.reverse()
    return out


@op("list_backfills")
def list_backfills(c):
    items = [b for b in c.state.backfills.values() if b["dag_id"] == c.q["dag_id"]]
    return paged(c, items, "backfills", lambda b: backfill_json(c, b), {"id": lambda b: b["id"]}, ["id"])


@op("create_backfill_dry_run")
def create_backfill_dry_run(c):
    dag = get_dag(c, c.body["dag_id"])
    dates = backfill_dates(c, dag, c.body)
    return collection("backfills", [{"logical_date": iso_z(d), "partition_date": None, "partition_key": None}
                                    for d in dates], len(dates))


@op("create_backfill")
def create_backfill(c):
    body = c.body
    dag = get_dag(c, body["dag_id"])
    for b in c.state.backfills.values():
        if b["dag_id"] == dag.dag_id and b["completed_at"] is None:
            raise HTTPError(409, f"There is already a running backfill for dag {dag.dag_id}")
    dates = backfill_dates(c, dag, body)
    bid = c.state.next_id("backfill")
    b = {"id": bid, "dag_id": dag.dag_id, "from_date": parse_dt(body["from_date"]), "to_date": parse_dt(body["to_date"]),
         "dag_run_conf": body.get("dag_run_conf") or {}, "is_paused": False,
         "reprocess": body.get("reprocess_behavior", "none"), "max_active_runs": body.get("max_active_runs", 10),
         "created_at": c.now, "completed_at": None if dates else c.now, "updated_at": c.now}
    c.state.backfills[bid] = b
    step = 7 * DAY if dag.schedule == "@weekly" else DAY
    for d in dates:
        run_id = f"backfill__{iso_off(d)}"
        old = c.state.find_run(dag.dag_id, run_id) or c.state.run_with_logical_date(dag.dag_id, d)
        if old is not None:
            del c.state.runs[dag.dag_id][old.run_id]
        c.state.create_run(dag, run_id, logical_date=d, run_after=d + step, conf=b["dag_run_conf"], note=None,
                           user=c.user, t=c.now, run_type="backfill", triggered_by="backfill",
                           data_interval=(d, d + step), backfill_id=bid)
    return backfill_json(c, b)


def find_backfill(c):
    b = c.state.backfills.get(c.path["backfill_id"])
    if b is None:
        raise HTTPError(404, f"Could not find the backfill with id {c.path['backfill_id']}")
    return b


@op("get_backfill")
def get_backfill(c):
    return backfill_json(c, find_backfill(c))


@op("pause_backfill", "unpause_backfill", "cancel_backfill")
def change_backfill(c):
    b = find_backfill(c)
    if b["completed_at"] is not None:
        raise HTTPError(409, "Backfill is already completed.")
    name = c.op["op"]
    if name == "cancel_backfill":
        b["completed_at"] = c.now
        b["is_paused"] = True
        for run in c.state.all_runs(b["dag_id"]):
            if run.backfill_id == b["id"] and run.view(c.now).state == "queued":
                c.state.set_run_state(run, "failed", c.now)
    else:
        b["is_paused"] = name == "pause_backfill"
    b["updated_at"] = c.now
    return backfill_json(c, b)
