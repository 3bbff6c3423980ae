-- The request pipeline (airflow.request) against the stateful fake Airflow: every
-- mode (one call, concurrent pages, a stream, a raw request) gets the same
-- credentials, retries, renewal and hooks.
local airflow = require("airflow")
local env = require("env")

local url = env.need("FAKE_AIRFLOW_URL")

local function token_requests()
  return env.fake_get("/_fake/stats").token_requests
end

local function requests_to(fragment)
  local out = {}
  for _, r in ipairs(env.fake_get("/_fake/requests")) do
    if r.path:find(fragment, 1, true) then out[#out + 1] = r end
  end
  return out
end

-- A client whose on_response hook runs `after_first` once, when the first page of
-- the collection has arrived: the fault then hits the concurrent pages only.
local function client_with(after_first, extra)
  local retries = {}
  local fired = false
  local opts = {
    base_url = url, username = "admin", password = "admin",
    page_size = 50, -- pages of 50: several of them concurrent
    sleep = function() end,
    on_retry = function(info) retries[#retries + 1] = info end,
    on_response = function(info)
      if not fired and info.url:find("/variables", 1, true) then
        fired = true
        after_first()
      end
    end,
  }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return assert(airflow.new(opts)), retries
end

local function expect_all_variables(items, n)
  assert.equal(n, #items)
  for i, item in ipairs(items) do assert.equal(("var_%03d"):format(i - 1), item.key) end
end

before_each(function() env.fake_control("/_fake/reset") end)

describe("collect's concurrent pages", function()
  it("are retried after a 503, every item once and in order, on_retry fired for each", function()
    env.fake_control("/_fake/seed", '{"variables": 300}')
    local c, retries = client_with(function()
      env.fake_control("/_fake/config",
        '{"fail_next": [{"path_prefix": "/api/v2/variables", "status": 503, "count": 3}]}')
    end)
    local items, total = assert(c:collect("variable.get_variables", {}, { concurrency = 4 }))
    assert.equal(300, total)
    expect_all_variables(items, 300)
    assert.equal(3, #retries)
    for _, r in ipairs(retries) do
      assert.equal(503, r.status)
      assert.equal(1, r.attempt)
      assert.matches("offset=", r.url, 1, true)
    end
    -- 6 pages of 50, and the 3 refused ones again
    local statuses = {}
    for _, r in ipairs(requests_to("/api/v2/variables")) do
      statuses[r.status] = (statuses[r.status] or 0) + 1
    end
    assert.same({ [200] = 6, [503] = 3 }, statuses)
  end)

  it("are renewed once after a 401, every item once and in order", function()
    env.fake_control("/_fake/seed", '{"variables": 300}')
    local c, retries = client_with(function()
      env.fake_control("/_fake/config", '{"revoke_tokens": true}')
    end)
    local before = token_requests()
    local items = assert(c:collect("variable.get_variables", {}, { concurrency = 4 }))
    expect_all_variables(items, 300)
    assert.equal(2, token_requests() - before) -- the first login and one renewal
    assert.equal(0, #retries)
    local refused = 0
    for _, r in ipairs(requests_to("/api/v2/variables")) do
      if r.status == 401 then refused = refused + 1 end
    end
    assert.equal(5, refused) -- every concurrent page was refused once, then replayed
  end)

  it("report a page that keeps failing as the error, after the retries", function()
    env.fake_control("/_fake/seed", '{"variables": 300}')
    local c, retries = client_with(function()
      env.fake_control("/_fake/config",
        '{"fail_next": [{"path_prefix": "/api/v2/variables", "status": 503, "count": 100}]}')
    end, { retries = 1 })
    local items, err = c:collect("variable.get_variables", {}, { concurrency = 4 })
    assert.is_nil(items)
    assert.equal(503, err.status)
    assert.equal(5, #retries) -- each of the 5 pages retried once
  end)
end)

describe("a log stream", function()
  local function finished_run(c)
    local run = assert(c.dag_run:trigger_dag_run{ dag_id = "example_etl" })
    assert(c:wait_dag_run("example_etl", run.dag_run_id, { interval = 0.05, timeout = 30 }))
    return { dag_id = "example_etl", dag_run_id = run.dag_run_id, task_id = "extract", try_number = 1 }
  end

  it("is renewed after a 401 and read to its end", function()
    local c = assert(airflow.new{ base_url = url, username = "admin", password = "admin" })
    local args = finished_run(c)
    local before = token_requests()
    env.fake_control("/_fake/config", '{"revoke_tokens": true}')
    local lines = {}
    local n = assert(c:follow_log(args, function(l) lines[#lines + 1] = l end))
    assert.equal(n, #lines)
    assert.is_true(n > 0)
    assert.equal(1, token_requests() - before)
    local statuses = {}
    for _, r in ipairs(requests_to("/logs/")) do statuses[#statuses + 1] = r.status end
    assert.same({ 401, 200 }, statuses)
  end)

  it("is retried after a 503, with on_retry and the hooks", function()
    local retries, responses = {}, {}
    local c = assert(airflow.new{ base_url = url, username = "admin", password = "admin", sleep = function() end,
      on_retry = function(info) retries[#retries + 1] = info end,
      on_response = function(info) responses[#responses + 1] = info end })
    local args = finished_run(c)
    env.fake_control("/_fake/config", '{"fail_next": [{"path_prefix": "/api/v2/dags/example_etl/dagRuns/", '
      .. '"status": 503, "count": 1}]}')
    responses = {}
    local n = assert(c:follow_log(args, function() end))
    assert.is_true(n > 0)
    assert.equal(1, #retries)
    assert.equal(503, retries[1].status)
    assert.equal(2, #responses)
    assert.equal(503, responses[1].status)
    assert.equal(200, responses[2].status)
  end)
end)

describe("a custom transport", function()
  it("missing request is refused at airflow.new, naming it", function()
    local ok, err = pcall(airflow.new, { base_url = url, transport = { set_auth = function() end } })
    assert.is_false(ok)
    assert.matches("transport lacks request", err, 1, true)
  end)

  it("missing both required methods is refused naming both", function()
    local ok, err = pcall(airflow.new, { base_url = url, transport = {} })
    assert.is_false(ok)
    assert.matches("transport lacks request and set_auth", err, 1, true)
  end)

  it("with a request that is not a function is refused", function()
    local ok, err = pcall(airflow.new, { base_url = url,
      transport = { request = function() end, set_auth = function() end, stream = true } })
    assert.is_false(ok)
    assert.matches("'stream' must be a function", err, 1, true)
  end)
end)

describe("client:request (a raw request)", function()
  local function client(extra)
    local opts = { base_url = url, username = "admin", password = "admin" }
    for k, v in pairs(extra or {}) do opts[k] = v end
    return assert(airflow.new(opts))
  end

  it("sends a path with credentials and a query, and decodes the answer", function()
    local page = assert(client():request{ path = "/api/v2/variables", query = { limit = 3, offset = 1 } })
    assert.equal(3, #page.variables)
    assert.equal("var_001", page.variables[1].key)
  end)

  it("gives a NotFound error for a missing path", function()
    local v, err = client():request{ path = "/api/v2/no/such/path" }
    assert.is_nil(v)
    assert.equal("NotFound", err.kind)
    assert.equal(404, err.status)
  end)

  it("sends a table body as JSON and a full URL on the same origin", function()
    local c = client()
    local made = assert(c:request{ method = "POST", url = url .. "/api/v2/variables",
      body = { key = "raw_var", value = "raw" } })
    assert.equal("raw_var", made.key)
    assert.equal("raw", assert(c.variable:get_variable("raw_var")).value)
  end)

  it("is renewed after a 401 and retried after a 503 like any call", function()
    local retries = {}
    local c = client{ sleep = function() end, on_retry = function(i) retries[#retries + 1] = i end }
    assert(c:request{ path = "/api/v2/version" })
    assert(c:request{ path = "/api/v2/dags" }) -- logs in
    local before = token_requests()
    env.fake_control("/_fake/config", '{"revoke_tokens": true, '
      .. '"fail_next": [{"path_prefix": "/api/v2/variables", "status": 503, "count": 1}]}')
    assert(c:request{ path = "/api/v2/variables" })
    assert.equal(1, token_requests() - before)
    assert.equal(1, #retries)
  end)

  it("refuses bad specs before any I/O", function()
    local c = client()
    assert.has_error(function() c:request{ path = "api/v2/dags" } end,
      "airflow: request: 'path' must be a string starting with '/' (or give 'url')")
    assert.has_error(function() c:request{ url = "http://elsewhere.example/api/v2/dags" } end)
    assert.has_error(function() c:request{ path = "/x", headers = { ["X-A"] = "a\r\nB: c" } } end)
    assert.has_error(function() c:request{ path = "/x", headers = { Authorization = "Bearer x" } } end)
    assert.has_error(function() c:request{ path = "/x", verb = "GET" } end)
  end)
end)

describe("mistakes", function()
  it("raise at the caller's line, from a method, call, prepare or a raw request", function()
    local c = assert(airflow.new{ base_url = url, token = "t" })
    local line = debug.getinfo(1, "l").currentline
    local e1 = select(2, pcall(function() c.dag:get_dag{ dag_idd = "x" } end))
    local e2 = select(2, pcall(function() c:call("dag.get_dag", { dag_idd = "x" }) end))
    local e3 = select(2, pcall(function() c:prepare("dag.get_dag", { dag_idd = "x" }) end))
    local e4 = select(2, pcall(function() c:request{ path = "x" } end))
    for i, e in ipairs{ e1, e2, e3, e4 } do
      assert.matches("request_spec.lua:" .. (line + i) .. ": airflow: ", e, 1, true)
    end
  end)

  it("are found by prepare, which sends nothing", function()
    local c = assert(airflow.new{ base_url = url, token = "t" })
    local req = assert(c:prepare("variable.post_variable", { body = { key = "k", value = "v" } }))
    assert.equal("POST", req.method)
    assert.equal(url .. "/api/v2/variables", req.url)
    assert.equal("application/json", req.headers.Accept)
    assert.equal("application/json", req.headers["Content-Type"])
    assert.same({ key = "k", value = "v" }, require("airflow.json").decode(req.body))
    assert.equal(0, env.fake_get("/_fake/stats").requests)
  end)
end)

describe("read_only", function()
  it("refuses every verb but GET before any I/O, naming the operation, and lets GETs through", function()
    local c = assert(airflow.new{ base_url = url, username = "admin", password = "admin", read_only = true })
    local line = debug.getinfo(1, "l").currentline
    local e1 = select(2, pcall(function() c.dag_run:trigger_dag_run{ dag_id = "example_etl" } end))
    local e2 = select(2, pcall(function() c:update("dag.patch_dag", { dag_id = "tutorial" }, { is_paused = true }) end))
    local e3 = select(2, pcall(function() c:request{ method = "DELETE", path = "/api/v2/variables/var_001" } end))
    local e4 = select(2, pcall(function() c:prepare("variable.post_variable", { body = { key = "k" } }) end))
    assert.matches("request_spec.lua:" .. (line + 1) .. ": airflow: dag_run.trigger_dag_run: refused: the client is "
      .. "read-only (read_only = true) and this request is a POST", e1, 1, true)
    assert.matches("request_spec.lua:" .. (line + 2) .. ": airflow: dag.patch_dag: refused", e2, 1, true)
    assert.matches("airflow: request: refused: the client is read-only (read_only = true) and this request is a "
      .. "DELETE", e3, 1, true)
    assert.matches("variable.post_variable: refused", e4, 1, true)
    assert.equal(0, env.fake_get("/_fake/stats").requests) -- not even /auth/token
    assert.equal("var_001", assert(c.variable:get_variable("var_001")).key)
    assert.equal(150, assert(c:request{ path = "/api/v2/variables", query = { limit = 1 } }).total_entries)
    local fresh = assert(airflow.new{ base_url = url, token = "t", read_only = true })
    assert.has_error(function() fresh.variable:post_variable{ body = { key = "k", value = "v" } } end)
    assert.equal(3, env.fake_get("/_fake/stats").requests) -- the token and the two GETs
    assert.has_error(function() airflow.new{ base_url = url, read_only = "yes" } end,
      "airflow: option 'read_only' must be a boolean, got string")
  end)
end)

describe("helpers", function()
  it("are the same whichever module is required first", function()
    local Client = require("airflow.client")
    local c = assert(Client.new{ base_url = url, username = "admin", password = "admin" })
    for _, name in ipairs{ "pages", "each", "collect", "collect_request", "wait_dag_run", "follow_log", "update",
      "state_store", "test_connection", "update_dag_runs", "delete_dag_runs", "clear_dag_runs" } do
      assert.is_function(c[name], name)
    end
  end)
end)

describe("bodyless requests", function()
  it("carry no Content-Type", function()
    local c = assert(airflow.new{ base_url = url, username = "admin", password = "admin" })
    c:request{ method = "POST", path = "/api/v2/bodyless" }
    c:request{ method = "PUT", path = "/api/v2/bodyless" }
    local seen = requests_to("/api/v2/bodyless")
    assert.equal(2, #seen)
    for _, r in ipairs(seen) do assert.is_nil(r.headers["content-type"], r.method) end
  end)
end)
