-- The helpers for what Airflow 3.3 added: state stores, connection tests, DAG runs in
-- bulk and clearing runs; against the fake Airflow as 3.3 (and as 3.2.1 for the gate).
local env = require("env")

env.need("FAKE_AIRFLOW_URL") -- fails loudly without the servers
local url32 = env.need("FAKE_AIRFLOW_32_URL")

local client = env.client

local TI = { dag_id = "example_etl", dag_run_id = "scheduled__2025-01-01T00:00:00+00:00", task_id = "extract" }
-- keys with what a path must carry exactly: a slash, percent, spaces, unicode, dot-dot
local KEYS = { "plain", "dir/sub/leaf", "50% done", "with space", "ünïcode", "../up", "a%2Fb" }

before_each(function()
  env.fake_control("/_fake/reset")
  env.fake_control("/_fake/reset", nil, url32)
end)

describe("client:state_store", function()
  it("sets, gets, lists, deletes and clears a task instance's keys exactly as given", function()
    local store = client():state_store(TI)
    for i, key in ipairs(KEYS) do assert.is_true(store:set(key, { n = i })) end
    for i, key in ipairs(KEYS) do
      local value, entry = assert(store:get(key))
      assert.same({ n = i }, value)
      assert.equal(key, entry.key)
    end
    local listed = {}
    for _, e in ipairs(assert(store:list())) do listed[e.key] = e.value.n end
    for i, key in ipairs(KEYS) do assert.equal(i, listed[key]) end
    assert.is_true(store:delete("50% done"))
    local none, err = store:get("50% done")
    assert.is_nil(none)
    assert.equal("NotFound", err.kind)
    assert.is_true(store:clear())
    assert.same({}, assert(store:list()))
  end)

  it("lists every key across pages", function()
    local store = client():state_store{ asset_id = 1 }
    for i = 1, 130 do assert(store:set(("k%03d"):format(i), i)) end
    local entries = assert(store:list())
    assert.equal(130, #entries)
    local paged = 0
    for _, r in ipairs(env.fake_get("/_fake/requests")) do
      if r.method == "GET" and r.path == "/api/v2/assets/1/state-store" then paged = paged + 1 end
    end
    assert.equal(2, paged) -- 100 a page
  end)

  it("keeps stores apart: another task, an asset", function()
    local c = client()
    assert(c:state_store(TI):set("k", 1))
    local other = c:state_store{ dag_id = TI.dag_id, dag_run_id = TI.dag_run_id, task_id = "load" }
    assert.equal("NotFound", select(2, other:get("k")).kind)
    assert(c:state_store{ asset_id = 1 }:set("k", "asset"))
    assert.equal(1, (c:state_store(TI):get("k")))
    assert.equal("asset", (c:state_store{ asset_id = 1 }:get("k")))
  end)

  it("refuses bad scopes and keys before any I/O", function()
    local c = client()
    assert.has_error(function() c:state_store{ dag_id = "x" } end, "airflow: state_store: 'dag_run_id' is required")
    assert.has_error(function() c:state_store{ asset_id = "1" } end,
      "airflow: state_store: 'asset_id' must be a number, got string")
    assert.has_error(function() c:state_store{ asset_id = 1, task_id = "t" } end)
    assert.has_error(function() c:state_store(TI):get("") end)
    assert.has_error(function() c:state_store(TI):set("k") end)
    assert.has_error(function() c:state_store{ asset_id = 1 }:set("k", 1, { expires_at = "default" }) end)
    assert.equal(0, #env.fake_get("/_fake/requests"))
  end)

  it("is refused on a 3.2.1 server, naming both versions", function()
    local store = client(url32):state_store(TI)
    local ok, err = pcall(store.get, store, "k")
    assert.is_false(ok)
    assert.matches("needs Airflow ≥ 3.3.0; the server is 3.2.1", err, 1, true)
  end)
end)

describe("client:test_connection", function()
  it("enqueues a test and polls it to its result", function()
    local c = client()
    local polls = 0
    local ok = assert(c:test_connection({ connection_id = "web", conn_type = "http", host = "example.com" },
      { interval = 0.05, on_poll = function() polls = polls + 1 end }))
    assert.equal("success", ok.state)
    assert.is_true(polls >= 2) -- queued or running first, then the result
    local failed = assert(c:test_connection({ connection_id = "ko", conn_type = "http", host = "unreachable.example" },
      { interval = 0.05 }))
    assert.equal("failed", failed.state)
    local tokened = 0
    for _, r in ipairs(env.fake_get("/_fake/requests")) do
      if r.method == "GET" and r.headers["airflow-connection-test-token"] then tokened = tokened + 1 end
    end
    assert.is_true(tokened >= 2)
  end)

  it("gives up with a Timeout error", function()
    env.fake_control("/_fake/config", '{"run_ms": 60000}')
    local test, err = client():test_connection({ connection_id = "slow", conn_type = "http", host = "example.com" },
      { timeout = 0.2, interval = 0.05 })
    assert.is_nil(test)
    assert.equal("Timeout", err.kind)
    assert.matches("slow", tostring(err), 1, true)
  end)
end)

describe("DAG runs in bulk", function()
  it("updates and deletes many runs in one call each", function()
    local c = client()
    local runs = assert(c.dag_run:get_dag_runs{ dag_id = "example_etl", limit = 2, offset = 0 }).dag_runs
    local ids = { runs[1].dag_run_id, runs[2].dag_run_id }
    local upd = assert(c:update_dag_runs("example_etl", { { dag_run_id = ids[1], note = "seen" },
      { dag_run_id = ids[2], note = "seen too" } }, { update_mask = { "note" } }))
    assert.same(ids, upd.success)
    assert.equal("seen", assert(c.dag_run:get_dag_run{ dag_id = "example_etl", dag_run_id = ids[1] }).note)
    local del = assert(c:delete_dag_runs("example_etl", ids))
    assert.same(ids, del.success)
    assert.equal("NotFound", select(2, c.dag_run:get_dag_run{ dag_id = "example_etl", dag_run_id = ids[2] }).kind)
    local bulk = 0
    for _, r in ipairs(env.fake_get("/_fake/requests")) do
      if r.method == "PATCH" and r.path == "/api/v2/dags/example_etl/dagRuns" then bulk = bulk + 1 end
    end
    assert.equal(2, bulk)
  end)

  it("refuses bad lists before any I/O", function()
    local c = client()
    assert.has_error(function() c:delete_dag_runs("example_etl", {}) end)
    assert.has_error(function() c:delete_dag_runs("example_etl", { 1 }) end)
    assert.has_error(function() c:update_dag_runs(nil, { { dag_run_id = "x" } }) end)
    assert.equal(0, #env.fake_get("/_fake/requests"))
  end)

  it("clears runs: a dry run by default, then for real", function()
    local c = client()
    local dry = assert(c:clear_dag_runs("example_etl", { only_failed = true }))
    assert.equal(2, dry.total_entries)
    local done = assert(c:clear_dag_runs("example_etl", { only_failed = true, dry_run = false }))
    assert.equal(3, #done.dag_runs)
  end)
end)

describe("the CLI's daily-job commands for 3.3", function()
  -- stdout and exit code of the CLI as admin
  local function cli(argv)
    local out, _, rc = env.cli(argv)
    return out, rc
  end

  local ti = { TI.dag_id, TI.dag_run_id, TI.task_id }
  local function words(...)
    return { "state", ... }
  end

  it("state sets, gets, lists, deletes and clears keys of a task instance and of an asset", function()
    local _, rc = cli(words("set", ti[1], ti[2], ti[3], "dir/50% x", '{"n": 1}'))
    assert.equal(0, rc)
    local out = cli(words("get", ti[1], ti[2], ti[3], "dir/50% x", "-o", "json"))
    assert.equal('{"n":1}\n', out)
    out = cli(words("list", ti[1], ti[2], ti[3], "-o", "json"))
    assert.equal("dir/50% x", require("airflow.json").decode(out)[1].key)
    assert.equal(0, select(2, cli(words("delete", ti[1], ti[2], ti[3], "dir/50% x"))))
    assert.equal(1, select(2, cli(words("get", ti[1], ti[2], ti[3], "dir/50% x"))))
    assert.equal(0, select(2, cli{ "state", "set", "--asset", "1", "k", '"v"' }))
    assert.equal("v\n", (cli{ "state", "get", "--asset", "1", "k", "-o", "json" })) -- a string prints as text
    assert.equal(0, select(2, cli{ "state", "clear", "--asset", "1" }))
    assert.equal(2, select(2, cli{ "state", "get", ti[1] }))
  end)

  it("test-connection prints the result, exit 1 unless it succeeded", function()
    local out, rc = cli{ "test-connection", "--body", '{"connection_id": "w", "conn_type": "http", "host": "e.com"}',
      "--interval", "0.05", "-o", "json" }
    assert.equal(0, rc)
    assert.equal("success", require("airflow.json").decode(out).state)
    local _, bad = cli{ "test-connection", "--interval", "0.05", "--body",
      '{"connection_id": "w", "conn_type": "http", "host": "invalid.example"}' }
    assert.equal(1, bad)
  end)
end)
