"""In-memory state shared by /api/v1 and /api/v2, its seed data, and run progression.

Run progression is computed lazily from timestamps (no background threads):
a triggered run is `queued` for run_ms, then its task instances run level by
level (tasks on the same dependency level run in parallel) over another
run_ms, each spending its first 30% `queued` and the rest `running`; the run
is `running` until every task instance is terminal, then `success`, or
`failed` when one failed.  conf {"fail": true} makes one task fail on its
first try (conf "fail" may also name the task, "fail_tries" sets how many
tries fail); its downstream tasks end `upstream_failed`.  Runs of a paused
DAG stay `queued` until the DAG is unpaused.
"""
import base64
import copy
import hashlib
import json
import threading
import uuid

from .util import DAY, iso_off, midnight, ts

TERMINAL_TI = ("success", "failed", "skipped", "upstream_failed", "removed")
RUN_STATES = ("queued", "running", "success", "failed")

DEFAULT_SETTINGS = {
    "delay_ms": 0,
    "delays": [],            # [{"path_prefix", "ms"}]
    "run_ms": 300,
    "token_ttl": 3600,
    "expired_status": 401,
    "max_page_size": 100,
    "fail_next": [],         # [{"path_prefix", "status", "count", "retry_after", "method", "close"}]
    "require_logical_date": True,
    "log_page_lines": 50,
    "stream_line_ms": 5,
}

USERS = {
    "admin": {"password": "admin", "role": "Admin", "first_name": "Admin", "last_name": "User",
              "email": "admin@example.com"},
    "viewer": {"password": "viewer", "role": "Viewer", "first_name": "Viewer", "last_name": "User",
               "email": "viewer@example.com"},
}
WRITE_ROLES = ("Admin", "Op", "User")

SEED_EPOCH = ts(2025, 1, 1)
SEED_TASK_MS = 10000  # historic runs: 10 s per level

# --------------------------------------------------------------------------- model


class Task:
    def __init__(self, dag_id, task_id, operator="PythonOperator", upstream=(), pool="default_pool",
                 mapped=0, returns=None, log_lines=60, doc_md=None, retries=0, trigger_rule="all_success",
                 template_fields=(), rendered=None):
        self.dag_id = dag_id
        self.task_id = task_id
        self.operator = operator
        self.upstream = list(upstream)
        self.downstream = []
        self.pool = pool
        self.mapped = mapped
        self.returns = returns
        self.log_lines = log_lines
        self.doc_md = doc_md
        self.retries = retries
        self.trigger_rule = trigger_rule
        self.template_fields = list(template_fields)
        self.rendered = rendered or {}
        self.level = 0

    @property
    def map_indexes(self):
        return list(range(self.mapped)) if self.mapped else [-1]


class Dag:
    def __init__(self, dag_id, description=None, tags=(), owners=("airflow",), schedule=None,
                 timetable_description=None, is_paused=False, doc_md=None, params=None, catchup=False,
                 start_date=None, max_active_runs=16, max_active_tasks=16):
        self.dag_id = dag_id
        self.display_name = dag_id
        self.description = description
        self.tags = list(tags)
        self.owners = list(owners)
        self.schedule = schedule
        self.timetable_description = timetable_description
        self.is_paused = is_paused
        self.doc_md = doc_md
        self.params = params or {}
        self.catchup = catchup
        self.start_date = start_date if start_date is not None else ts(2024, 1, 1)
        self.max_active_runs = max_active_runs
        self.max_active_tasks = max_active_tasks
        self.tasks = {}
        self.versions = []   # list of dicts: id, version_number, created_at
        self.last_parsed = SEED_EPOCH
        self.created_at = SEED_EPOCH
        self.stale = False

    @property
    def fileloc(self):
        return f"/opt/airflow/dags/{self.dag_id}.py"

    @property
    def relative_fileloc(self):
        return f"{self.dag_id}.py"

    def add(self, task):
        self.tasks[task.task_id] = task

    def finish(self):
        for t in self.tasks.values():
            for up in t.upstream:
                self.tasks[up].downstream.append(t.task_id)
        # longest-path levels
        changed = True
        while changed:
            changed = False
            for t in self.tasks.values():
                lvl = max((self.tasks[u].level + 1 for u in t.upstream), default=0)
                if lvl != t.level:
                    t.level = lvl
                    changed = True

    def closure(self, task_ids, direction):
        out = set()
        todo = list(task_ids)
        while todo:
            t = todo.pop()
            for nxt in (self.tasks[t].downstream if direction == "down" else self.tasks[t].upstream):
                if nxt not in out:
                    out.add(nxt)
                    todo.append(nxt)
        return out

    def topo_order(self):
        return sorted(self.tasks.values(), key=lambda t: (t.level, list(self.tasks).index(t.task_id)))

    @property
    def latest_version(self):
        return self.versions[-1]


class View:
    """Derived view of a task instance or a run at one instant."""
    __slots__ = ("state", "queued", "start", "end", "try_number")

    def __init__(self, state, queued=None, start=None, end=None, try_number=0):
        self.state = state
        self.queued = queued
        self.start = start
        self.end = end
        self.try_number = try_number

    def copy(self):
        return View(self.state, self.queued, self.start, self.end, self.try_number)


class TaskInstance:
    def __init__(self, run, task, map_index):
        self.run = run
        self.task = task
        self.task_id = task.task_id
        self.map_index = map_index
        self.id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"ti:{run.dag.dag_id}:{run.run_id}:{task.task_id}:"
                                                      f"{map_index}:{run.id}"))
        self.tries_done = 0
        self.start_at = None
        self.dur = 0.0
        self.outcome = "success"
        self.frozen = None
        self.note = None
        self.history = []   # [View] of previous tries
        self.updated_at = run.queued_at

    def view(self, t):
        if self.frozen is not None:
            return self.frozen
        if self.start_at is None or t < self.start_at:
            return View(None, try_number=self.tries_done)
        if self.dur <= 0:
            return View(self.outcome, None, self.start_at, self.start_at, self.tries_done)
        started = self.start_at + self.dur * 0.3
        ended = self.start_at + self.dur
        n = self.tries_done + 1
        if t < started:
            return View("queued", self.start_at, None, None, n)
        if t < ended:
            return View("running", self.start_at, started, None, n)
        return View(self.outcome, self.start_at, started, ended, n)

    def freeze(self, t, state=None):
        v = self.view(t).copy()
        if state is not None and state != v.state:
            if state in TERMINAL_TI:
                if state in ("success", "failed") and v.start is None:
                    v.start = t
                v.end = t
            elif state == "running":
                v.start = v.start or t
                v.end = None
            elif state is None:
                v.start = v.end = v.queued = None
            v.state = state
        self.frozen = v
        self.updated_at = t
        return v

    def last_change(self, t):
        v = self.view(t)
        return max(x for x in (self.updated_at, v.queued, v.start, v.end) if x is not None and x <= t + 1e-6)


class DagRun:
    def __init__(self, state, dag, run_id, *, logical_date, run_after, queued_at, run_type="manual",
                 triggered_by="rest_api", user=None, conf=None, note=None, data_interval=(None, None),
                 backfill_id=None):
        self.id = state.next_id("dag_run")
        self.dag = dag
        self.run_id = run_id
        self.logical_date = logical_date
        self.run_after = run_after
        self.queued_at = queued_at
        self.started_at = None
        self.pending = False          # waiting for the DAG to be unpaused
        self.run_type = run_type
        self.triggered_by = triggered_by
        self.user = user
        self.conf = conf if conf is not None else {}
        self.note = note
        self.data_interval = data_interval
        self.frozen = None
        self.updated_at = queued_at
        self.backfill_id = backfill_id
        self.version = dag.latest_version
        self.tis = []
        for task in dag.topo_order():
            for mi in task.map_indexes:
                self.tis.append(TaskInstance(self, task, mi))

    def view(self, t):
        if self.frozen is not None:
            return self.frozen
        if self.started_at is None or t < self.started_at:
            return View("queued", self.queued_at)
        views = [ti.view(t) for ti in self.tis]
        if all(v.state in TERMINAL_TI for v in views):
            end = max([v.end for v in views if v.end is not None] or [self.started_at])
            failed = any(v.state in ("failed", "upstream_failed") for v in views)
            return View("failed" if failed else "success", self.queued_at, self.started_at, end)
        return View("running", self.queued_at, self.started_at, None)

    def ti(self, task_id, map_index=-1):
        for ti in self.tis:
            if ti.task_id == task_id and ti.map_index == map_index:
                return ti
        return None

    def last_change(self, t):
        v = self.view(t)
        times = [self.updated_at, v.queued, v.start, v.end] + [ti.last_change(t) for ti in self.tis]
        return max(x for x in times if x is not None and x <= t + 1e-6)


# --------------------------------------------------------------------------- state


class State:
    def __init__(self, secret="fake-airflow-secret"):
        self.lock = threading.RLock()
        self.secret = secret
        self.cli_defaults = {}
        self.reset()

    # ---- ids
    def next_id(self, kind):
        self.counters[kind] = self.counters.get(kind, 0) + 1
        return self.counters[kind]

    # ---- reset / seed
    def reset(self, keep_tokens=True):
        with self.lock:
            self.settings = copy.deepcopy(DEFAULT_SETTINGS)
            self.settings.update(copy.deepcopy(self.cli_defaults))
            self.counters = {}
            self.users = copy.deepcopy(USERS)
            for u in self.users.values():
                u["created_on"] = SEED_EPOCH
                u["changed_on"] = SEED_EPOCH
            self.roles = _seed_roles()
            if not keep_tokens or not hasattr(self, "tokens"):
                self.tokens = {}          # jti -> {"user", "exp"}
                self.revoked = set()
            self.dags = {}
            self.runs = {}                # dag_id -> {run_id: DagRun} (insertion ordered)
            self.variables = {}           # key -> dict
            self.pools = {}
            self.connections = {}
            self.xcoms = {}               # (dag, run, task, map, key) -> {"value", "timestamp"}
            self.xcom_deleted = set()
            self.event_logs = []
            self.import_errors = []
            self.favorites = {}           # user -> set(dag_id)
            self.assets = []
            self.asset_aliases = []
            self.asset_events = []
            self.queued_asset_events = []
            self.backfills = {}
            self.dag_warnings = []
            self.jobs = []
            self.dag_sources = {}
            # Airflow 3.3
            self.task_state_store = {}    # (dag_id, run_id, task_id, map_index) -> {key: entry}
            self.asset_state_store = {}   # asset_id -> {key: entry}
            self.connection_tests = {}    # token -> {"connection_id", "host", "created_at"}
            self._seed()

    def _seed(self):
        for spec in SEED_DAGS:
            self._add_dag(spec)
        # historic runs
        for dag_id, run_type, logical, kwargs in SEED_RUNS:
            self._seed_run(dag_id, run_type, logical, **kwargs)
        self.xcoms[("example_etl", "scheduled__2025-01-01T00:00:00+00:00", "extract", -1, "row_count")] = {
            "value": 1000, "timestamp": ts(2025, 1, 2, 0, 0, 12)}
        for i in range(150):
            self.put_variable(f"var_{i:03d}", f"value_{i:03d}", f"Seeded variable {i}", SEED_EPOCH)
        self.pools["default_pool"] = {"name": "default_pool", "slots": 128, "description": "Default pool",
                                      "include_deferred": False, "team_name": None, "id": self.next_id("pool")}
        self.pools["ml_pool"] = {"name": "ml_pool", "slots": 4, "description": "Pool for model training",
                                 "include_deferred": False, "team_name": None, "id": self.next_id("pool")}
        for c in SEED_CONNECTIONS:
            self.put_connection(dict(c))
        for e in SEED_EVENTS:
            self.add_event(**e)
        self.import_errors = [
            {"import_error_id": self.next_id("import_error"), "timestamp": ts(2025, 1, 10, 9, 15),
             "filename": "/opt/airflow/dags/broken_dag.py", "bundle_name": "dags-folder",
             "stack_trace": "Traceback (most recent call last):\n  File \"/opt/airflow/dags/broken_dag.py\", "
                            "line 3, in <module>\n    import pandas_extra\nModuleNotFoundError: No module "
                            "named 'pandas_extra'\n"},
            {"import_error_id": self.next_id("import_error"), "timestamp": ts(2025, 1, 11, 14, 2),
             "filename": "/opt/airflow/dags/syntax_error_dag.py", "bundle_name": "dags-folder",
             "stack_trace": "  File \"/opt/airflow/dags/syntax_error_dag.py\", line 12\n    with DAG(\"syntax_"
                            "error_dag\" as dag:\n                              ^\nSyntaxError: invalid syntax\n"},
        ]
        self.assets = [
            {"id": 1, "name": "raw_sales", "uri": "s3://data-lake/raw/sales.csv", "group": "asset",
             "extra": {}, "created_at": SEED_EPOCH, "updated_at": SEED_EPOCH,
             "producing": [("example_etl", "load")], "consuming_dags": ["example_ml"], "aliases": [1]},
            {"id": 2, "name": "model_artifact", "uri": "s3://models/latest/model.pkl", "group": "asset",
             "extra": {"format": "pickle"}, "created_at": SEED_EPOCH, "updated_at": SEED_EPOCH,
             "producing": [("example_ml", "deploy_model")], "consuming_dags": [], "aliases": []},
        ]
        self.counters["asset"] = 2
        self.asset_aliases = [{"id": 1, "name": "sales_alias", "group": "asset"}]
        self.asset_events = [
            {"id": self.next_id("asset_event"), "asset_id": 1, "extra": {}, "source_dag_id": "example_etl",
             "source_task_id": "load", "source_run_id": "scheduled__2025-01-03T00:00:00+00:00",
             "source_map_index": -1, "timestamp": ts(2025, 1, 4, 0, 0, 35), "created_dagruns": [],
             "partition_key": None},
        ]
        self.queued_asset_events = [{"asset_id": 1, "dag_id": "example_ml", "created_at": ts(2025, 1, 4, 0, 0, 35)}]
        self.dag_warnings = [
            {"dag_id": "many_tasks", "warning_type": "non-existent pool",
             "message": "Dag 'many_tasks' references non-existent pools: ['missing_pool']",
             "timestamp": ts(2025, 1, 12, 6, 0)},
        ]
        self.jobs = [
            {"id": 1, "dag_id": None, "state": "running", "job_type": "SchedulerJob", "start_date": SEED_EPOCH,
             "end_date": None, "hostname": "fake-scheduler", "executor_class": "LocalExecutor",
             "unixname": "airflow", "alive": True},
            {"id": 2, "dag_id": None, "state": "running", "job_type": "TriggererJob", "start_date": SEED_EPOCH,
             "end_date": None, "hostname": "fake-triggerer", "executor_class": None, "unixname": "airflow",
             "alive": True},
            {"id": 3, "dag_id": None, "state": "running", "job_type": "DagProcessorJob", "start_date": SEED_EPOCH,
             "end_date": None, "hostname": "fake-dag-processor", "executor_class": None, "unixname": "airflow",
             "alive": True},
            {"id": 4, "dag_id": "example_etl", "state": "success", "job_type": "LocalTaskJob",
             "start_date": ts(2025, 1, 2, 0, 0, 5), "end_date": ts(2025, 1, 2, 0, 0, 15),
             "hostname": "fake-worker-1", "executor_class": "LocalExecutor", "unixname": "airflow",
             "alive": False},
        ]
        self.counters["job"] = 4

    def _add_dag(self, spec):
        spec = dict(spec)
        tasks = spec.pop("tasks")
        versions = spec.pop("versions", 1)
        dag = Dag(**spec)
        for t in tasks:
            t = dict(t)
            dag.add(Task(dag.dag_id, **t))
        dag.finish()
        for n in range(1, versions + 1):
            dag.versions.append({
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"dagversion:{dag.dag_id}:{n}")),
                "version_number": n,
                "created_at": SEED_EPOCH + (n - 1) * DAY * 5,
            })
        self.dags[dag.dag_id] = dag
        self.runs[dag.dag_id] = {}
        self.dag_sources[dag.dag_id] = _dag_source(dag)
        return dag

    def _seed_run(self, dag_id, run_type, logical, fail_task=None, conf=None):
        dag = self.dags[dag_id]
        if run_type == "scheduled":
            interval = 7 * DAY if dag.schedule == "@weekly" else DAY
            start, end = logical, logical + interval
            run_after = end
            run_id = f"scheduled__{iso_off(logical)}"
            triggered_by = "timetable"
        else:
            start = end = logical
            run_after = logical
            run_id = f"manual__{iso_off(logical)}"
            triggered_by = "ui"
        run = DagRun(self, dag, run_id, logical_date=logical, run_after=run_after, queued_at=run_after + 1,
                     run_type=run_type, triggered_by=triggered_by, user="admin" if run_type == "manual" else None,
                     conf=conf or {}, data_interval=(start, end))
        self.runs[dag_id][run_id] = run
        self.layout(run, run.tis, run_after + 1, SEED_TASK_MS * _levels(dag),
                    fail_task=fail_task, fail_tries=1, force=True)
        return run

    # ---- progression

    def layout(self, run, tis, t, run_ms, fail_task=None, fail_tries=1, force=False):
        """(Re)schedule `tis` of `run`: queued now, then level by level."""
        dag = run.dag
        run.frozen = None
        run.queued_at = t
        run.updated_at = t
        if dag.is_paused and not force:
            run.pending = True
            run.started_at = None
            for ti in tis:
                ti.frozen = None
                ti.start_at = None
            return
        run.pending = False
        span = run_ms / 1000.0
        run.started_at = t + span
        levels = sorted({ti.task.level for ti in tis})
        slot = span / max(1, len(levels))
        by_level = {lvl: i for i, lvl in enumerate(levels)}
        for ti in tis:
            ti.frozen = None
            ti.start_at = run.started_at + by_level[ti.task.level] * slot
            ti.dur = slot
            ti.outcome = "success"
            ti.updated_at = t
            if fail_task == ti.task_id and ti.tries_done + 1 <= fail_tries:
                ti.outcome = "failed"
        for failed in [ti for ti in tis if ti.outcome == "failed"]:
            fail_end = failed.start_at + failed.dur
            downstream = dag.closure([failed.task_id], "down")
            for ti in tis:
                if ti.task_id in downstream:
                    ti.outcome = "upstream_failed"
                    ti.start_at = fail_end
                    ti.dur = 0.0

    def fail_plan(self, run):
        conf = run.conf if isinstance(run.conf, dict) else {}
        fail = conf.get("fail")
        if not fail:
            return None, 0
        tries = conf.get("fail_tries", 1)
        if not isinstance(tries, int) or isinstance(tries, bool):
            tries = 1
        if isinstance(fail, str) and fail in run.dag.tasks:
            return fail, tries
        order = run.dag.topo_order()
        levels = sorted({t.level for t in order})
        target_level = levels[-2] if len(levels) >= 2 else levels[-1]
        for task in order:
            if task.level == target_level:
                return task.task_id, tries
        return order[-1].task_id, tries

    def schedule(self, run, tis, t):
        fail_task, tries = self.fail_plan(run)
        self.layout(run, tis, t, self.settings["run_ms"], fail_task, tries)

    def clear_tis(self, run, tis, t):
        for ti in tis:
            v = ti.view(t)
            if v.state is not None and v.try_number > 0 and \
                    (not ti.history or ti.history[-1].try_number < v.try_number):
                ti.history.append(v.copy())
            ti.tries_done = max(ti.tries_done, v.try_number)
            ti.frozen = None
        self.schedule(run, tis, t)

    def set_run_state(self, run, state, t):
        if state == "queued":
            todo = [ti for ti in run.tis if ti.view(t).state not in TERMINAL_TI]
            self.schedule(run, todo, t)
            return
        for ti in run.tis:
            v = ti.view(t)
            if v.state in TERMINAL_TI:
                ti.freeze(t)
            elif state == "success":
                ti.freeze(t, "success")
            else:
                ti.freeze(t, "failed" if v.state in ("running", "queued") else "skipped")
        v = run.view(t)
        run.frozen = View(state, run.queued_at, v.start or run.started_at or t, t)
        run.updated_at = t

    def set_ti_state(self, ti, state, t):
        ti.freeze(t, state)
        if state in ("failed", "upstream_failed"):
            downstream = ti.run.dag.closure([ti.task_id], "down")
            for other in ti.run.tis:
                if other.task_id in downstream and other.view(t).state not in TERMINAL_TI + ("running",):
                    other.freeze(t, "upstream_failed")
        if ti.run.frozen is not None:
            ti.run.frozen = None
            if ti.run.started_at is None:
                ti.run.started_at = t
        ti.run.updated_at = t

    def set_paused(self, dag, paused, t):
        if dag.is_paused == paused:
            return
        dag.is_paused = paused
        runs = self.runs.get(dag.dag_id, {}).values()
        if not paused:
            for run in runs:
                if run.pending:
                    self.schedule(run, [ti for ti in run.tis if ti.frozen is None], t)
        else:
            for run in runs:
                if run.frozen is None and run.started_at is not None and t < run.started_at:
                    run.pending = True
                    run.started_at = None
                    for ti in run.tis:
                        if ti.frozen is None:
                            ti.start_at = None

    # ---- runs

    def create_run(self, dag, run_id, *, logical_date, run_after, conf, note, user, t, run_type="manual",
                   triggered_by="rest_api", data_interval=(None, None), backfill_id=None):
        run = DagRun(self, dag, run_id, logical_date=logical_date, run_after=run_after, queued_at=t,
                     run_type=run_type, triggered_by=triggered_by, user=user, conf=conf, note=note,
                     data_interval=data_interval, backfill_id=backfill_id)
        self.runs[dag.dag_id][run_id] = run
        self.schedule(run, run.tis, t)
        return run

    def all_runs(self, dag_id=None):
        if dag_id is None:
            out = []
            for runs in self.runs.values():
                out.extend(runs.values())
            out.sort(key=lambda r: r.id)
            return out
        return list(self.runs.get(dag_id, {}).values())

    def find_run(self, dag_id, run_id):
        return self.runs.get(dag_id, {}).get(run_id)

    def run_with_logical_date(self, dag_id, logical):
        for r in self.runs.get(dag_id, {}).values():
            if r.logical_date is not None and abs(r.logical_date - logical) < 1e-6:
                return r
        return None

    # ---- variables, connections

    def put_variable(self, key, value, description, t, team_name=None):
        existing = self.variables.get(key)
        self.variables[key] = {
            "key": key, "value": value, "description": description, "team_name": team_name,
            "id": existing["id"] if existing else self.next_id("variable"), "updated_at": t,
        }
        return self.variables[key]

    def put_connection(self, c):
        existing = self.connections.get(c["connection_id"])
        base = {"conn_type": "generic", "description": None, "host": None, "login": None, "password": None,
                "port": None, "schema": None, "extra": None, "team_name": None}
        base.update(c)
        base["id"] = existing["id"] if existing else self.next_id("connection")
        self.connections[c["connection_id"]] = base
        return base

    # ---- xcom

    def xcom_entries(self, t, dag_id=None, run_id=None, task_id=None):
        """All XComs (explicit ones + return_value of succeeded task instances)."""
        out = {}
        for run in self.all_runs(None if dag_id in (None, "~") else dag_id):
            if run_id not in (None, "~") and run.run_id != run_id:
                continue
            for ti in run.tis:
                if task_id not in (None, "~") and ti.task_id != task_id:
                    continue
                if ti.task.returns is None:
                    continue
                v = ti.view(t)
                if v.state != "success":
                    continue
                key = (run.dag.dag_id, run.run_id, ti.task_id, ti.map_index, "return_value")
                if key in self.xcom_deleted:
                    continue
                value = ti.task.returns
                if ti.map_index >= 0 and isinstance(value, dict):
                    value = dict(value, map_index=ti.map_index)
                out[key] = {"value": value, "timestamp": v.end}
        for key, x in self.xcoms.items():
            d, r, tk = key[0], key[1], key[2]
            if dag_id not in (None, "~") and d != dag_id:
                continue
            if run_id not in (None, "~") and r != run_id:
                continue
            if task_id not in (None, "~") and tk != task_id:
                continue
            out[key] = x
        return out

    # ---- event log

    def add_event(self, event, when, owner=None, dag_id=None, task_id=None, run_id=None, map_index=None,
                  try_number=None, logical_date=None, extra=None):
        self.event_logs.append({
            "event_log_id": self.next_id("event_log"), "when": when, "event": event, "owner": owner,
            "dag_id": dag_id, "task_id": task_id, "run_id": run_id, "map_index": map_index,
            "try_number": try_number, "logical_date": logical_date, "extra": extra,
        })

    # ---- bulk seeding for pagination tests

    def seed(self, spec, t):
        if "variables" in spec:
            n = int(spec["variables"])
            width = max(3, len(str(max(n - 1, 0))))
            self.variables = {}
            self.counters["variable"] = 0
            for i in range(n):
                self.put_variable(f"var_{i:0{width}d}", f"value_{i:0{width}d}", f"Seeded variable {i}",
                                  SEED_EPOCH)
        if "connections" in spec:
            n = int(spec["connections"])
            for i in range(n):
                self.put_connection({"connection_id": f"conn_{i:03d}", "conn_type": "http",
                                     "host": f"host{i}.example.com", "port": 443})
        if "pools" in spec:
            n = int(spec["pools"])
            for i in range(n):
                self.pools[f"pool_{i:03d}"] = {"name": f"pool_{i:03d}", "slots": 8, "description": None,
                                               "include_deferred": False, "team_name": None,
                                               "id": self.next_id("pool")}
        if "event_logs" in spec:
            for i in range(int(spec["event_logs"])):
                self.add_event("seeded_event", SEED_EPOCH + i, owner="admin", dag_id="example_etl")
        runs_spec = spec.get("dag_runs")
        if runs_spec:
            if isinstance(runs_spec, dict):
                runs_spec = [runs_spec]
            for rs in runs_spec:
                dag = self.dags.get(rs.get("dag_id", "example_etl"))
                if dag is None:
                    raise KeyError(rs.get("dag_id"))
                count = int(rs.get("count", 100))
                failed_every = int(rs.get("failed_every", 0) or 0)
                if rs.get("replace", True):
                    self.runs[dag.dag_id] = {}
                first = ts(2024, 1, 1)
                for i in range(count):
                    logical = first + i * DAY
                    fail_task = None
                    if failed_every and (i + 1) % failed_every == 0:
                        fail_task = self.fail_plan_for_dag(dag)
                    self._seed_run(dag.dag_id, "scheduled", logical, fail_task=fail_task)

    def fail_plan_for_dag(self, dag):
        order = dag.topo_order()
        levels = sorted({t.level for t in order})
        target = levels[-2] if len(levels) >= 2 else levels[-1]
        return next(t.task_id for t in order if t.level == target)

    # ---- misc

    def next_schedule(self, dag, t):
        if dag.schedule not in ("@daily", "@weekly"):
            return None
        interval = 7 * DAY if dag.schedule == "@weekly" else DAY
        start = midnight(t) - interval
        return {"logical_date": start, "start": start, "end": start + interval, "run_after": start + interval}

    def pool_usage(self, name, t):
        usage = {"running": 0, "queued": 0, "scheduled": 0, "deferred": 0}
        for run in self.all_runs():
            if run.frozen is not None and run.frozen.state in ("success", "failed"):
                continue
            for ti in run.tis:
                if ti.task.pool != name:
                    continue
                s = ti.view(t).state
                if s in usage:
                    usage[s] += 1
        return usage

    def file_token(self, dag):
        sig = hashlib.sha1((self.secret + dag.fileloc).encode()).hexdigest()[:27]
        body = base64.urlsafe_b64encode(json.dumps(dag.fileloc).encode()).decode().rstrip("=")
        return f"{body}.{sig}"

    def dag_for_file_token(self, token):
        for dag in self.dags.values():
            if self.file_token(dag) == token:
                return dag
        return None


def _levels(dag):
    return len({t.level for t in dag.tasks.values()})


def _dag_source(dag):
    lines = [
        '"""' + (dag.description or dag.dag_id) + '"""',
        "from __future__ import annotations",
        "",
        "import pendulum",
        "",
        "from airflow.sdk import DAG",
        "from airflow.providers.standard.operators.python import PythonOperator",
        "from airflow.providers.standard.operators.bash import BashOperator",
        "from airflow.providers.standard.operators.empty import EmptyOperator",
        "",
        "with DAG(",
        f'    dag_id="{dag.dag_id}",',
        f"    schedule={dag.schedule!r},",
        '    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),',
        "    catchup=False,",
        f"    tags={dag.tags!r},",
        f"    is_paused_upon_creation={dag.is_paused!r},",
        ") as dag:",
    ]
    for task in dag.topo_order():
        if task.operator == "BashOperator":
            lines.append(f'    {task.task_id} = BashOperator(task_id="{task.task_id}", bash_command="echo {task.task_id}")')
        elif task.operator == "EmptyOperator":
            lines.append(f'    {task.task_id} = EmptyOperator(task_id="{task.task_id}")')
        elif task.mapped:
            lines.append(f'    {task.task_id} = PythonOperator.partial(task_id="{task.task_id}", '
                         f'python_callable=lambda x: x).expand(op_args=[[i] for i in range({task.mapped})])')
        else:
            lines.append(f'    {task.task_id} = PythonOperator(task_id="{task.task_id}", '
                         f'python_callable=lambda: {task.returns!r})')
    for task in dag.topo_order():
        for down in task.downstream:
            lines.append(f"    {task.task_id} >> {down}")
    return "\n".join(lines) + "\n"


def _seed_roles():
    read = [("can_read", r) for r in ("DAGs", "DAG Runs", "Task Instances", "Variables", "Pools",
                                       "Connections", "Configurations", "Audit Logs", "ImportError", "XComs",
                                       "Task Logs", "Plugins", "Providers", "Datasets")]
    write = [(a, r) for a in ("can_create", "can_edit", "can_delete")
             for r in ("DAGs", "DAG Runs", "Task Instances", "Variables", "Pools", "Connections", "XComs")]
    admin_only = [(a, r) for a in ("can_read", "can_create", "can_edit", "can_delete")
                  for r in ("Users", "Roles", "Permissions")]
    return {
        "Admin": read + write + admin_only,
        "Op": read + write,
        "User": read + [p for p in write if p[1] in ("DAGs", "DAG Runs", "Task Instances")],
        "Viewer": list(read),
        "Public": [],
    }


# --------------------------------------------------------------------------- seed data

def _t(task_id, **kw):
    d = {"task_id": task_id}
    d.update(kw)
    return d


SEED_DAGS = [
    {
        "dag_id": "example_etl", "description": "Daily extract, transform and load of the sales data",
        "tags": ["etl", "daily"], "owners": ["data-eng"], "schedule": "@daily",
        "timetable_description": "At 00:00", "versions": 2,
        "doc_md": "# Sales ETL\nExtracts sales, cleans them and loads the warehouse.",
        "params": {"batch_size": 500},
        "tasks": [
            _t("extract", returns={"rows": 1000}, log_lines=60),
            _t("transform", upstream=["extract"], returns={"rows": 980, "rejected": 20}, log_lines=120),
            _t("load", upstream=["transform"], returns="loaded 980 rows", log_lines=40),
        ],
    },
    {
        "dag_id": "example_ml", "description": "Weekly model training pipeline", "tags": ["ml"],
        "owners": ["ml-team"], "schedule": "@weekly", "timetable_description": "At 00:00, only on Sunday",
        "tasks": [
            _t("prepare_data", returns={"samples": 50000}),
            _t("train_model", upstream=["prepare_data"], pool="ml_pool", returns={"accuracy": 0.93},
               log_lines=150),
            _t("evaluate_model", upstream=["train_model"], returns={"f1": 0.91}),
            _t("deploy_model", upstream=["evaluate_model"], operator="BashOperator", returns="deployed",
               template_fields=["bash_command", "env", "cwd"],
               rendered={"bash_command": "deploy --model latest", "env": None, "cwd": None}),
        ],
    },
    {
        "dag_id": "tutorial", "description": "A simple tutorial DAG", "tags": ["example"],
        "owners": ["airflow"], "schedule": "@daily", "timetable_description": "At 00:00",
        "doc_md": "This is a documentation placed anywhere",
        "tasks": [
            _t("print_date", operator="BashOperator", returns=None, template_fields=["bash_command", "env", "cwd"],
               rendered={"bash_command": "date", "env": None, "cwd": None}, log_lines=30),
            _t("sleep", operator="BashOperator", upstream=["print_date"], returns=None, retries=3,
               template_fields=["bash_command", "env", "cwd"],
               rendered={"bash_command": "sleep 5", "env": None, "cwd": None}, log_lines=30),
            _t("templated", operator="BashOperator", upstream=["print_date"], returns=None,
               template_fields=["bash_command", "env", "cwd"],
               rendered={"bash_command": "echo 2025-01-09", "env": None, "cwd": None}, log_lines=45),
        ],
    },
    {
        "dag_id": "paused_dag", "description": "A DAG that is paused", "tags": [], "owners": ["airflow"],
        "schedule": None, "is_paused": True,
        "tasks": [_t("noop", operator="EmptyOperator", returns=None, log_lines=10)],
    },
    {
        "dag_id": "many_tasks", "description": "Fan-out/fan-in with a mapped task", "tags": ["example", "stress"],
        "owners": ["airflow"], "schedule": None,
        "tasks": [
            _t("start", operator="EmptyOperator", returns=None, log_lines=10),
            _t("fan_out", upstream=["start"], mapped=3, returns={"chunk": "done"}, log_lines=25),
            _t("join", upstream=["fan_out"], returns={"chunks": 3}),
            _t("report", upstream=["join"], returns="report.html", log_lines=55),
            _t("end", upstream=["report"], operator="EmptyOperator", returns=None, log_lines=10),
        ],
    },
]

SEED_RUNS = [
    ("example_etl", "scheduled", ts(2025, 1, 1), {}),
    ("example_etl", "scheduled", ts(2025, 1, 2), {"fail_task": "transform"}),
    ("example_etl", "scheduled", ts(2025, 1, 3), {}),
    ("example_ml", "scheduled", ts(2025, 1, 5), {}),
    ("tutorial", "scheduled", ts(2025, 1, 9), {}),
    ("tutorial", "manual", ts(2025, 1, 10, 12, 0), {"conf": {"note": "manual check"}}),
    ("paused_dag", "manual", ts(2024, 12, 1), {}),
    ("many_tasks", "manual", ts(2025, 1, 15, 8, 30), {}),
]

SEED_CONNECTIONS = [
    {"connection_id": "postgres_default", "conn_type": "postgres", "host": "postgres", "login": "airflow",
     "password": "airflow", "schema": "airflow", "port": 5432, "description": "Metadata database"},
    {"connection_id": "http_default", "conn_type": "http", "host": "https://www.httpbin.org/",
     "description": None},
    {"connection_id": "aws_default", "conn_type": "aws", "login": "AKIAFAKEFAKEFAKE", "password": "fake-secret",
     "extra": json.dumps({"region_name": "eu-west-1"})},
]

SEED_EVENTS = [
    {"event": "cli_scheduler", "when": ts(2025, 1, 1, 0, 0, 1), "owner": "airflow"},
    {"event": "paused", "when": ts(2025, 1, 1, 0, 5), "owner": "admin", "dag_id": "paused_dag",
     "extra": json.dumps({"is_paused": True})},
    {"event": "trigger_dag_run", "when": ts(2025, 1, 10, 12, 0), "owner": "admin", "dag_id": "tutorial",
     "run_id": "manual__2025-01-10T12:00:00+00:00"},
    {"event": "running", "when": ts(2025, 1, 2, 0, 0, 5), "owner": "data-eng", "dag_id": "example_etl",
     "task_id": "extract", "run_id": "scheduled__2025-01-01T00:00:00+00:00", "map_index": -1, "try_number": 1,
     "logical_date": ts(2025, 1, 1)},
    {"event": "success", "when": ts(2025, 1, 2, 0, 0, 15), "owner": "data-eng", "dag_id": "example_etl",
     "task_id": "extract", "run_id": "scheduled__2025-01-01T00:00:00+00:00", "map_index": -1, "try_number": 1,
     "logical_date": ts(2025, 1, 1)},
    {"event": "failed", "when": ts(2025, 1, 3, 0, 0, 25), "owner": "data-eng", "dag_id": "example_etl",
     "task_id": "transform", "run_id": "scheduled__2025-01-02T00:00:00+00:00", "map_index": -1,
     "try_number": 1, "logical_date": ts(2025, 1, 2)},
]


def task_log_lines(ti, try_number, view):
    """Deterministic log lines of one try: [(timestamp, level, logger, event)].
    A running try has only part of its lines; an unstarted one none."""
    task = ti.task
    if view.start is None:
        return []
    total = task.log_lines
    start = view.start
    end = view.end if view.end is not None else None
    state = view.state
    lines = [
        (start, "info", "airflow.task", f"Executing <Task({task.operator}): {task.task_id}> on run "
                                         f"{ti.run.run_id}"),
        (start, "info", "airflow.task", f"Running on host fake-worker-1, try {try_number} of "
                                         f"{task.retries + 1}"),
    ]
    body = total - 4
    span = (end - start) if end is not None else 1.0
    for i in range(body):
        msg = f"[{task.task_id}] processing step {i + 1:03d}/{body:03d}"
        if ti.map_index >= 0:
            msg += f" (map_index={ti.map_index})"
        lines.append((start + span * (i + 1) / (body + 2), "info", "airflow.task.operators", msg))
    if state == "failed":
        lines.append((end, "error", "airflow.task", "Task failed with exception: ValueError('simulated "
                                                    "failure requested by conf')"))
        lines.append((end, "info", "airflow.task", f"Marking task as FAILED. dag_id={ti.run.dag.dag_id}, "
                                                   f"task_id={task.task_id}, run_id={ti.run.run_id}"))
    elif end is not None:
        lines.append((end, "info", "airflow.task", f"Done. Returned value was: {task.returns!r}"))
        lines.append((end, "info", "airflow.task", f"Marking task as {str(state).upper()}. "
                                                   f"dag_id={ti.run.dag.dag_id}, task_id={task.task_id}, "
                                                   f"run_id={ti.run.run_id}"))
    else:
        # still running: only the lines "written" so far
        return lines[: max(2, len(lines) // 2)]
    return lines

