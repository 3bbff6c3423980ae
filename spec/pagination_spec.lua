-- Pagination modes against the fake Airflow: cursor pages on a 3.3 server (no
-- total_entries), offset pages on a 3.2.1 one, the page size asked for, and forcing a
-- mode; through client:collect, client:each and the CLI's --all.
local json = require("airflow.json")
local env = require("env")

local url = env.need("FAKE_AIRFLOW_URL")
local url32 = env.need("FAKE_AIRFLOW_32_URL")

local client = env.client

-- The query strings of the requests a fake saw to a path.
local function queries(path, base)
  local out = {}
  for _, r in ipairs(env.fake_get("/_fake/requests", base)) do
    if r.path == path then out[#out + 1] = r.query end
  end
  return out
end

local RUNS = "/api/v2/dags/example_etl/dagRuns"

-- Every run id once, in the order the server lists them (logical date, as seeded).
local function expect_runs(items, n)
  assert.equal(n, #items)
  local seen = {}
  for i, run in ipairs(items) do
    assert.is_nil(seen[run.dag_run_id], "run seen twice: " .. run.dag_run_id)
    seen[run.dag_run_id] = true
    if i > 1 then assert.is_true(items[i - 1].logical_date < run.logical_date, "out of order at " .. i) end
  end
end

before_each(function()
  env.fake_control("/_fake/reset")
  env.fake_control("/_fake/reset", nil, url32)
end)

describe("cursor pagination on a 3.3 server", function()
  it("collects 10,000 runs by next_cursor, each once and in order, without total_entries", function()
    env.fake_control("/_fake/seed", '{"dag_runs": {"dag_id": "example_etl", "count": 10000}}')
    local items, total = assert(client():collect("dag_run.get_dag_runs", { dag_id = "example_etl" }))
    assert.is_nil(total)
    expect_runs(items, 10000)
    local qs = queries(RUNS)
    assert.equal(100, #qs) -- 100 a page
    assert.equal("cursor=&limit=100", qs[1])
    for _, q in ipairs(qs) do assert.is_nil(q:find("offset=", 1, true)) end
  end)

  it("walks 10,000 runs with each, each once and in order", function()
    env.fake_control("/_fake/seed", '{"dag_runs": {"dag_id": "example_etl", "count": 10000}}')
    local items = {}
    for run, err in client():each("dag_run.get_dag_runs", { dag_id = "example_etl" }) do
      assert.is_nil(err)
      items[#items + 1] = run
    end
    expect_runs(items, 10000)
    assert.equal(100, #queries(RUNS))
  end)

  it("stops on an empty page", function()
    env.fake_control("/_fake/seed", '{"dag_runs": {"dag_id": "example_etl", "count": 0}}')
    local items = assert(client():collect("dag_run.get_dag_runs", { dag_id = "example_etl" }))
    assert.same({}, items)
    assert.equal(1, #queries(RUNS))
  end)

  it("pages by offset when told to, with total_entries and concurrent pages", function()
    env.fake_control("/_fake/seed", '{"dag_runs": {"dag_id": "example_etl", "count": 250}}')
    local items, total = assert(client():collect("dag_run.get_dag_runs", { dag_id = "example_etl" },
      { mode = "offset" }))
    assert.equal(250, total)
    expect_runs(items, 250)
    for _, q in ipairs(queries(RUNS)) do assert.is_nil(q:find("cursor=", 1, true)) end
    -- and an offset in the arguments asks for offset mode too
    local some = assert(client():collect("dag_run.get_dag_runs", { dag_id = "example_etl", offset = 200 }))
    assert.equal(50, #some)
  end)

  it("refuses a mode the operation cannot page by", function()
    assert.has_error(function() client():collect("variable.get_variables", {}, { mode = "cursor" }) end,
      "airflow: variable.get_variables has no cursor")
    assert.has_error(function() client():collect("variable.get_variables", {}, { mode = "pages" }) end,
      "airflow: paging mode must be \"cursor\" or \"offset\", got pages")
  end)
end)

describe("pagination on a 3.2.1 server", function()
  it("pages get_dag_runs by offset, since the server has no cursor", function()
    env.fake_control("/_fake/seed", '{"dag_runs": {"dag_id": "example_etl", "count": 250}}', url32)
    local items, total = assert(client(url32):collect("dag_run.get_dag_runs", { dag_id = "example_etl" }))
    assert.equal(250, total)
    expect_runs(items, 250)
    local qs = queries(RUNS, url32)
    assert.same({ "limit=100&offset=0", "limit=100&offset=100", "limit=100&offset=200" }, qs)
  end)

  it("carries on by offset when a server without the gate ignores the cursor", function()
    env.fake_control("/_fake/seed", '{"dag_runs": {"dag_id": "example_etl", "count": 250}}', url32)
    local n = 0
    for _, err in client(url32, { airflow_version = false }):each("dag_run.get_dag_runs", { dag_id = "example_etl" }) do
      assert.is_nil(err)
      n = n + 1
    end
    assert.equal(250, n)
  end)
end)

describe("the page size", function()
  it("asks for 100 items a page: 250 items in 3 requests", function()
    env.fake_control("/_fake/seed", '{"variables": 250}')
    local items = assert(client():collect("variable.get_variables", {}))
    assert.equal(250, #items)
    local qs = queries("/api/v2/variables")
    assert.equal(3, #qs)
    for _, q in ipairs(qs) do assert.matches("limit=100", q, 1, true) end
  end)

  it("is configurable per client and per call, and the caller's limit wins", function()
    env.fake_control("/_fake/seed", '{"variables": 250}')
    assert.equal(250, #assert(client(url, { page_size = 50 }):collect("variable.get_variables", {})))
    assert.equal(5, #queries("/api/v2/variables"))
    env.fake_control("/_fake/reset")
    env.fake_control("/_fake/seed", '{"variables": 250}')
    assert.equal(250, #assert(client():collect("variable.get_variables", {}, { page_size = 25 })))
    assert.equal(10, #queries("/api/v2/variables"))
    env.fake_control("/_fake/reset")
    env.fake_control("/_fake/seed", '{"variables": 250}')
    assert.equal(250, #assert(client():collect("variable.get_variables", { limit = 125 }, { page_size = 25 })))
    assert.equal(3, #queries("/api/v2/variables")) -- 125 asked, 100 given (the server's cap)
  end)
end)

describe("the CLI's --all", function()
  it("follows cursors over 10,000 runs: each once, in order", function()
    env.fake_control("/_fake/seed", '{"dag_runs": {"dag_id": "example_etl", "count": 10000}}')
    local out, err, rc = env.cli{ "--output", "json", "dag_run", "get_dag_runs", "dag_id=example_etl", "--all" }
    assert.equal(0, rc, err)
    local doc = assert(json.decode(out))
    expect_runs(doc.dag_runs, 10000)
    assert.equal(100, #queries(RUNS))
  end)
end)
