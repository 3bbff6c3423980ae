"""Operations Airflow 3.3 added to /api/v2: the state stores of task instances and
assets, asynchronous connection tests, bulk_dag_runs, clear_dag_runs,
clear_dag_run_partitions and patch_task_group_instances (with its dry run).
Registered into v2.HANDLERS; a fake started as an older version has no route to them."""
import uuid

from .common import limit_offset
from .errors import HTTPError
from .responses import Resp
from .util import iso_z, parse_dt
from .v2 import apply_run_patch, bulk, collection, get_dag, get_run, get_ti, op, run_json, ti_json


# =========================================================================== task state store

def _ti_scope(c):
    ti = get_ti(c)
    return (ti.run.dag.dag_id, ti.run.run_id, ti.task_id, ti.map_index)


def _live(entries, t):
    """Entries not expired at t."""
    return {k: e for k, e in entries.items() if e.get("expires_at") is None or e["expires_at"] > t}


def _task_entry_json(key, e):
    return {"key": key, "value": e["value"], "updated_at": iso_z(e["updated_at"]),
            "expires_at": iso_z(e["expires_at"]) if e.get("expires_at") is not None else None}


def _page(c, entries, key, serializer):
    limit, offset = limit_offset(c)
    keys = sorted(entries)
    return collection(key, [serializer(k, entries[k]) for k in keys[offset:offset + limit]], len(keys))


def _missing(key):
    raise HTTPError(404, f"The state store key `{key}` was not found")


@op("list_task_state_store")
def list_task_state_store(c):
    entries = _live(c.state.task_state_store.get(_ti_scope(c), {}), c.now)
    return _page(c, entries, "task_state_store", _task_entry_json)


@op("get_task_state_store")
def get_task_state_store(c):
    entries = _live(c.state.task_state_store.get(_ti_scope(c), {}), c.now)
    key = c.path["key"]
    if key not in entries:
        _missing(key)
    return _task_entry_json(key, entries[key])


@op("set_task_state_store")
def set_task_state_store(c):
    expires = c.body.get("expires_at", "default")
    store = c.state.task_state_store.setdefault(_ti_scope(c), {})
    store[c.path["key"]] = {"value": c.body["value"], "updated_at": c.now,
                            "expires_at": None if expires in (None, "default") else parse_dt(expires)}
    return Resp(204, b"")


@op("patch_task_state_store")
def patch_task_state_store(c):
    store = c.state.task_state_store.get(_ti_scope(c), {})
    key = c.path["key"]
    if key not in _live(store, c.now):
        _missing(key)
    store[key] = dict(store[key], value=c.body["value"], updated_at=c.now)
    return _task_entry_json(key, store[key])


@op("delete_task_state_store")
def delete_task_state_store(c):
    store = c.state.task_state_store.get(_ti_scope(c), {})
    key = c.path["key"]
    if key not in _live(store, c.now):
        _missing(key)
    del store[key]
    return Resp(204, b"")


@op("clear_task_state_store")
def clear_task_state_store(c):
    if c.q.get("all_map_indices"):
        run = get_run(c)
        for scope in [s for s in c.state.task_state_store if s[:3] == (run.dag.dag_id, run.run_id, c.path["task_id"])]:
            del c.state.task_state_store[scope]
    else:
        c.state.task_state_store.pop(_ti_scope(c), None)
    return Resp(204, b"")


# =========================================================================== asset state store

def _asset_id(c):
    asset_id = c.path["asset_id"]
    if not any(a["id"] == asset_id for a in c.state.assets):
        raise HTTPError(404, f"The Asset with ID: `{asset_id}` was not found")
    return asset_id


def _asset_entry_json(key, e):
    return {"key": key, "value": e["value"], "updated_at": iso_z(e["updated_at"]),
            "last_updated_by": e["last_updated_by"]}


@op("list_asset_state_store")
def list_asset_state_store(c):
    return _page(c, c.state.asset_state_store.get(_asset_id(c), {}), "asset_state_store", _asset_entry_json)


@op("get_asset_state_store")
def get_asset_state_store(c):
    entries = c.state.asset_state_store.get(_asset_id(c), {})
    key = c.path["key"]
    if key not in entries:
        _missing(key)
    return _asset_entry_json(key, entries[key])


@op("set_asset_state_store")
def set_asset_state_store(c):
    store = c.state.asset_state_store.setdefault(_asset_id(c), {})
    store[c.path["key"]] = {"value": c.body["value"], "updated_at": c.now,
                            "last_updated_by": {"kind": "api", "dag_id": None, "task_id": None, "run_id": None,
                                                "map_index": None}}
    return Resp(204, b"")


@op("delete_asset_state_store")
def delete_asset_state_store(c):
    store = c.state.asset_state_store.get(_asset_id(c), {})
    key = c.path["key"]
    if key not in store:
        _missing(key)
    del store[key]
    return Resp(204, b"")


@op("clear_asset_state_store")
def clear_asset_state_store(c):
    c.state.asset_state_store.pop(_asset_id(c), None)
    return Resp(204, b"")


# =========================================================================== async connection tests

def _test_view(test, t):
    """A test is queued for one run_ms step, running for the next, then done: it fails
    when the host contains "invalid" or "unreachable"."""
    step = max(t - test["created_at"], 0) * 1000 / max(float(test["run_ms"]), 1)
    if step < 1:
        return "queued", None
    if step < 2:
        return "running", None
    host = test["host"] or ""
    if "invalid" in host or "unreachable" in host:
        return "failed", f"Could not connect to {host}: connection refused"
    return "success", "Connection successfully tested"


@op("enqueue_connection_test")
def enqueue_connection_test(c):
    token = uuid.uuid4().hex
    c.state.connection_tests[token] = {"connection_id": c.body["connection_id"], "host": c.body.get("host"),
                                       "created_at": c.now, "run_ms": c.settings["run_ms"]}
    return Resp(202, {"token": token, "connection_id": c.body["connection_id"], "state": "queued"})


@op("get_connection_test")
def get_connection_test(c):
    token = c.h["Airflow-Connection-Test-Token"]
    test = c.state.connection_tests.get(token)
    if test is None:
        raise HTTPError(404, "The connection test was not found")
    state, message = _test_view(test, c.now)
    return {"token": token, "connection_id": test["connection_id"], "state": state, "result_message": message,
            "created_at": iso_z(test["created_at"])}


# =========================================================================== dag runs

@op("bulk_dag_runs")
def bulk_dag_runs(c):
    dag = get_dag(c)
    runs = c.state.runs.setdefault(dag.dag_id, {})

    def create(e):
        run = c.state.create_run(dag, e["dag_run_id"], logical_date=None, run_after=c.now, conf={},
                                 note=e.get("note"), user=c.user, t=c.now, data_interval=(None, None))
        if e.get("state"):
            c.state.set_run_state(run, e["state"], c.now)

    def update(e, mask):
        apply_run_patch(c, runs[e["dag_run_id"]], e, mask)

    return bulk(c, runs, "dag_run_id", create, update, "dag_run")


@op("clear_dag_runs")
def clear_dag_runs(c):
    dag = get_dag(c)
    body = c.body or {}
    runs = [get_run(c, dag.dag_id, e["dag_run_id"]) for e in body.get("dag_runs") or []]
    if not body.get("dag_runs"):
        runs = c.state.all_runs(dag.dag_id)
    pairs = []
    for run in runs:
        tis = list(run.tis)
        if body.get("only_failed", False):
            tis = [ti for ti in tis if ti.view(c.now).state in ("failed", "upstream_failed")]
        pairs.append((run, tis))
    if body.get("dry_run", True):
        items = [ti_json(c, ti) for _, tis in pairs for ti in tis]
        return collection("task_instances", items, len(items))
    for run, tis in pairs:
        c.state.clear_tis(run, tis, c.now)
        if body.get("note") is not None:
            run.note = body["note"]
    return collection("dag_runs", [run_json(c, run) for run, _ in pairs], len(pairs))


@op("clear_dag_run_partitions")
def clear_dag_run_partitions(c):
    """The fake has no partitioned runs: only `run_id` selects a run."""
    dag = get_dag(c)
    body = c.body or {}
    runs = [get_run(c, dag.dag_id, body["run_id"])] if body.get("run_id") else []
    dry_run = body.get("dry_run", True)
    cleared = 0
    for run in runs:
        tis = list(run.tis) if body.get("clear_task_instances") else []
        cleared += len(tis)
        if not dry_run:
            c.state.clear_tis(run, tis, c.now)
    return {"dag_runs_cleared": len(runs), "task_instances_cleared": cleared, "dry_run": dry_run}


# =========================================================================== task groups

def patch_group(c, dry_run):
    """Task instances of a task group are those whose task_id starts with "<group_id>."."""
    run = get_run(c)
    group = c.path["group_id"]
    tis = [ti for ti in run.tis if ti.task_id.startswith(group + ".")]
    if not tis:
        raise HTTPError(404, f"Task group {group} not found in Dag {run.dag.dag_id}")
    body = c.body or {}
    fields = set(body)
    if c.q.get("update_mask"):
        fields &= set(c.q["update_mask"])
    if not dry_run:
        for ti in tis:
            if "new_state" in fields and body.get("new_state") is not None:
                c.state.set_ti_state(ti, body["new_state"], c.now)
            if "note" in fields:
                ti.note = body.get("note")
                ti.updated_at = c.now
    return collection("task_instances", [ti_json(c, ti) for ti in tis], len(tis))


@op("patch_task_group_instances")
def patch_task_group_instances(c):
    return patch_group(c, dry_run=False)


@op("patch_task_group_instances_dry_run")
def patch_task_group_instances_dry_run(c):
    return patch_group(c, dry_run=True)
