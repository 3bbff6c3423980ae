-- client:clear_failed and `airflow-lua clear-failed`: the failed task instances of a run
-- cleared so they run again, on Airflow 3 and 2, against the stateful fake Airflow.
local env = require("env")
local json = require("airflow.json")

local url = env.need("FAKE_AIRFLOW_URL")

before_each(function() env.fake_control("/_fake/reset") end)

-- A run of example_etl that ended failed (the fake fails runs whose conf says so).
local function failed_run(c)
  local run = assert(c.dag_run:trigger_dag_run{ dag_id = "example_etl", body = { conf = { fail = true } } })
  run = assert(c:wait_dag_run("example_etl", run.dag_run_id, { timeout = 30, interval = 0.05 }))
  assert.equal("failed", run.state)
  return run.dag_run_id
end

-- Airflow's only_failed clears the failed and the upstream_failed task instances.
local function failed_tasks(c, run_id)
  local tis = assert(c:collect("task_instance.get_task_instances",
    { dag_id = "example_etl", dag_run_id = run_id, state = { "failed", "upstream_failed" } }))
  return #tis
end

-- The bodies of the clearTaskInstances requests the fake saw.
local function clear_bodies()
  local out = {}
  for _, r in ipairs(env.fake_get("/_fake/requests")) do
    if r.path:find("/clearTaskInstances", 1, true) then out[#out + 1] = json.decode(r.body) end
  end
  return out
end

describe("client:clear_failed", function()
  it("lists without clearing on a dry run, then clears the failed task instances of a run (v2)", function()
    local c = env.client(url)
    local run_id = failed_run(c)
    local failed = failed_tasks(c, run_id)
    assert.is_true(failed > 0)

    local would = assert(c:clear_failed("example_etl", { dag_run_id = run_id, dry_run = true }))
    assert.equal(failed, #would)
    assert.equal(failed, failed_tasks(c, run_id)) -- nothing changed

    local cleared = assert(c:clear_failed("example_etl", { dag_run_id = run_id }))
    assert.equal(failed, #cleared)
    assert.equal(0, failed_tasks(c, run_id))
    local bodies = clear_bodies()
    assert.equal(2, #bodies)
    assert.same({ true, true, run_id }, { bodies[1].only_failed, bodies[1].dry_run, bodies[1].dag_run_id })
    assert.same({ true, false, run_id }, { bodies[2].only_failed, bodies[2].dry_run, bodies[2].dag_run_id })
  end)

  it("uses Airflow 2's operation on a v1 client", function()
    local v2 = env.client(url)
    local run_id = failed_run(v2)
    local v1 = env.client(url, { api = "v1" })
    local cleared = assert(v1:clear_failed("example_etl", { dag_run_id = run_id }))
    assert.is_true(#cleared > 0)
    assert.equal(0, failed_tasks(v2, run_id))
  end)

  it("raises on a programming mistake, before any request", function()
    local c = env.client(url)
    assert.has_error(function() c:clear_failed(42) end, "airflow: clear_failed expects a DAG id (string) first")
    assert.has_error(function() c:clear_failed("example_etl", "yes") end,
      "airflow: clear_failed: options must be a table")
    assert.same({}, clear_bodies())
  end)
end)

describe("airflow-lua clear-failed", function()
  it("is a dry run without --yes, and clears with it", function()
    local c = env.client(url)
    local run_id = failed_run(c)
    local failed = failed_tasks(c, run_id)

    local out, err, rc = env.cli{ "clear-failed", "example_etl", run_id, "-o", "ndjson" }
    assert.equal(0, rc, err)
    local lines = 0
    for _ in out:gmatch("[^\n]+") do lines = lines + 1 end
    assert.equal(failed, lines)
    assert.matches("would be cleared (a dry run: add --yes to clear them)", err, 1, true)
    assert.equal(failed, failed_tasks(c, run_id))

    out, err, rc = env.cli{ "clear-failed", "example_etl", run_id, "--yes" }
    assert.equal(0, rc, err .. out)
    assert.matches(failed .. " failed task instance(s) cleared", err, 1, true)
    assert.equal(0, failed_tasks(c, run_id))
  end)

  it("is a usage error without a DAG (exit 2)", function()
    local _, err, rc = env.cli{ "clear-failed" }
    assert.equal(2, rc)
    assert.matches("usage: airflow-lua clear-failed DAG", err, 1, true)
  end)
end)
