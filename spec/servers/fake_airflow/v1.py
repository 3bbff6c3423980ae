"""Airflow 2 stable API (/api/v1) handlers, keyed by operationId.

They share the state (and some filtering code) with v2 but answer with the
Airflow 2.10 shapes: execution_date, +00:00 timestamps, problem+json errors.
"""
import json

from . import v2
from .common import limit_offset, order, pattern, ranges, states_filter
from .errors import HTTPError
from .responses import Resp
from .state import RUN_STATES, TERMINAL_TI, task_log_lines
from .tokens import sign_blob, unsign_blob
from .util import iso_off, log_ts, parse_dt
from .v2 import Row

HANDLERS = {}
VERSION = "2.10.0"
GIT_VERSION = ".release:b99b7e3b9c01f2d1f6ea4fb85d4bd5c1bb8f7c0a"


def op(*names):
    def deco(fn):
        for n in names:
            HANDLERS[n] = fn
        return fn
    return deco


def fallback(c):
    if c.req.method == "GET":
        return {"total_entries": 0}
    return Resp(c.op.get("status", 200), None)


def nf(title, detail):
    return HTTPError(404, detail, title=title)


def bad(detail, title="Bad Request"):
    return HTTPError(400, detail, title=title)


# =========================================================================== lookups

def get_dag(c, dag_id=None):
    dag_id = dag_id if dag_id is not None else c.path["dag_id"]
    dag = c.state.dags.get(dag_id)
    if dag is None:
        raise nf("DAG not found", f"DAG with dag_id: '{dag_id}' not found")
    return dag


def get_run(c, dag_id=None, run_id=None):
    dag_id = dag_id if dag_id is not None else c.path["dag_id"]
    run_id = run_id if run_id is not None else c.path["dag_run_id"]
    run = c.state.find_run(dag_id, run_id)
    if run is None:
        raise nf("DAGRun not found", f"DAGRun with DAG ID: '{dag_id}' and DagRun ID: '{run_id}' not found")
    return run


def get_ti(c, map_index=None):
    run = get_run(c)
    if map_index is None:
        map_index = c.path.get("map_index", -1)
    ti = run.ti(c.path["task_id"], map_index)
    if ti is None:
        raise nf("Task instance not found", f"Task instance not found for task {c.path['task_id']!r} on DAG "
                                            f"{run.dag.dag_id!r} (run {run.run_id!r}, map_index {map_index})")
    return ti


def fields_filter(c, d):
    fields = c.q.get("fields")
    if not fields:
        return d
    unknown = [f for f in fields if f not in d]
    if unknown:
        raise bad(f"Unknown fields: {set(unknown)}")
    return {k: v for k, v in d.items() if k in fields}


# =========================================================================== serializers

def schedule_interval(dag):
    if dag.schedule is None:
        return None
    return {"__type": "CronExpression", "value": dag.schedule}


def dag_json(c, dag):
    nxt = c.state.next_schedule(dag, c.now)
    return {
        "dag_id": dag.dag_id,
        "dag_display_name": dag.display_name,
        "root_dag_id": None,
        "is_paused": dag.is_paused,
        "is_active": not dag.stale,
        "is_subdag": False,
        "last_parsed_time": iso_off(dag.last_parsed),
        "last_pickled": None,
        "last_expired": None,
        "scheduler_lock": None,
        "pickle_id": None,
        "default_view": "grid",
        "fileloc": dag.fileloc,
        "file_token": c.state.file_token(dag),
        "owners": list(dag.owners),
        "description": dag.description,
        "schedule_interval": schedule_interval(dag),
        "timetable_description": dag.timetable_description or ("Never, external triggers only"
                                                               if dag.schedule is None else None),
        "tags": [{"name": t} for t in sorted(dag.tags)],
        "max_active_tasks": dag.max_active_tasks,
        "max_active_runs": dag.max_active_runs,
        "max_consecutive_failed_dag_runs": 0,
        "has_task_concurrency_limits": False,
        "has_import_errors": False,
        "next_dagrun": iso_off(nxt["logical_date"]) if nxt else None,
        "next_dagrun_data_interval_start": iso_off(nxt["start"]) if nxt else None,
        "next_dagrun_data_interval_end": iso_off(nxt["end"]) if nxt else None,
        "next_dagrun_create_after": iso_off(nxt["run_after"]) if nxt else None,
    }


def dag_detail_json(c, dag):
    d = dag_json(c, dag)
    d.update({
        "catchup": dag.catchup,
        "concurrency": dag.max_active_tasks,
        "dag_run_timeout": None,
        "dataset_expression": None,
        "doc_md": dag.doc_md,
        "end_date": None,
        "is_paused_upon_creation": None,
        "last_parsed": iso_off(dag.last_parsed),
        "orientation": "LR",
        "params": {k: {"__class": "airflow.models.param.Param", "value": v, "description": None, "schema": {}}
                   for k, v in dag.params.items()},
        "render_template_as_native_obj": False,
        "start_date": iso_off(dag.start_date),
        "template_search_path": None,
        "timezone": "Timezone('UTC')",
    })
    return d


def run_json(c, run, v=None):
    v = v or run.view(c.now)
    return {
        "dag_run_id": run.run_id,
        "dag_id": run.dag.dag_id,
        "logical_date": iso_off(run.logical_date),
        "execution_date": iso_off(run.logical_date),
        "start_date": iso_off(v.start),
        "end_date": iso_off(v.end),
        "data_interval_start": iso_off(run.data_interval[0]),
        "data_interval_end": iso_off(run.data_interval[1]),
        "last_scheduling_decision": iso_off(v.end or v.start),
        "run_type": run.run_type if run.run_type in ("backfill", "manual", "scheduled") else "dataset_triggered",
        "state": v.state,
        "external_trigger": run.run_type == "manual",
        "conf": run.conf,
        "note": run.note,
    }


def ti_json(c, ti, v=None):
    v = v or ti.view(c.now)
    run = ti.run
    task = ti.task
    duration = (v.end - v.start) if v.end is not None and v.start is not None else None
    started = v.start is not None
    return {
        "task_id": ti.task_id,
        "task_display_name": ti.task_id,
        "dag_id": run.dag.dag_id,
        "dag_run_id": run.run_id,
        "execution_date": iso_off(run.logical_date),
        "start_date": iso_off(v.start),
        "end_date": iso_off(v.end),
        "duration": round(duration, 6) if duration is not None else None,
        "state": v.state,
        "try_number": v.try_number,
        "map_index": ti.map_index,
        "max_tries": task.retries,
        "hostname": "fake-worker-1" if started else "",
        "unixname": "airflow",
        "pool": task.pool,
        "pool_slots": 1,
        "queue": "default",
        "priority_weight": 1 + len(run.dag.closure([task.task_id], "down")),
        "operator": task.operator,
        "queued_when": iso_off(v.queued),
        "pid": (4000 + (abs(hash(ti.id)) % 5000)) if started else None,
        "executor": None,
        "executor_config": "{}",
        "sla_miss": None,
        "rendered_map_index": str(ti.map_index) if ti.map_index >= 0 else None,
        "rendered_fields": dict(task.rendered),
        "trigger": None,
        "triggerer_job": None,
        "note": ti.note,
    }


def ti_ref(ti):
    return {"task_id": ti.task_id, "dag_id": ti.run.dag.dag_id, "dag_run_id": ti.run.run_id,
            "execution_date": iso_off(ti.run.logical_date)}


def pool_json(c, pool):
    d = v2.pool_json(c, pool)
    d.pop("team_name", None)
    return d


def conn_item(conn):
    return {"connection_id": conn["connection_id"], "conn_type": conn["conn_type"],
            "description": conn["description"], "host": conn["host"], "login": conn["login"],
            "schema": conn["schema"], "port": conn["port"]}


def conn_json(conn):
    d = conn_item(conn)
    d["extra"] = conn["extra"]
    return d


def var_json(var):
    return {"key": var["key"], "value": var["value"], "description": var["description"]}


def collection(key, items, total):
    return {key: items, "total_entries": total}


def paged(c, items, key, serializer, mapping, default):
    items = order(c, items, mapping, default)
    limit, offset = limit_offset(c)
    return collection(key, [serializer(i) for i in items[offset:offset + limit]], len(items))


# =========================================================================== monitoring

@op("get_version")
def get_version(c):
    return {"version": VERSION, "git_version": GIT_VERSION}


@op("get_health")
def get_health(c):
    beat = iso_off(c.now - 2.5)
    return {"metadatabase": {"status": "healthy"},
            "scheduler": {"status": "healthy", "latest_scheduler_heartbeat": beat},
            "triggerer": {"status": "healthy", "latest_triggerer_heartbeat": beat},
            "dag_processor": {"status": "healthy", "latest_dag_processor_heartbeat": beat}}


# =========================================================================== DAGs

DAG_ORDER = {"dag_id": lambda d: d.dag_id, "dag_display_name": lambda d: d.display_name,
             "is_paused": lambda d: d.is_paused, "last_parsed_time": lambda d: d.last_parsed,
             "next_dagrun": lambda d: d.dag_id, "description": lambda d: d.description,
             "fileloc": lambda d: d.fileloc, "owners": lambda d: ",".join(d.owners)}


def filter_dags(c):
    dags = list(c.state.dags.values())
    if c.q.get("tags"):
        dags = [d for d in dags if set(c.q["tags"]) & set(d.tags)]
    if c.q.get("only_active", True):
        dags = [d for d in dags if not d.stale]
    if c.q.get("paused") is not None:
        dags = [d for d in dags if d.is_paused == c.q["paused"]]
    pat = c.q.get("dag_id_pattern")
    if pat and pat != "~":
        dags = pattern(dags, pat, lambda d: d.dag_id)
    return dags


@op("get_dags")
def get_dags(c):
    dags = filter_dags(c)
    return paged(c, dags, "dags", lambda d: fields_filter(c, dag_json(c, d)), DAG_ORDER, "dag_id")


@op("get_dag")
def get_dag_op(c):
    return fields_filter(c, dag_json(c, get_dag(c)))


@op("get_dag_details")
def get_dag_details(c):
    return fields_filter(c, dag_detail_json(c, get_dag(c)))


def dag_patch_value(c):
    mask = c.q.get("update_mask")
    body = c.body or {}
    if mask:
        mask = [m.strip() for m in mask]
        if mask != ["is_paused"]:
            raise bad("Only `is_paused` field can be updated through the REST API")
    if "is_paused" not in body:
        raise bad("{'is_paused': ['Missing data for required field.']}")
    if not isinstance(body["is_paused"], bool):
        raise bad("{'is_paused': ['Not a valid boolean.']}")
    return body["is_paused"]


@op("patch_dag")
def patch_dag(c):
    dag = get_dag(c)
    c.state.set_paused(dag, dag_patch_value(c), c.now)
    return dag_json(c, dag)


@op("patch_dags")
def patch_dags(c):
    value = dag_patch_value(c)
    dags = sorted(filter_dags(c), key=lambda d: d.dag_id)
    limit, offset = limit_offset(c)
    chosen = dags[offset:offset + limit]
    for d in chosen:
        c.state.set_paused(d, value, c.now)
    return collection("dags", [dag_json(c, d) for d in chosen], len(dags))


@op("delete_dag")
def delete_dag(c):
    dag = get_dag(c)
    for run in c.state.all_runs(dag.dag_id):
        if any(ti.view(c.now).state == "running" for ti in run.tis):
            raise HTTPError(409, f"Task instances of dag with id: '{dag.dag_id}' are still running")
    del c.state.dags[dag.dag_id]
    c.state.runs.pop(dag.dag_id, None)
    return Resp(204, b"")


@op("get_tasks")
def get_tasks(c):
    dag = get_dag(c)
    tasks = sorted(dag.tasks.values(), key=lambda t: t.task_id)
    key = c.q.get("order_by")
    if key:
        name = key.lstrip("-")
        if name not in ("task_id", "operator", "pool"):
            raise bad(f"'{name}' is not a valid attribute to order by")
        tasks.sort(key=lambda t: getattr(t, name if name != "operator" else "operator"),
                   reverse=key.startswith("-"))
    return {"tasks": [task_json(dag, t) for t in tasks], "total_entries": len(tasks)}


@op("get_task")
def get_task(c):
    dag = get_dag(c)
    task = dag.tasks.get(c.path["task_id"])
    if task is None:
        raise nf("Task not found", f"Task with id '{c.path['task_id']}' not found")
    return task_json(dag, task)


def task_json(dag, t):
    d = v2.task_json(dag, t)
    d["class_ref"] = {"module_path": d["class_ref"]["module_path"], "class_name": t.operator}
    d["retries"] = t.retries
    d["pool_slots"] = 1
    d["priority_weight"] = 1
    d["retry_exponential_backoff"] = False
    d["executor"] = None
    d["sub_dag"] = None
    d["extra_links"] = [{"class_ref": {"module_path": "airflow.models", "class_name": n}}
                        for n in d["extra_links"]]
    for k in ("operator_name", "params", "task_display_name"):
        d.pop(k, None)
    d["task_display_name"] = t.task_id
    return d


@op("get_dag_source")
def get_dag_source(c):
    dag = c.state.dag_for_file_token(c.path["file_token"])
    if dag is None:
        raise nf("DAG source not found", "Dag source not found")
    accept = best_accept(c, ("text/plain", "application/json"))
    content = c.state.dag_sources[dag.dag_id]
    if accept == "text/plain":
        return Resp(200, content, "text/plain")
    if accept == "application/json":
        return Resp(200, json.dumps({"content": content}), "application/json")
    return Resp(406, "Not Allowed Accept Header", "text/html; charset=utf-8")


def best_accept(c, offers, default="application/json"):
    """werkzeug's best_match: the first offer wins a tie, so */* picks offers[0]."""
    header = c.req.header("accept")
    if not header:
        return default
    best, best_q = None, 0.0
    for part in header.split(","):
        bits = part.strip().split(";")
        mime = bits[0].strip().lower()
        q = 1.0
        for b in bits[1:]:
            if b.strip().startswith("q="):
                try:
                    q = float(b.strip()[2:])
                except ValueError:
                    q = 0.0
        for offer in offers:
            if mime == offer or mime == "*/*" or (mime.endswith("/*") and offer.startswith(mime[:-1])):
                if q > best_q or (q == best_q and best is not None and offers.index(offer) < offers.index(best)):
                    best, best_q = offer, q
    return best


@op("reparse_dag_file")
def reparse_dag_file(c):
    dag = c.state.dag_for_file_token(c.path["file_token"])
    if dag is None:
        raise nf("File not found", "File not found")
    dag.last_parsed = c.now
    return Resp(201, b"")


@op("get_dag_stats")
def get_dag_stats(c):
    wanted = [d for d in c.q["dag_ids"].split(",") if d]
    out = []
    for dag_id in wanted:
        counts = {s: 0 for s in RUN_STATES}
        for r in c.state.all_runs(dag_id):
            counts[r.view(c.now).state] += 1
        out.append({"dag_id": dag_id, "stats": [{"state": s, "count": n} for s, n in counts.items()]})
    return collection("dags", out, len(out))


@op("get_dag_warnings")
def get_dag_warnings(c):
    items = list(c.state.dag_warnings)
    if c.q.get("dag_id"):
        items = [w for w in items if w["dag_id"] == c.q["dag_id"]]
    if c.q.get("warning_type"):
        items = [w for w in items if w["warning_type"] == c.q["warning_type"]]
    mapping = {k: (lambda w, k=k: w[k]) for k in ("dag_id", "warning_type", "message", "timestamp")}

    def ser(w):
        return {"dag_id": w["dag_id"], "warning_type": w["warning_type"], "message": w["message"],
                "timestamp": iso_off(w["timestamp"])}
    return paged(c, items, "dag_warnings", ser, mapping, "dag_id")


# =========================================================================== DAG runs

RUN_ORDER = dict(v2.RUN_ORDER)
RUN_ORDER["external_trigger"] = lambda r: r.obj.run_type == "manual"
RUN_RANGES = dict(v2.RUN_RANGES)
RUN_RANGES["execution_date"] = lambda r: r.obj.logical_date


def filter_runs(c, rows, q):
    rows = ranges(c, rows, RUN_RANGES, q)
    states = q.get("state") or q.get("states")
    if states:
        states = states_filter(states)
        rows = [r for r in rows if r.v.state in states]
    return rows


@op("get_dag_runs")
def get_dag_runs(c):
    dag_id = c.path["dag_id"]
    if dag_id != "~":
        get_dag(c)
    rows = [Row(r, c.now) for r in c.state.all_runs(None if dag_id == "~" else dag_id)]
    rows = filter_runs(c, rows, c.q)
    return paged(c, rows, "dag_runs", lambda r: fields_filter(c, run_json(c, r.obj, r.v)), RUN_ORDER, "id")


@op("get_dag_runs_batch")
def get_dag_runs_batch(c):
    body = c.body or {}
    runs = c.state.all_runs()
    if body.get("dag_ids"):
        runs = [r for r in runs if r.dag.dag_id in body["dag_ids"]]
    rows = filter_runs(c, [Row(r, c.now) for r in runs], body)
    rows = order(c, rows, RUN_ORDER, "id", value=body.get("order_by") or "id")
    limit = min(body.get("page_limit", 100) or 100, int(c.settings["max_page_size"]))
    offset = body.get("page_offset", 0) or 0
    return collection("dag_runs", [run_json(c, r.obj, r.v) for r in rows[offset:offset + limit]], len(rows))


@op("get_dag_run")
def get_dag_run(c):
    return fields_filter(c, run_json(c, get_run(c)))


@op("post_dag_run")
def post_dag_run(c):
    dag = get_dag(c)
    body = c.body or {}
    for ro in ("state", "start_date", "end_date", "external_trigger", "dag_id"):
        if ro in body and ro != "dag_id":
            raise bad(f"{{'{ro}': ['Unknown field.']}}")
    logical_raw = body.get("logical_date")
    exec_raw = body.get("execution_date")
    if logical_raw and exec_raw and logical_raw != exec_raw:
        raise bad("logical_date conflicts with execution_date")
    raw = logical_raw or exec_raw
    try:
        logical = parse_dt(raw, require_tz=False) if raw else c.now
    except ValueError:
        raise bad(f"{{'logical_date': ['Not a valid datetime.']}}") from None
    conf = body.get("conf")
    if conf is not None and not isinstance(conf, dict):
        raise bad("{'conf': ['Dag Run conf must be a dictionary']}")
    run_id = body.get("dag_run_id") or f"manual__{iso_off(logical)}"
    if c.state.find_run(dag.dag_id, run_id) is not None:
        raise HTTPError(409, f"DAGRun with DAG ID: '{dag.dag_id}' and DAGRun ID: '{run_id}' already exists")
    if c.state.run_with_logical_date(dag.dag_id, logical) is not None:
        raise HTTPError(409, f"DAGRun with DAG ID: '{dag.dag_id}' and DAGRun logical date: '{iso_off(logical)}' "
                             f"already exists")
    dis, die = body.get("data_interval_start"), body.get("data_interval_end")
    if (dis is None) != (die is None):
        raise bad("{'_schema': ['Both data_interval_start and data_interval_end must be provided.']}")
    interval = (parse_dt(dis), parse_dt(die)) if dis else (logical, logical)
    run = c.state.create_run(dag, run_id, logical_date=logical, run_after=logical, conf=conf or {},
                             note=body.get("note"), user=c.user, t=c.now, data_interval=interval)
    return run_json(c, run)


@op("update_dag_run_state")
def update_dag_run_state(c):
    run = get_run(c)
    state = (c.body or {}).get("state")
    if state not in ("success", "failed", "queued"):
        raise bad(f"{{'state': ['Must be one of: success, failed, queued.']}}")
    c.state.set_run_state(run, state, c.now)
    return run_json(c, run)


@op("set_dag_run_note")
def set_dag_run_note(c):
    run = get_run(c)
    body = c.body or {}
    if "note" not in body:
        raise bad("{'note': ['Missing data for required field.']}")
    run.note = body["note"]
    run.updated_at = c.now
    return run_json(c, run)


@op("delete_dag_run")
def delete_dag_run(c):
    run = get_run(c)
    del c.state.runs[run.dag.dag_id][run.run_id]
    return Resp(204, b"")


@op("clear_dag_run")
def clear_dag_run(c):
    run = get_run(c)
    dry_run = (c.body or {}).get("dry_run", True)
    tis = list(run.tis)
    if dry_run:
        return collection("task_instances", [ti_json(c, ti) for ti in tis], len(tis))
    c.state.clear_tis(run, tis, c.now)
    return run_json(c, run)


@op("get_upstream_dataset_events")
def get_upstream_dataset_events(c):
    get_run(c)
    return collection("dataset_events", [], 0)


# =========================================================================== task instances

def ti_rows(c):
    dag_id, run_id = c.path["dag_id"], c.path["dag_run_id"]
    if dag_id != "~":
        get_dag(c)
        if run_id != "~":
            get_run(c)
    tis = v2.all_tis(c, dag_id, run_id)
    return [Row(ti, c.now) for ti in tis]


def filter_tis(c, rows, q):
    rows = ranges(c, rows, v2.TI_RANGES, q)
    for key, getter in (("dag_ids", lambda r: r.obj.run.dag.dag_id), ("dag_run_ids", lambda r: r.obj.run.run_id),
                        ("task_ids", lambda r: r.obj.task_id), ("pool", lambda r: r.obj.task.pool),
                        ("queue", lambda r: "default")):
        if q.get(key):
            rows = [r for r in rows if getter(r) in q[key]]
    if q.get("executor"):
        rows = []
    states = states_filter(q.get("state"))
    if states is not None:
        rows = [r for r in rows if r.v.state in states]
    return rows


@op("get_task_instances")
def get_task_instances(c):
    rows = filter_tis(c, ti_rows(c), c.q)
    limit, offset = limit_offset(c)
    return collection("task_instances", [ti_json(c, r.obj, r.v) for r in rows[offset:offset + limit]], len(rows))


@op("get_task_instances_batch")
def get_task_instances_batch(c):
    rows = [Row(ti, c.now) for ti in v2.all_tis(c, None, None)]
    rows = filter_tis(c, rows, c.body or {})
    return collection("task_instances", [ti_json(c, r.obj, r.v) for r in rows], len(rows))


@op("get_task_instance", "get_mapped_task_instance")
def get_task_instance(c):
    return ti_json(c, get_ti(c))


@op("get_mapped_task_instances")
def get_mapped_task_instances(c):
    run = get_run(c)
    task = run.dag.tasks.get(c.path["task_id"])
    if task is None:
        raise nf("Task instance not found", f"Task id {c.path['task_id']} not found")
    if not task.mapped:
        raise nf("Task instance not found", f"Task id {task.task_id} is not mapped")
    rows = filter_tis(c, [Row(ti, c.now) for ti in run.tis if ti.task_id == task.task_id], c.q)
    rows = order(c, rows, v2.TI_ORDER, "map_index")
    limit, offset = limit_offset(c)
    return collection("task_instances", [ti_json(c, r.obj, r.v) for r in rows[offset:offset + limit]], len(rows))


@op("patch_task_instance", "patch_mapped_task_instance")
def patch_task_instance(c):
    ti = get_ti(c)
    body = c.body or {}
    new_state = body.get("new_state")
    if new_state not in ("success", "failed", "skipped"):
        raise bad("{'new_state': ['Must be one of: success, failed, skipped.']}")
    if not body.get("dry_run", False):
        c.state.set_ti_state(ti, new_state, c.now)
    return ti_ref(ti)


@op("set_task_instance_note", "set_mapped_task_instance_note")
def set_task_instance_note(c):
    ti = get_ti(c)
    body = c.body or {}
    if "note" not in body:
        raise bad("{'note': ['Missing data for required field.']}")
    ti.note = body["note"]
    ti.updated_at = c.now
    return ti_json(c, ti)


@op("post_set_task_instances_state")
def post_set_task_instances_state(c):
    dag = get_dag(c)
    body = c.body or {}
    task_id = body.get("task_id")
    if task_id not in dag.tasks:
        raise nf("Task not found", f"Task '{task_id}' not found in DAG '{dag.dag_id}'")
    if body.get("new_state") not in ("success", "failed", "skipped"):
        raise bad("{'new_state': ['Must be one of: success, failed, skipped.']}")
    run = None
    if body.get("dag_run_id"):
        run = c.state.find_run(dag.dag_id, body["dag_run_id"])
    elif body.get("execution_date"):
        run = c.state.run_with_logical_date(dag.dag_id, parse_dt(body["execution_date"]))
    if run is None:
        raise nf("DAGRun not found", "Task instance not found")
    names = {task_id}
    if body.get("include_downstream"):
        names |= dag.closure([task_id], "down")
    if body.get("include_upstream"):
        names |= dag.closure([task_id], "up")
    tis = [ti for ti in run.tis if ti.task_id in names and ti.view(c.now).state != body["new_state"]]
    if not body.get("dry_run", True):
        for ti in tis:
            c.state.set_ti_state(ti, body["new_state"], c.now)
    return {"task_instances": [ti_ref(ti) for ti in tis]}


@op("post_clear_task_instances")
def post_clear_task_instances(c):
    dag = get_dag(c)
    body = c.body or {}
    runs = c.state.all_runs(dag.dag_id)
    if body.get("dag_run_id"):
        run = c.state.find_run(dag.dag_id, body["dag_run_id"])
        if run is None:
            raise nf("DAGRun not found", f"DAGRun with DAG ID: '{dag.dag_id}' and DagRun ID: "
                                         f"'{body['dag_run_id']}' not found")
        runs = [run]
    if body.get("start_date"):
        b = parse_dt(body["start_date"])
        runs = [r for r in runs if r.logical_date is not None and r.logical_date >= b]
    if body.get("end_date"):
        b = parse_dt(body["end_date"])
        runs = [r for r in runs if r.logical_date is not None and r.logical_date <= b]
    names = set(body.get("task_ids") or [])
    if names:
        if body.get("include_downstream"):
            names |= dag.closure(names, "down")
        if body.get("include_upstream"):
            names |= dag.closure(names, "up")
    only_failed = body.get("only_failed", True)
    only_running = body.get("only_running", False)
    chosen = []
    for run in runs:
        tis = [ti for ti in run.tis if (not names or ti.task_id in names)]
        if only_failed:
            tis = [ti for ti in tis if ti.view(c.now).state in ("failed", "upstream_failed")]
        if only_running:
            tis = [ti for ti in tis if ti.view(c.now).state == "running"]
        if tis:
            chosen.append((run, tis))
    refs = [ti_ref(ti) for _, tis in chosen for ti in tis]
    if not body.get("dry_run", True):
        for run, tis in chosen:
            c.state.clear_tis(run, tis, c.now)
    return {"task_instances": refs}


@op("get_task_instance_dependencies", "get_mapped_task_instance_dependencies")
def get_task_instance_dependencies(c):
    get_ti(c)
    return v2.get_task_instance_dependencies(c)


@op("get_extra_links")
def get_extra_links(c):
    ti = get_ti(c)
    links = v2.EXTRA_LINKS.get((ti.run.dag.dag_id, ti.task_id), {})
    return {"extra_links": [{"name": k, "href": v, "class_ref": {"module_path": "airflow.models",
                                                                  "class_name": k}} for k, v in links.items()]}


@op("get_task_instance_tries", "get_mapped_task_instance_tries")
def get_task_instance_tries(c):
    ti = get_ti(c)
    tries = v2.tries_of(c, ti)
    limit, offset = limit_offset(c)
    return collection("task_instances", [ti_json(c, ti, v) for v in tries[offset:offset + limit]], len(tries))


@op("get_task_instance_try_details", "get_mapped_task_instance_try_details")
def get_task_instance_try_details(c):
    ti = get_ti(c)
    for v in v2.tries_of(c, ti):
        if v.try_number == c.path["task_try_number"]:
            return ti_json(c, ti, v)
    raise nf("Task instance not found", "Task instance not found")


@op("get_log")
def get_log(c):
    run = get_run(c)
    map_index = c.q.get("map_index")
    ti = run.ti(c.path["task_id"], -1 if map_index is None else map_index)
    if ti is None:
        raise nf("TaskInstance not found", "Task instance did not exist in the DB")
    try_number = c.path["task_try_number"]
    v = v2.log_view(c, ti, try_number)
    if v is None:
        raise nf("TaskInstance not found", f"Task instance try {try_number} did not exist in the DB")
    files = {"airflow.task": "taskinstance.py:1234", "airflow.task.operators": f"{ti.task.operator.lower()}.py:240"}
    text_lines = [f"[{log_ts(t)}] {{{files.get(logger, 'logging_mixin.py:190')}}} "
                  f"{level.upper()} - {event}" for t, level, logger, event in task_log_lines(ti, try_number, v)]
    src = (f"/opt/airflow/logs/dag_id={run.dag.dag_id}/run_id={run.run_id}/task_id={ti.task_id}/"
           f"attempt={try_number}.log")
    lines = ["*** Found local files:", f"***   * {src}"] + text_lines
    finished = v.state in TERMINAL_TI
    accept = best_accept(c, ("text/plain", "application/json"), default=None)
    if accept == "text/plain":
        return Resp(200, "\n".join(lines) + "\n", "text/plain")
    pos = 0
    if c.q.get("token"):
        try:
            meta = unsign_blob(c.q["token"], c.state.secret)
            pos = int(meta.get("log_pos", 0))
        except (ValueError, AttributeError, TypeError):
            raise bad("Bad Signature. Please use only the tokens provided by the API.") from None
    chunk = lines[pos:] if c.q.get("full_content") else lines[pos:pos + int(c.settings["log_page_lines"])]
    end = pos + len(chunk)
    meta = {"end_of_log": finished and end >= len(lines), "log_pos": end}
    text = "\n".join(chunk) + ("\n" if chunk else "")
    return {"continuation_token": sign_blob(meta, c.state.secret), "content": str([("fake-worker-1", text)])}


# =========================================================================== XCom

def xcom_item(c, key, x, with_value=False, stringify=True):
    dag_id, run_id, task_id, mi, xkey = key
    run = c.state.find_run(dag_id, run_id)
    d = {"key": xkey, "timestamp": iso_off(x["timestamp"]),
         "execution_date": iso_off(run.logical_date) if run else None, "map_index": mi, "task_id": task_id,
         "dag_id": dag_id}
    if with_value:
        d["value"] = str(x["value"]) if stringify else x["value"]
    return d


@op("get_xcom_entries")
def get_xcom_entries(c):
    dag_id, run_id, task_id = c.path["dag_id"], c.path["dag_run_id"], c.path["task_id"]
    if dag_id != "~":
        get_dag(c)
        if run_id != "~":
            get_run(c)
    items = list(c.state.xcom_entries(c.now, dag_id, run_id, task_id).items())
    if c.q.get("xcom_key"):
        items = [i for i in items if i[0][4] == c.q["xcom_key"]]
    if c.q.get("map_index") is not None:
        items = [i for i in items if i[0][3] == c.q["map_index"]]
    items.sort(key=lambda i: (i[1]["timestamp"] or 0, i[0]))
    limit, offset = limit_offset(c)
    return collection("xcom_entries", [xcom_item(c, k, x) for k, x in items[offset:offset + limit]], len(items))


@op("get_xcom_entry")
def get_xcom_entry(c):
    mi = c.q.get("map_index")
    key = (c.path["dag_id"], c.path["dag_run_id"], c.path["task_id"], -1 if mi is None else mi, c.path["xcom_key"])
    x = c.state.xcom_entries(c.now, key[0], key[1], key[2]).get(key)
    if x is None:
        raise nf("XCom entry not found", "XCom entry not found")
    return xcom_item(c, key, x, with_value=True, stringify=c.q.get("stringify", True))


# =========================================================================== variables

VAR_ORDER = {"key": lambda v: v["key"], "id": lambda v: v["id"], "description": lambda v: v["description"]}


@op("get_variables")
def get_variables(c):
    return paged(c, list(c.state.variables.values()), "variables", var_json, VAR_ORDER, "id")


def find_variable(c):
    var = c.state.variables.get(c.path["variable_key"])
    if var is None:
        raise nf("Variable not found", "Variable does not exist")
    return var


@op("get_variable")
def get_variable(c):
    return var_json(find_variable(c))


def load_variable(body):
    missing = [k for k in ("key", "value") if k not in (body or {})]
    if missing:
        raise bad(str({k: ["Missing data for required field."] for k in missing}), title="Invalid Variable schema")
    if not isinstance(body["value"], str):
        raise bad("{'value': ['Not a valid string.']}", title="Invalid Variable schema")
    return body


def extract_mask(mask, non_update, data, allowed):
    out = {}
    for field in mask:
        field = field.strip()
        if field in allowed and field not in non_update:
            if field in data:
                out[field] = data[field]
        else:
            raise bad(f"'{field}' is unknown or cannot be updated.")
    return out


@op("post_variables")
def post_variables(c):
    b = load_variable(c.body)
    var = c.state.put_variable(b["key"], b["value"], b.get("description"), c.now)
    return var_json(var)


@op("patch_variable")
def patch_variable(c):
    b = load_variable(c.body)
    if b["key"] != c.path["variable_key"]:
        raise bad("key from request body doesn't match uri parameter", title="Invalid post body")
    var = find_variable(c)
    data = {k: v for k, v in b.items() if k != "key"}
    if c.q.get("update_mask"):
        data = extract_mask(c.q["update_mask"], {"key"}, b, ("key", "value", "description"))
    for k in ("value", "description"):
        if k in data:
            var[k] = data[k]
    var["updated_at"] = c.now
    return var_json(var)


@op("delete_variable")
def delete_variable(c):
    find_variable(c)
    del c.state.variables[c.path["variable_key"]]
    return Resp(204, b"")


# =========================================================================== pools

@op("get_pools")
def get_pools(c):
    return paged(c, list(c.state.pools.values()), "pools", lambda p: pool_json(c, p),
                 {"id": lambda p: p["id"], "name": lambda p: p["name"], "pool": lambda p: p["name"],
                  "slots": lambda p: p["slots"]}, "id")


def find_pool(c):
    pool = c.state.pools.get(c.path["pool_name"])
    if pool is None:
        raise nf("Pool not found", f"Pool with name:'{c.path['pool_name']}' not found")
    return pool


@op("get_pool")
def get_pool(c):
    return pool_json(c, find_pool(c))


@op("post_pool")
def post_pool(c):
    b = c.body or {}
    missing = [k for k in ("name", "slots") if k not in b]
    if missing:
        raise bad(f"Missing required property(ies): {missing}")
    if b["name"] in c.state.pools:
        raise HTTPError(409, f"Pool: {b['name']} already exists")
    return pool_json(c, v2.new_pool(c, b))


@op("patch_pool")
def patch_pool(c):
    pool = find_pool(c)
    b = c.body or {}
    mask = c.q.get("update_mask")
    if mask:
        for f in mask:
            if f.strip() not in ("name", "slots", "description", "include_deferred"):
                raise bad(f"Invalid field: {f.strip()} in update mask")
        b = {k: v for k, v in b.items() if k in [m.strip() for m in mask]}
    else:
        missing = [k for k in ("name", "slots") if k not in b]
        if missing:
            raise bad(f"Missing required property(ies): {missing}")
    if pool["name"] == "default_pool" and b.get("name", "default_pool") != "default_pool":
        raise bad("Default Pool's name can't be modified")
    for f in ("slots", "description", "include_deferred"):
        if f in b:
            pool[f] = b[f]
    if b.get("name") and b["name"] != pool["name"]:
        del c.state.pools[pool["name"]]
        pool["name"] = b["name"]
        c.state.pools[b["name"]] = pool
    return pool_json(c, pool)


@op("delete_pool")
def delete_pool(c):
    if c.path["pool_name"] == "default_pool":
        raise bad("Default Pool can't be deleted")
    find_pool(c)
    del c.state.pools[c.path["pool_name"]]
    return Resp(204, b"")


# =========================================================================== connections

@op("get_connections")
def get_connections(c):
    return paged(c, list(c.state.connections.values()), "connections", conn_item,
                 {"id": lambda x: x["id"], "connection_id": lambda x: x["connection_id"],
                  "conn_id": lambda x: x["connection_id"], "conn_type": lambda x: x["conn_type"]}, "id")


def find_conn(c):
    conn = c.state.connections.get(c.path["connection_id"])
    if conn is None:
        raise nf("Connection not found",
                 f"The Connection with connection_id: `{c.path['connection_id']}` was not found")
    return conn


@op("get_connection")
def get_connection(c):
    return conn_json(find_conn(c))


V1_CONN_FIELDS = ("connection_id", "conn_type", "description", "host", "login", "schema", "port", "password",
                  "extra")


def load_conn(body):
    missing = [k for k in ("connection_id", "conn_type") if k not in (body or {})]
    if missing:
        raise bad(str({k: ["Missing data for required field."] for k in missing}))
    return body


@op("post_connection")
def post_connection(c):
    b = load_conn(c.body)
    if b["connection_id"] in c.state.connections:
        raise HTTPError(409, f"Connection already exist. ID: {b['connection_id']}")
    return conn_json(c.state.put_connection({k: b.get(k) for k in V1_CONN_FIELDS}))


@op("patch_connection")
def patch_connection(c):
    b = load_conn(c.body)
    if b["connection_id"] != c.path["connection_id"]:
        raise bad("The connection_id cannot be updated.")
    conn = find_conn(c)
    data = {k: v for k, v in b.items() if k in V1_CONN_FIELDS and k != "connection_id"}
    if c.q.get("update_mask"):
        data = extract_mask(c.q["update_mask"], {"connection_id"}, b, V1_CONN_FIELDS)
    conn.update(data)
    return conn_json(conn)


@op("delete_connection")
def delete_connection(c):
    find_conn(c)
    del c.state.connections[c.path["connection_id"]]
    return Resp(204, b"")


@op("test_connection")
def test_connection(c):
    return v2.test_connection(c)


# =========================================================================== config / plugins / providers

@op("get_config")
def get_config(c):
    accept = best_accept(c, ("text/plain", "application/json"))
    sections = v2.config_sections(c, "v1")
    if c.q.get("section"):
        sections = [s for s in sections if s[0] == c.q["section"]]
        if not sections:
            raise nf("Not Found", f"section={c.q['section']} not found.")
    if accept == "text/plain":
        return Resp(200, v2.config_text(sections), "text/plain")
    if accept == "application/json":
        return v2.config_json(sections)
    return Resp(406, b"", None)


@op("get_value")
def get_value(c):
    accept = best_accept(c, ("text/plain", "application/json"))
    section, option = c.path["section"], c.path["option"]
    for name, options in v2.config_sections(c, "v1"):
        if name == section:
            for k, v in options:
                if k == option:
                    s = [(name, [(k, v)])]
                    if accept == "text/plain":
                        return Resp(200, v2.config_text(s), "text/plain")
                    if accept == "application/json":
                        return v2.config_json(s)
                    return Resp(406, b"", None)
    raise nf("Config not found.", f"The option [{section}/{option}] is not found in config.")


@op("get_providers")
def get_providers(c):
    items = [{"package_name": p, "version": v, "description": d} for p, v, d in v2.PROVIDERS]
    return collection("providers", items, len(items))


@op("get_plugins")
def get_plugins(c):
    p = dict(v2.PLUGIN)
    item = {k: p.get(k, []) for k in ("name", "hooks", "executors", "macros", "flask_blueprints",
                                      "appbuilder_views", "appbuilder_menu_items", "global_operator_extra_links",
                                      "operator_extra_links", "source", "ti_deps", "listeners", "timetables")}
    item["name"] = p["name"]
    item["source"] = p["source"]
    limit, offset = limit_offset(c)
    return collection("plugins", [item][offset:offset + limit], 1)


# =========================================================================== import errors / event logs

@op("get_import_errors")
def get_import_errors(c):
    def ser(e):
        return {"import_error_id": e["import_error_id"], "timestamp": iso_off(e["timestamp"]),
                "filename": e["filename"], "stack_trace": e["stack_trace"]}
    return paged(c, list(c.state.import_errors), "import_errors", ser, v2.IE_ORDER, "import_error_id")


@op("get_import_error")
def get_import_error(c):
    for e in c.state.import_errors:
        if e["import_error_id"] == c.path["import_error_id"]:
            return {"import_error_id": e["import_error_id"], "timestamp": iso_off(e["timestamp"]),
                    "filename": e["filename"], "stack_trace": e["stack_trace"]}
    raise nf("Import error not found",
             f"The ImportError with import_error_id: `{c.path['import_error_id']}` was not found")


@op("get_event_logs")
def get_event_logs(c):
    items = v2.filter_events(c, list(c.state.event_logs))
    return paged(c, items, "event_logs", lambda e: v2.event_json(e, "v1"), v2.EVENT_ORDER, "event_log_id")


@op("get_event_log")
def get_event_log(c):
    for e in c.state.event_logs:
        if e["event_log_id"] == c.path["event_log_id"]:
            return v2.event_json(e, "v1")
    raise nf("Event Log not found", f"Event Log with id: '{c.path['event_log_id']}' not found")


# =========================================================================== datasets

def dataset_json(c, a):
    return {"id": a["id"], "uri": a["uri"], "extra": a["extra"], "created_at": iso_off(a["created_at"]),
            "updated_at": iso_off(a["updated_at"]),
            "consuming_dags": [{"dag_id": d, "created_at": iso_off(a["created_at"]),
                                "updated_at": iso_off(a["updated_at"])} for d in a["consuming_dags"]],
            "producing_tasks": [{"dag_id": d, "task_id": t, "created_at": iso_off(a["created_at"]),
                                 "updated_at": iso_off(a["updated_at"])} for d, t in a["producing"]]}


def dataset_event_json(c, e):
    a = next((x for x in c.state.assets if x["id"] == e["asset_id"]), None)
    return {"dataset_id": e["asset_id"], "dataset_uri": a["uri"] if a else None, "extra": e["extra"],
            "source_dag_id": e["source_dag_id"], "source_task_id": e["source_task_id"],
            "source_run_id": e["source_run_id"], "source_map_index": e["source_map_index"],
            "created_dagruns": e["created_dagruns"], "timestamp": iso_off(e["timestamp"])}


def find_dataset(c, uri=None):
    uri = uri if uri is not None else c.path["uri"]
    for a in c.state.assets:
        if a["uri"] == uri:
            return a
    raise nf("Dataset not found", f"The Dataset with uri: `{uri}` was not found")


@op("get_datasets")
def get_datasets(c):
    items = pattern(list(c.state.assets), c.q.get("uri_pattern"), lambda a: a["uri"])
    if c.q.get("dag_ids"):
        wanted = set(c.q["dag_ids"].split(","))
        items = [a for a in items if wanted & (set(a["consuming_dags"]) | {d for d, _ in a["producing"]})]
    return paged(c, items, "datasets", lambda a: dataset_json(c, a), v2.ASSET_ORDER, "id")


@op("get_dataset")
def get_dataset(c):
    return dataset_json(c, find_dataset(c))


@op("get_dataset_events")
def get_dataset_events(c):
    items = list(c.state.asset_events)
    q = c.q
    mapping = {"dataset_id": "asset_id", "source_dag_id": "source_dag_id", "source_task_id": "source_task_id",
               "source_run_id": "source_run_id", "source_map_index": "source_map_index"}
    for f, k in mapping.items():
        if q.get(f) is not None:
            items = [e for e in items if e[k] == q[f]]
    return paged(c, items, "dataset_events", lambda e: dataset_event_json(c, e), v2.EVENT_ORDER_ASSET, "timestamp")


@op("create_dataset_event")
def create_dataset_event(c):
    a = find_dataset(c, (c.body or {}).get("dataset_uri"))
    e = {"id": c.state.next_id("asset_event"), "asset_id": a["id"], "extra": (c.body or {}).get("extra") or {},
         "source_dag_id": None, "source_task_id": None, "source_run_id": None, "source_map_index": -1,
         "timestamp": c.now, "created_dagruns": [], "partition_key": None}
    c.state.asset_events.append(e)
    return dataset_event_json(c, e)


def v1_queued(c, uri=None, dag_id=None):
    asset_id = find_dataset(c, uri)["id"] if uri is not None else None
    items = v2.queued_events(c, asset_id=asset_id, dag_id=dag_id)
    if not items:
        raise nf("Queue event not found", "Queue event not found")
    return items


def queued_json(c, e):
    uri = next((a["uri"] for a in c.state.assets if a["id"] == e["asset_id"]), None)
    return {"created_at": iso_off(e["created_at"]), "dag_id": e["dag_id"], "uri": uri}


@op("get_dataset_queued_events")
def get_dataset_queued_events(c):
    items = v1_queued(c, uri=c.path["uri"])
    return collection("queued_events", [queued_json(c, e) for e in items], len(items))


@op("get_dag_dataset_queued_events")
def get_dag_dataset_queued_events(c):
    dag = get_dag(c)
    items = v1_queued(c, dag_id=dag.dag_id)
    return collection("queued_events", [queued_json(c, e) for e in items], len(items))


@op("get_dag_dataset_queued_event")
def get_dag_dataset_queued_event(c):
    dag = get_dag(c)
    return queued_json(c, v1_queued(c, uri=c.path["uri"], dag_id=dag.dag_id)[0])


@op("delete_dataset_queued_events", "delete_dag_dataset_queued_events", "delete_dag_dataset_queued_event")
def delete_queued(c):
    dag_id = get_dag(c).dag_id if "dag_id" in c.path else None
    for e in v1_queued(c, uri=c.path.get("uri"), dag_id=dag_id):
        c.state.queued_asset_events.remove(e)
    return Resp(204, b"")


# =========================================================================== users / roles / permissions

def user_json(c, name, u):
    return {"username": name, "first_name": u.get("first_name", ""), "last_name": u.get("last_name", ""),
            "email": u.get("email", ""), "active": u.get("active", True), "last_login": None,
            "login_count": 0, "failed_login_count": 0, "roles": [{"name": u["role"]}],
            "created_on": iso_off(u.get("created_on")), "changed_on": iso_off(u.get("changed_on"))}


@op("get_users")
def get_users(c):
    items = sorted(c.state.users.items())
    mapping = {"username": lambda i: i[0], "id": lambda i: i[0], "email": lambda i: i[1].get("email"),
               "first_name": lambda i: i[1].get("first_name"), "last_name": lambda i: i[1].get("last_name")}
    return paged(c, items, "users", lambda i: user_json(c, *i), mapping, "id")


def find_user(c):
    u = c.state.users.get(c.path["username"])
    if u is None:
        raise nf("User not found", f"The User with username `{c.path['username']}` was not found")
    return u


@op("get_user")
def get_user(c):
    return user_json(c, c.path["username"], find_user(c))


def user_role(c, body, default):
    roles = body.get("roles")
    if not roles:
        return default
    name = roles[0].get("name") if isinstance(roles[0], dict) else roles[0]
    if name not in c.state.roles:
        raise bad(f"Unknown roles: '{name}'")
    return name


@op("post_user")
def post_user(c):
    b = c.body or {}
    missing = [k for k in ("username", "password", "email", "first_name", "last_name") if k not in b]
    if missing:
        raise bad(str({k: ["Missing data for required field."] for k in missing}))
    if b["username"] in c.state.users:
        raise HTTPError(409, f"Username `{b['username']}` already exists. Use PATCH to update.")
    u = {"password": b["password"], "role": user_role(c, b, "Public"), "first_name": b["first_name"],
         "last_name": b["last_name"], "email": b["email"], "created_on": c.now, "changed_on": c.now}
    c.state.users[b["username"]] = u
    return user_json(c, b["username"], u)


@op("patch_user")
def patch_user(c):
    u = find_user(c)
    b = c.body or {}
    mask = c.q.get("update_mask")
    if mask:
        b = {k: v for k, v in b.items() if k in [m.strip() for m in mask]}
    for k in ("first_name", "last_name", "email", "password"):
        if k in b:
            u[k] = b[k]
    if "roles" in b:
        u["role"] = user_role(c, b, u["role"])
    u["changed_on"] = c.now
    return user_json(c, c.path["username"], u)


@op("delete_user")
def delete_user(c):
    find_user(c)
    del c.state.users[c.path["username"]]
    return Resp(204, b"")


def role_json(name, perms):
    return {"name": name, "actions": [{"action": {"name": a}, "resource": {"name": r}} for a, r in perms]}


@op("get_roles")
def get_roles(c):
    items = sorted(c.state.roles.items())
    return paged(c, items, "roles", lambda i: role_json(*i), {"name": lambda i: i[0], "id": lambda i: i[0]}, "name")


def find_role(c):
    r = c.state.roles.get(c.path["role_name"])
    if r is None:
        raise nf("Role not found", f"Role with name {c.path['role_name']!r} was not found")
    return r


@op("get_role")
def get_role(c):
    return role_json(c.path["role_name"], find_role(c))


def role_perms(body):
    return [(a["action"]["name"], a["resource"]["name"]) for a in body.get("actions", [])
            if isinstance(a, dict) and "action" in a and "resource" in a]


@op("post_role")
def post_role(c):
    b = c.body or {}
    if "name" not in b:
        raise bad("{'name': ['Missing data for required field.']}")
    if b["name"] in c.state.roles:
        raise HTTPError(409, f"Role with name {b['name']!r} already exists; please update with the PATCH endpoint")
    c.state.roles[b["name"]] = role_perms(b)
    return role_json(b["name"], c.state.roles[b["name"]])


@op("patch_role")
def patch_role(c):
    perms = find_role(c)
    b = c.body or {}
    name = c.path["role_name"]
    mask = [m.strip() for m in (c.q.get("update_mask") or ["name", "actions"])]
    for m in mask:
        if m not in ("name", "actions"):
            raise bad(f"'{m}' in update_mask is unknown")
    if "actions" in mask and "actions" in b:
        perms[:] = role_perms(b)
    if "name" in mask and b.get("name") and b["name"] != name:
        c.state.roles[b["name"]] = c.state.roles.pop(name)
        name = b["name"]
    return role_json(name, c.state.roles[name])


@op("delete_role")
def delete_role(c):
    find_role(c)
    del c.state.roles[c.path["role_name"]]
    return Resp(204, b"")


@op("get_permissions")
def get_permissions(c):
    actions = sorted({a for perms in c.state.roles.values() for a, _ in perms})
    limit, offset = limit_offset(c)
    return collection("actions", [{"name": a} for a in actions[offset:offset + limit]], len(actions))

