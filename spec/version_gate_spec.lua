-- The version gate: a v2 operation or parameter the server is known to lack is refused
-- before any I/O, naming both versions; against the fake Airflow as 3.2.1
-- (FAKE_AIRFLOW_32_URL) and as 3.3 (FAKE_AIRFLOW_URL).
local airflow = require("airflow")
local versions = require("airflow.versions")
local env = require("env")

local url = env.need("FAKE_AIRFLOW_URL")
local url32 = env.need("FAKE_AIRFLOW_32_URL")

local client = env.client

-- The API requests a fake saw since its reset, as "METHOD path" lines.
local function seen(base)
  local out = {}
  for _, r in ipairs(env.fake_get("/_fake/requests", base)) do
    if r.path ~= "/auth/token" then out[#out + 1] = r.method .. " " .. r.path end
  end
  return out
end

local STORE = { dag_id = "example_etl", dag_run_id = "scheduled__2025-01-01T00:00:00+00:00", task_id = "extract",
  key = "k" }

before_each(function()
  env.fake_control("/_fake/reset")
  env.fake_control("/_fake/reset", nil, url32)
end)

describe("airflow.versions", function()
  it("parses versions leniently", function()
    assert.same({ 3, 1, 0 }, { table.unpack(versions.parse("3.1.0rc1"), 1, 3) })
    assert.same({ 3, 3, 0 }, { table.unpack(versions.parse("3.3.0.dev0"), 1, 3) })
    assert.same({ 3, 2, 1 }, { table.unpack(versions.parse("3.2.1+astro.1"), 1, 3) })
    assert.same({ 3, 2, 0 }, { table.unpack(versions.parse("3.2"), 1, 3) })
    assert.is_nil(versions.parse("banana"))
    assert.is_nil(versions.parse(nil))
  end)

  it("knows a thing is missing only up to the newest document older than it", function()
    assert.equal("3.2.1", table.concat(versions.last_without("v2", "3.3.0"), ".", 1, 3))
    assert.equal("3.1.3", table.concat(versions.last_without("v2", "3.1.6"), ".", 1, 3))
    assert.is_nil(versions.last_without("v2", "3.0.0"))
    assert.is_true(versions.lacks("v2", versions.parse("3.2.1"), "3.3.0"))
    assert.is_false(versions.lacks("v2", versions.parse("3.2.2"), "3.3.0"))
    assert.is_false(versions.lacks("v2", versions.parse("3.3.0rc1"), "3.3.0"))
  end)
end)

describe("the version gate", function()
  it("refuses a 3.3 operation on a stated 3.2.1 server, naming both versions, before any I/O", function()
    local c = client(url32, { airflow_version = "3.2.1" })
    local ok, err = pcall(c.task_state_store.get_task_state_store, c.task_state_store, STORE)
    assert.is_false(ok)
    assert.matches("task_state_store.get_task_state_store needs Airflow ≥ 3.3.0; the server is 3.2.1", err, 1, true)
    assert.same({}, seen(url32))
  end)

  it("refuses a 3.3 parameter of an older operation, naming it", function()
    local c = client(url32, { airflow_version = "3.2.1" })
    local ok, err = pcall(c.dag_run.get_dag_runs, c.dag_run, { dag_id = "example_etl", cursor = "" })
    assert.is_false(ok)
    assert.matches("dag_run.get_dag_runs: parameter 'cursor' needs Airflow ≥ 3.3.0; the server is 3.2.1", err, 1, true)
    assert.same({}, seen(url32))
  end)

  it("learns the version once from /api/v2/version, through the hooks, then refuses", function()
    local hooked = {}
    local c = client(url32, { on_request = function(info) hooked[#hooked + 1] = info.url end })
    for _ = 1, 2 do
      assert.has_error(function() c.task_state_store:get_task_state_store(STORE) end)
    end
    assert.same({ "GET /api/v2/version" }, seen(url32))
    assert.same({ url32 .. "/api/v2/version" }, hooked)
  end)

  it("takes the version from the API probe of api = auto, asking no second time", function()
    local c = client(url32, { api = "auto" })
    assert.has_error(function() c.task_state_store:get_task_state_store(STORE) end)
    assert.same({ "GET /api/v2/version" }, seen(url32))
  end)

  it("asks nothing for what every documented version has", function()
    local c = client(url32)
    assert(c.dag_run:get_dag_runs{ dag_id = "example_etl", limit = 1 })
    assert.same({ "GET /api/v2/dags/example_etl/dagRuns" }, seen(url32))
  end)

  it("allows what a 3.3 server has", function()
    local c = client(url)
    local page = assert(c.dag_run:get_dag_runs{ dag_id = "example_etl", cursor = "", limit = 2 })
    assert.is_nil(page.total_entries)
    local _, err = c.task_state_store:get_task_state_store(STORE)
    assert.equal("NotFound", err.kind) -- it reached the server
    assert.same({ "GET /api/v2/version", "GET /api/v2/dags/example_etl/dagRuns",
      "GET /api/v2/dags/example_etl/dagRuns/scheduled__2025-01-01T00:00:00+00:00/taskInstances/extract/state-store/k" },
      seen(url))
  end)

  it("allows a version no document describes (3.2.2 may have backports)", function()
    local c = client(url32, { airflow_version = "3.2.2" })
    assert(c:prepare("task_instance.get_task_instances", { dag_id = "~", dag_run_id = "~", cursor = "" }))
  end)

  it("is off with airflow_version = false, for an unparsable version, and for v1", function()
    for _, v in ipairs{ false, "banana" } do
      local _, err = client(url32, { airflow_version = v }).task_state_store:get_task_state_store(STORE)
      assert.equal("NotFound", err.kind)
    end
    local v1 = client(url32, { api = "v1" })
    assert(v1:prepare("dag_run.get_dag_runs", { dag_id = "example_etl" }))
  end)

  it("lets calls through when the version probe fails", function()
    env.fake_control("/_fake/config", '{"fail_next": [{"path_prefix": "/api/v2/version", "status": 500, "count": 5}]}',
      url32)
    local _, err = client(url32).task_state_store:get_task_state_store(STORE)
    assert.equal("NotFound", err.kind)
  end)

  it("refuses a bad airflow_version option at once", function()
    assert.has_error(function() airflow.new{ base_url = url, airflow_version = 3.2 } end,
      "airflow: option 'airflow_version' must be a version string (\"3.2.1\") or false, got number")
  end)
end)
