"""The Python contenders of bench/run: STAND-INS for the official client.

The official Python client (`apache-airflow-client`) cannot be installed here (PyPI is
unreachable), so this measures what it does underneath, with the libraries it is
built on (both present here):

  json      urllib3 (one pooled keep-alive connection, as the client's RESTClientObject)
            + bytes.decode + json.loads: the transport floor of the official client.
  pydantic  the same, then what the generated client does on top: `@validate_call` on
            the API method's arguments, and `Model.from_dict` into pydantic v2 models
            (VersionInfo; DAGRunCollectionResponse of DAGRunResponse of
            DagVersionResponse: datetime fields, enums, Optional[...]), written for this
            bench after the generator's pattern (every field through obj.get, nested
            models through their own from_dict, then model_validate). These models are
            NOT the official package; its ApiClient/ApiResponse layers are left out, so
            the real client would be somewhat slower still.

  python3 bench/pyclient.py {json|pydantic} {version|runs} BASE_URL MAX_N MAX_SECS [CA_FILE]

Prints "n=<requests> secs=<elapsed>" after one untimed warm-up request.
"""
import json
import sys
import time
from datetime import datetime
from enum import Enum
from typing import Any, Dict, List, Optional, Union
from urllib.parse import urlsplit

import urllib3

variant, what, base, max_n, max_secs = sys.argv[1:6]
ca = sys.argv[6] if len(sys.argv) > 6 and sys.argv[6] not in ("", "-") else None
max_n, max_secs = int(max_n), float(max_secs)

if variant == "pydantic":
    from pydantic import BaseModel, ConfigDict, StrictFloat, StrictInt, StrictStr, validate_call

    class DagRunState(str, Enum):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCESS = "success"
        FAILED = "failed"

    class DagRunType(str, Enum):
        BACKFILL = "backfill"
        SCHEDULED = "scheduled"
        MANUAL = "manual"
        ASSET_TRIGGERED = "asset_triggered"

    class DagRunTriggeredByType(str, Enum):
        CLI = "cli"
        OPERATOR = "operator"
        REST_API = "rest_api"
        UI = "ui"
        TEST = "test"
        TIMETABLE = "timetable"
        ASSET = "asset"
        BACKFILL = "backfill"

    CONFIG = ConfigDict(validate_by_name=True, validate_by_alias=True, validate_assignment=True,
                        protected_namespaces=())

    # from_dict as the generator writes it: every field through obj.get, nested
    # models through their own from_dict, then model_validate.
    class VersionInfo(BaseModel):
        model_config = CONFIG
        git_version: Optional[StrictStr] = None
        version: StrictStr

        @classmethod
        def from_dict(cls, obj):
            return cls.model_validate({"git_version": obj.get("git_version"), "version": obj.get("version")})

    class DagVersionResponse(BaseModel):
        model_config = CONFIG
        bundle_name: Optional[StrictStr] = None
        bundle_url: Optional[StrictStr] = None
        bundle_version: Optional[StrictStr] = None
        created_at: datetime
        dag_display_name: StrictStr
        dag_id: StrictStr
        id: StrictStr
        version_number: StrictInt

        @classmethod
        def from_dict(cls, obj):
            return cls.model_validate({k: obj.get(k) for k in (
                "bundle_name", "bundle_url", "bundle_version", "created_at", "dag_display_name",
                "dag_id", "id", "version_number")})

    RUN_FIELDS = ("bundle_version", "conf", "dag_display_name", "dag_id", "dag_run_id",
                  "data_interval_end", "data_interval_start", "duration", "end_date",
                  "last_scheduling_decision", "logical_date", "note", "partition_key", "queued_at",
                  "run_after", "run_type", "start_date", "state", "triggered_by", "triggering_user_name")

    class DAGRunResponse(BaseModel):
        model_config = CONFIG
        bundle_version: Optional[StrictStr] = None
        conf: Optional[Dict[str, Any]] = None
        dag_display_name: StrictStr
        dag_id: StrictStr
        dag_run_id: StrictStr
        dag_versions: List[DagVersionResponse]
        data_interval_end: Optional[datetime] = None
        data_interval_start: Optional[datetime] = None
        duration: Optional[Union[StrictFloat, StrictInt]] = None
        end_date: Optional[datetime] = None
        last_scheduling_decision: Optional[datetime] = None
        logical_date: Optional[datetime] = None
        note: Optional[StrictStr] = None
        partition_key: Optional[StrictStr] = None
        queued_at: Optional[datetime] = None
        run_after: datetime
        run_type: DagRunType
        start_date: Optional[datetime] = None
        state: DagRunState
        triggered_by: Optional[DagRunTriggeredByType] = None
        triggering_user_name: Optional[StrictStr] = None

        @classmethod
        def from_dict(cls, obj):
            d = {k: obj.get(k) for k in RUN_FIELDS}
            d["dag_versions"] = ([DagVersionResponse.from_dict(i) for i in obj["dag_versions"]]
                                 if obj.get("dag_versions") is not None else None)
            return cls.model_validate(d)

    class DAGRunCollectionResponse(BaseModel):
        model_config = CONFIG
        dag_runs: List[DAGRunResponse]
        next_cursor: Optional[StrictStr] = None
        previous_cursor: Optional[StrictStr] = None
        total_entries: Optional[StrictInt] = None

        @classmethod
        def from_dict(cls, obj):
            return cls.model_validate({
                "dag_runs": ([DAGRunResponse.from_dict(i) for i in obj["dag_runs"]]
                             if obj.get("dag_runs") is not None else None),
                "next_cursor": obj.get("next_cursor"),
                "previous_cursor": obj.get("previous_cursor"),
                "total_entries": obj.get("total_entries")})

    MODEL = VersionInfo if what == "version" else DAGRunCollectionResponse

    def convert(obj):
        return MODEL.from_dict(obj)

    # the generated API methods validate their arguments on every call
    def with_args(fn):
        @validate_call
        def get_dag_runs(dag_id: StrictStr, limit: Optional[StrictInt] = None):
            return fn()

        @validate_call
        def get_version():
            return fn()

        return (lambda: get_version()) if what == "version" else (lambda: get_dag_runs("bench", limit=100))
else:
    def convert(obj):
        return obj

    def with_args(fn):
        return fn

u = urlsplit(base)
kw = {"maxsize": 1, "retries": False}
if u.scheme == "https":
    pool = urllib3.HTTPSConnectionPool(u.hostname, u.port, ca_certs=ca, cert_reqs="CERT_REQUIRED", **kw)
else:
    pool = urllib3.HTTPConnectionPool(u.hostname, u.port, **kw)
path = "/api/v2/version" if what == "version" else "/api/v2/dags/bench/dagRuns?limit=100"
headers = {"Authorization": "Bearer x", "Accept": "application/json", "User-Agent": "bench"}


def fetch():
    r = pool.request("GET", path, headers=headers, preload_content=True)
    if r.status != 200:
        raise SystemExit("HTTP %d" % r.status)
    v = convert(json.loads(r.data.decode("utf-8")))
    if what == "version":
        assert (v["version"] if isinstance(v, dict) else v.version) == "3.2.1"
    else:
        assert len(v["dag_runs"] if isinstance(v, dict) else v.dag_runs) == 100


call = with_args(fetch)
call()  # warm-up: opens the connection
n, t0 = 0, time.perf_counter()
t = t0
while n < max_n and t - t0 < max_secs:
    call()
    n += 1
    t = time.perf_counter()
print("n=%d secs=%.6f" % (n, t - t0))
