-- The Lua client against the echo server: request building, encoding, errors,
-- retries and hooks. (Flows against the fake Airflow are in workflows_spec.lua.)
local airflow = require("airflow")
local cjson = require("cjson")
local env = require("env")

local base = env.need("TEST_SERVER_URL")

-- A client whose every request lands on /echo, which answers with what it received.
local function echo_client(opts)
  opts = opts or {}
  opts.base_url = base .. "/echo"
  opts.token = opts.token or "t0ken-value"
  opts.sleep = opts.sleep or function() end
  return assert(airflow.new(opts))
end

local TRICKY = {
  "manual__2024-01-01T00:00:00+00:00", "a/b", "../x", "with space", "?&#", "ü", "100%",
  "a+b=c;d", "日本",
}

describe("path and query encoding", function()
  local c = echo_client()

  for _, id in ipairs(TRICKY) do
    it("delivers " .. id .. " decoded exactly, in path and query", function()
      local echo = assert(c.dag_run:get_dag_runs{ dag_id = id, run_id_pattern = id })
      local segs = echo.path_decoded
      assert.same({ "", "echo", "api", "v2", "dags", id, "dagRuns" }, segs)
      local found
      for _, kv in ipairs(echo.query) do
        if kv[1] == "run_id_pattern" then found = kv[2] end
      end
      assert.equal(id, found)
    end)
  end

  it("decodes JSON integers as Lua integers", function()
    local echo = assert(c.dag:get_dags{ limit = 5 })
    assert.equal("integer", math.type(echo.body_length))
  end)

  it("repeats exploded arrays and writes integral floats without a point", function()
    local echo = assert(c.dag_run:get_dag_runs{ dag_id = "d", state = { "failed", "queued" }, limit = 5.0 })
    assert.matches("state=failed&state=queued", echo.query_raw, 1, true)
    assert.matches("limit=5", echo.query_raw, 1, true)
    assert.is_nil(echo.query_raw:find("5.0", 1, true))
  end)

  it("comma-joins explode:false arrays (v1 update_mask)", function()
    local v1 = echo_client{ api = "v1", token = nil, username = "u", password = "p" }
    local echo = assert(v1.dag:patch_dag{ dag_id = "d", update_mask = { "is_paused", "description" },
      body = { is_paused = true } })
    assert.matches("update_mask=is_paused,description", echo.query_raw, 1, true)
  end)

  it("writes booleans as true/false and epoch numbers as RFC 3339 UTC", function()
    local echo = assert(c.dag_run:get_dag_runs{ dag_id = "d", start_date_gte = 1704067200 })
    assert.matches("start_date_gte=2024-01-01T00%3A00%3A00Z", echo.query_raw, 1, true)
    echo = assert(c.dag:get_dags{ paused = false })
    assert.matches("paused=false", echo.query_raw, 1, true)
  end)

  it("accepts positional path parameters in path order", function()
    local echo = assert(c.task_instance:get_task_instance("etl", "run 1", "extract"))
    assert.same({ "", "echo", "api", "v2", "dags", "etl", "dagRuns", "run 1", "taskInstances", "extract" },
      echo.path_decoded)
  end)
end)

describe("request bodies", function()
  local c = echo_client()

  it("sends JSON with its content type, [] for empty arrays the schema calls arrays", function()
    local echo = assert(c.dag_run:get_list_dag_runs_batch{ dag_id = "~",
      body = { dag_ids = {}, states = { "failed" } } })
    assert.equal("application/json", echo.headers["content-type"])
    assert.matches('"dag_ids":[]', echo.body, 1, true)
    assert.same({ "failed" }, cjson.decode(echo.body).states)
  end)

  it("adds logical_date = null to an Airflow 3 trigger body that has none", function()
    local echo = assert(c.dag_run:trigger_dag_run{ dag_id = "etl", body = { conf = { a = 1 } } })
    local sent = cjson.decode(echo.body)
    assert.equal(cjson.null, sent.logical_date)
    assert.same({ a = 1 }, sent.conf)
    echo = assert(c.dag_run:trigger_dag_run{ dag_id = "etl" })
    assert.equal('{"logical_date":null}', echo.body)
  end)

  it("writes epoch numbers in date-time body fields as RFC 3339", function()
    local echo = assert(c.dag_run:trigger_dag_run{ dag_id = "etl", body = { logical_date = 1704067200 } })
    assert.equal("2024-01-01T00:00:00Z", cjson.decode(echo.body).logical_date)
  end)

  it("does not change the caller's tables", function()
    local body = { dag_ids = {} }
    c.dag_run:get_list_dag_runs_batch{ dag_id = "~", body = body }
    assert.same({ dag_ids = {} }, body)
    assert.is_nil(getmetatable(body.dag_ids))
  end)
end)

describe("bad arguments raise before any I/O", function()
  local c = echo_client()

  it("names the operation and suggests the closest parameter", function()
    assert.has_error(function() c.dag:get_dag{ dag_idd = "x" } end,
      "airflow: dag.get_dag: unknown parameter 'dag_idd' (did you mean 'dag_id'?)")
  end)

  it("names a missing required parameter", function()
    assert.has_error(function() c.dag:get_dag{} end,
      "airflow: dag.get_dag: missing required path parameter 'dag_id'")
    assert.has_error(function() c.backfill:list_backfills{} end,
      "airflow: backfill.list_backfills: missing required query parameter 'dag_id'")
  end)

  it("names a wrong type and what was expected", function()
    assert.has_error(function() c.dag:get_dags{ limit = "ten" } end,
      "airflow: dag.get_dags: parameter 'limit' expects integer, got string")
    assert.has_error(function() c.dag:get_dags{ limit = 1.5 } end,
      "airflow: dag.get_dags: parameter 'limit' expects integer, got a non-integral or non-finite number")
    assert.has_error(function() c.dag:get_dags{ paused = "yes" } end,
      "airflow: dag.get_dags: parameter 'paused' expects boolean, got string")
  end)

  it("checks enum values", function()
    local ok, err = pcall(c.task_instance.get_log, c.task_instance, { dag_id = "d", dag_run_id = "r",
      task_id = "t", try_number = 1, accept = "text/html" })
    assert.is_false(ok)
    assert.matches("parameter 'accept' must be one of: application/json", err, 1, true)
  end)

  it("suggests the closest resource and operation", function()
    assert.has_error(function() return c.dagrun end,
      "airflow: no resource or method 'dagrun' (did you mean 'dag_run'?)")
    assert.has_error(function() return c.dag_run.get_dagruns end,
      "airflow: resource 'dag_run' of the v2 API has no operation 'get_dagruns' (did you mean 'get_dag_runs'?)")
  end)

  it("says when an operation belongs to the other API version", function()
    local v1 = echo_client{ api = "v1" }
    assert.has_error(function() return v1.backfill end,
      "airflow: resource 'backfill' exists only in the v2 API, and this client uses v1")
  end)

  it("explains a call with '.' instead of ':'", function()
    assert.has_error(function() c.dag.get_dag("etl") end,
      "airflow: call operations with ':' (client.dag:get_dag(...)), not '.'")
  end)

  it("rejects unknown client options and credentials in the URL", function()
    assert.has_error(function() airflow.new{ base_url = base, timout = 1 } end,
      "airflow: unknown option 'timout' (did you mean 'timeout'?)")
    assert.has_error(function() airflow.new{ base_url = "http://u:p@host" } end,
      "airflow: base_url must not contain credentials: use username/password or token")
  end)
end)

describe("errors", function()
  it("reads a FastAPI detail, keeps status and kind, and prints well", function()
    local c = assert(airflow.new{ base_url = base .. "/status/404?body=" ..
      "%7B%22detail%22%3A%22The%20Dag%20with%20ID%3A%20%60x%60%20was%20not%20found%22%7D%26ctype%3Dapplication/json",
      token = "secret-token-value" })
    local raw = c.transport:request{ url = base .. "/status/404?ctype=application/json&body=" ..
      "%7B%22detail%22%3A%22gone%22%7D" }
    local err = select(2, c:decode(raw, "GET", "http://x/api/v2/dags/x"))
    assert.equal(404, err.status)
    assert.equal("NotFound", err.kind)
    assert.equal("gone", err.detail)
    assert.equal("GET http://x/api/v2/dags/x: 404 NotFound: gone", tostring(err))
  end)

  it("turns a validation list into 'field: message'", function()
    local Error = airflow.Error
    local err = Error.from_response({ status = 422, headers = { ["content-type"] = "application/json" },
      body = '{"detail":[{"type":"missing","loc":["body","logical_date"],"msg":"Field required",'
        .. '"input":{"password":"pw-123"}}]}' }, "POST", "u")
    assert.equal("Unprocessable", err.kind)
    assert.equal("body.logical_date: Field required", err.detail)
    assert.is_nil(tostring(err):find("pw-123", 1, true))
    assert.is_nil(err.body:find("pw-123", 1, true))
  end)

  it("reads a v1 problem document", function()
    local err = airflow.Error.from_response({ status = 409, headers = {},
      body = '{"type":"x","title":"Conflict","status":409,"detail":"DAGRun exists"}' }, "POST", "u")
    assert.equal("AlreadyExists", err.kind)
    assert.equal("Conflict", err.title)
    assert.equal("DAGRun exists", err.detail)
  end)

  it("gives a useful error for an HTML page from a proxy, and for an empty body", function()
    local c = echo_client()
    local res = c.transport:request{ url = base .. "/html-error" }
    local _, err = c:decode(res, "GET", "u")
    assert.equal(502, err.status)
    assert.equal("Unknown", err.kind)
    assert.is_string(err.detail)
    assert.is_nil(err.detail:find("<", 1, true))
    _, err = c:decode({ status = 500, headers = {}, body = "" }, "GET", "u")
    assert.equal("GET u: 500 Unknown", tostring(err))
  end)

  it("reports invalid JSON as an error, not a crash", function()
    local c = echo_client()
    local res = c.transport:request{ url = base .. "/invalid-json" }
    local v, err = c:decode(res, "GET", "u")
    assert.is_nil(v)
    assert.equal("invalid response", err.title)
  end)

  it("returns transport failures as nil, err of kind Transport/Timeout", function()
    local c = assert(airflow.new{ base_url = base .. "/delay/2000?x=", timeout = 0.2, retries = 0, token = "t" })
    local v, err = c.version:get_version()
    assert.is_nil(v)
    assert.equal("Timeout", err.kind)
    assert.equal("timeout", err.code)
  end)
end)

describe("retries", function()
  local function flaky_client(fail, code, opts)
    local key = tostring(math.random(1e9))
    local retries = {}
    opts = opts or {}
    opts.base_url = base .. "/flaky?key=" .. key .. "&fail=" .. fail .. "&code=" .. code .. "&x="
    opts.token = "t"
    opts.on_retry = function(info) retries[#retries + 1] = info end
    opts.sleep = function() end
    return assert(airflow.new(opts)), retries
  end

  it("retries idempotent requests on 503 and reports each retry", function()
    local c, retries = flaky_client(2, 503)
    local res = assert(c.version:get_version())
    assert.equal(3, res.attempt)
    assert.equal(2, #retries)
    assert.equal(503, retries[1].status)
    assert.equal(1, retries[1].attempt)
  end)

  it("never retries POST unless asked", function()
    local c, retries = flaky_client(1, 503)
    local _, err = c.variable:post_variable{ body = { key = "k", value = "v" } }
    assert.equal(503, err.status)
    assert.equal(0, #retries)
    local c2 = flaky_client(1, 503)
    assert.truthy(c2.variable:post_variable({ body = { key = "k", value = "v" } }, { retry = true }))
  end)

  it("gives up after `retries` attempts", function()
    local c, retries = flaky_client(10, 502, { retries = 2 })
    local _, err = c.version:get_version()
    assert.equal(502, err.status)
    assert.equal(2, #retries)
  end)

  it("honours Retry-After, and backs off exponentially otherwise", function()
    local waits = {}
    local c = assert(airflow.new{ base_url = base .. "/status/429?retry_after=7&x=", token = "t", retries = 1,
      sleep = function(s) waits[#waits + 1] = s end })
    c.version:get_version()
    assert.same({ 7 }, waits)
    local plain = echo_client{ retry_backoff = 1, retry_max_wait = 100 }
    for attempt = 1, 4 do
      local w = require("airflow.request").backoff(plain, attempt)
      assert.is_true(w >= 2 ^ (attempt - 1) / 2 and w <= 2 ^ (attempt - 1), tostring(w))
    end
  end)
end)

describe("TLS", function()
  it("refuses a self-signed server by default, accepts it with ca_file", function()
    local tls = env.need("TEST_TLS_URL") .. "/echo"
    local _, err = assert(airflow.new{ base_url = tls, token = "t", retries = 0 }).version:get_version()
    assert.equal("Transport", err.kind)
    assert.equal("tls", err.code)
    local c = assert(airflow.new{ base_url = tls, token = "t", ca_file = env.need("TEST_TLS_CA") })
    assert.is_table(c.version:get_version())
  end)

  it("accepts verify_tls = false only with a warning", function()
    local warnings = {}
    local c = assert(airflow.new{ base_url = env.need("TEST_TLS_URL") .. "/echo", token = "t",
      verify_tls = false, on_warning = function(m) warnings[#warnings + 1] = m end })
    assert.is_table(c.version:get_version())
    assert.equal(1, #warnings)
    assert.matches("TLS verification is off", warnings[1], 1, true)
  end)

  it("does mTLS with a client certificate", function()
    local c = assert(airflow.new{ base_url = env.need("TEST_MTLS_URL") .. "/echo", token = "t",
      ca_file = env.need("TEST_TLS_CA"), cert_file = env.need("TEST_TLS_CERT"), key_file = env.need("TEST_TLS_KEY") })
    local echo = assert(c.version:get_version())
    assert.equal("GET", echo.method)
  end)
end)

describe("redirects", function()
  it("follows them, but never sends credentials to another host", function()
    -- 127.0.0.1 -> localhost is another host name: curl drops the Authorization header
    local target = base:gsub("127%.0%.0%.1", "localhost") .. "/headers"
    local c = assert(airflow.new{ base_url = base .. "/redirect?code=302&to=" .. target .. "&x=",
      token = "secret-bearer" })
    local headers = assert(c.version:get_version())
    assert.is_nil(headers.authorization)
    local same = assert(airflow.new{ base_url = base .. "/redirect?code=302&to=/headers&x=", token = "secret-bearer" })
    assert.equal("Bearer secret-bearer", same.version:get_version().authorization)
  end)
end)

describe("hooks", function()
  it("see method, URL, status and duration, and no secret", function()
    local seen = {}
    local c = echo_client{ token = "very-secret-token",
      on_request = function(i) seen[#seen + 1] = i end,
      on_response = function(i) seen[#seen + 1] = i end }
    assert(c.dag:get_dag("etl"))
    assert.equal(2, #seen)
    assert.equal("GET", seen[2].method)
    assert.equal(200, seen[2].status)
    assert.is_number(seen[2].duration)
    for _, info in ipairs(seen) do
      for _, v in pairs(info) do assert.is_nil(tostring(v):find("very-secret-token", 1, true)) end
    end
    assert.is_nil(tostring(c):find("very-secret-token", 1, true))
  end)
end)
