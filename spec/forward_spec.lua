-- Forward tolerance: what a server newer than the registry has is still reachable.
-- Parameters through extra_query, paths through client:request and `airflow-lua api`,
-- with the usual credentials, retries and errors; against the fake Airflow's
-- test-only path /api/v2/_future/echo, which no registry has.
local json = require("airflow.json")
local env = require("env")

env.need("FAKE_AIRFLOW_URL") -- fails loudly without the servers
local ECHO = "/api/v2/_future/echo"

local function client(opts)
  return env.client(nil, opts)
end

-- The requests the fake saw to a path.
local function requests_to(path)
  local out = {}
  for _, r in ipairs(env.fake_get("/_fake/requests")) do
    if r.path == path then out[#out + 1] = r end
  end
  return out
end

local cli = env.cli

before_each(function() env.fake_control("/_fake/reset") end)

describe("client:request on a path the registry lacks", function()
  it("sends the client's credentials, the query (arrays repeat the key) and a JSON body", function()
    local c = client()
    local got = assert(c:request{ path = ECHO, query = { tag = { "a b", "c/d" }, n = 5 } })
    assert.equal("admin", got.user)
    assert.same({ tag = { "a b", "c/d" }, n = { "5" } }, got.query)
    local posted = assert(c:request{ method = "POST", path = ECHO, body = { key = "v", list = { 1, 2 } } })
    assert.same({ key = "v", list = { 1, 2 } }, posted.body)
    assert.equal("n=5&tag=a%20b&tag=c%2Fd", requests_to(ECHO)[1].query)
  end)

  it("retries a 503 and reports errors as airflow.Error, like a generated method", function()
    env.fake_control("/_fake/config", '{"fail_next": [{"path_prefix": "' .. ECHO .. '", "status": 503, "count": 1}]}')
    local retried = 0
    local c = client{ retries = 2, sleep = function() end, on_retry = function() retried = retried + 1 end }
    assert(c:request{ path = ECHO })
    assert.equal(1, retried)
    local _, err = client{ token = "not-a-token" }:request{ path = ECHO }
    assert.equal("Unauthenticated", err.kind)
    assert.equal(401, err.status)
    local _, nf = c:request{ path = "/api/v2/_future/nothing" }
    assert.equal("NotFound", nf.kind)
  end)

  it("refuses bad input before any I/O", function()
    local c = client()
    assert.has_error(function() c:request{ path = ECHO, headers = { ["X-A"] = "a\r\nX-Evil: 1" } } end)
    assert.has_error(function() c:request{ path = ECHO, query = { [1] = "x" } } end)
    assert.same({}, requests_to(ECHO))
  end)
end)

describe("responses of a newer server", function()
  it("are never rejected for fields the registry does not know", function()
    env.fake_control("/_fake/config", json.encode{ fail_next = { { path_prefix = "/api/v2/dags/example_etl",
      status = 200, body = { dag_id = "example_etl", is_paused = false, field_of_3_4 = { nested = { 1, 2 } } } } } })
    local dag = assert(client().dag:get_dag{ dag_id = "example_etl" })
    assert.equal("example_etl", dag.dag_id)
    assert.same({ nested = { 1, 2 } }, dag.field_of_3_4)
  end)
end)

describe("extra_query", function()
  it("passes parameters newer than the registry, encoded like the operation's own", function()
    local c = client()
    local page = assert(c.dag_run:get_dag_runs({ dag_id = "example_etl", limit = 1 },
      { extra_query = { newer = { "x y", "z" }, flag = true } }))
    assert.equal(1, #page.dag_runs)
    local seen = requests_to("/api/v2/dags/example_etl/dagRuns")
    assert.equal("limit=1&flag=true&newer=x%20y&newer=z", seen[1].query)
  end)

  it("refuses a parameter the registry knows, and a value that is no query value", function()
    local c = client()
    assert.has_error(function()
      c.dag_run:get_dag_runs({ dag_id = "example_etl" }, { extra_query = { limit = 3 } })
    end, "airflow: dag_run.get_dag_runs: extra_query: 'limit' is a parameter of the operation: "
      .. "pass it with the arguments")
    assert.has_error(function()
      c.dag_run:get_dag_runs({ dag_id = "example_etl" }, { extra_query = { y = { {} } } })
    end)
  end)
end)

describe("airflow-lua api", function()
  it("GETs a path the registry lacks with NAME=VALUE query parameters", function()
    local out, err, rc = cli{ "api", "/_future/echo", "a=1", "a=2", "b=x y", "-o", "json" }
    assert.equal(0, rc, err)
    local got = json.decode(out)
    assert.equal("admin", got.user)
    assert.same({ a = { "1", "2" }, b = { "x y" } }, got.query)
  end)

  it("sends another method with a body, under the full path", function()
    local out, err, rc = cli{ "api", "PATCH", ECHO, "--body", '{"x": [1, 2]}', "-o", "json" }
    assert.equal(0, rc, err)
    local got = json.decode(out)
    assert.equal("PATCH", got.method)
    assert.same({ x = { 1, 2 } }, got.body)
  end)

  it("reports an error answer and exits non-zero", function()
    local out, err, rc = cli{ "api", "dags/no_such_dag" }
    assert.equal("", out)
    assert.equal(1, rc)
    assert.matches("404 NotFound", err, 1, true)
  end)

  it("--paginate follows offsets and cursors into one collection", function()
    env.fake_control("/_fake/seed", '{"variables": 250, "dag_runs": {"dag_id": "example_etl", "count": 250}}')
    local out, err, rc = cli{ "api", "variables", "--paginate", "-o", "json" }
    assert.equal(0, rc, err)
    local got = json.decode(out)
    assert.equal(250, #got.variables)
    assert.equal("var_249", got.variables[250].key)
    assert.equal(3, #requests_to("/api/v2/variables"))
    out, err, rc = cli{ "api", "dags/example_etl/dagRuns", "cursor=", "--paginate", "-o", "json" }
    assert.equal(0, rc, err)
    assert.equal(250, #json.decode(out).dag_runs)
    assert.equal(3, #requests_to("/api/v2/dags/example_etl/dagRuns"))
  end)
end)
