-- lua-airflow inside nginx: the ngx transport and the gateway example, driven over
-- HTTP. Needs the servers tools/test-openresty starts (make test-openresty):
--   FAKE_AIRFLOW_URL       the fake Airflow
--   OPENRESTY_GATEWAY_URL  examples/openresty/nginx.conf (one worker)
--   OPENRESTY_TEST_URL     spec/openresty/nginx.conf (one worker)
--   OPENRESTY_TEST_LOG     that nginx's error log
local core = require("airflow.core")
local json = require("airflow.json")

if not os.getenv("OPENRESTY_TEST_URL") then
  describe("lua-airflow in nginx", function()
    pending("needs nginx: run tools/test-openresty (make test-openresty)")
  end)
  return
end

local env = require("env")
local calls = require("spec.openresty.calls")

local fake = env.need("FAKE_AIRFLOW_URL")
local gateway = env.need("OPENRESTY_GATEWAY_URL")
local test_url = env.need("OPENRESTY_TEST_URL")
local test_log = env.need("OPENRESTY_TEST_LOG")

local PARENT_AUTH = "Basic cGFyZW50OnBhcmVudC1zZWNyZXQ=" -- parent:parent-secret

local function http(method, url, body, headers)
  local s = core.session{ timeout = 30 }
  local res, err = s:request{ method = method, url = url, body = body, headers = headers or {} }
  s:close()
  assert(res, err and err.message)
  return res
end

local function get_json(url, headers)
  local res = http("GET", url, nil, headers)
  assert.equal(200, res.status, res.body)
  return json.decode(res.body)
end

local function fresh_fake(seed)
  env.fake_control("/_fake/reset")
  if seed then env.fake_control("/_fake/seed", json.encode(seed)) end
end

local function seq_now()
  return env.fake_get("/_fake/stats").seq
end

local function requests_since(seq)
  return env.fake_get("/_fake/requests?since=" .. seq)
end

local function escape(s)
  return (s:gsub("[^%w%-._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

-- The Airflow requests since seq carried no header of the parent request.
local function assert_no_leak(entries)
  assert.is_true(#entries > 0)
  for _, e in ipairs(entries) do
    local h = e.headers
    local where = e.method .. " " .. e.path
    assert.is_nil(h.cookie, "cookie reached Airflow: " .. where)
    assert.is_nil(h["x-parent-secret"], "x-parent-secret reached Airflow: " .. where)
    if e.path == "/auth/token" then
      assert.is_nil(h.authorization, "authorization on the token request")
    else
      assert.equal("Bearer", h.authorization, where) -- the fake keeps only the scheme
    end
  end
end

describe("the gateway example (examples/openresty/nginx.conf)", function()
  local run_id

  setup(function()
    fresh_fake()
  end)

  it("triggers a run: POST /hooks/example_etl returns the run", function()
    local res = http("POST", gateway .. "/hooks/example_etl", '{"source": "test", "rows": 3}',
      { "Content-Type: application/json" })
    assert.equal(200, res.status, res.body)
    local run = json.decode(res.body)
    assert.equal("example_etl", run.dag_id)
    assert.equal("manual", run.run_type)
    assert.same({ source = "test", rows = 3 }, run.conf)
    assert.is_string(run.dag_run_id)
    run_id = run.dag_run_id
  end)

  it("returns a run's state: GET /runs/<dag>/<run>", function()
    assert.is_string(run_id)
    local state = get_json(gateway .. "/runs/example_etl/" .. escape(run_id))
    assert.is_string(state.state)
    assert.same({ state = state.state }, state)
    local res = http("GET", gateway .. "/runs/example_etl/no_such_run")
    assert.equal(404, res.status)
    assert.equal("NotFound", json.decode(res.body).kind)
    res = http("POST", gateway .. "/hooks/no_such_dag", "{}")
    assert.equal(404, res.status)
  end)

  it("(a) serves 10 concurrent calls to a slow Airflow without blocking its one worker", function()
    assert.is_string(run_id)
    env.fake_control("/_fake/config", '{"delay_ms": 200}')
    local url = gateway .. "/runs/example_etl/" .. escape(run_id)
    get_json(url) -- warm: the token is cached, the worker has the client
    local reqs = {}
    for i = 1, 10 do reqs[i] = { method = "GET", url = url } end
    local s = core.session{ timeout = 30 }
    local t0 = core.now()
    local responses, errors = s:request_many(reqs, 10)
    local elapsed = core.now() - t0
    s:close()
    env.fake_control("/_fake/config", '{"delay_ms": 0}')
    io.stderr:write(("\n[openresty] 10 concurrent gateway calls, Airflow answering in 200 ms each: %.3f s\n")
      :format(elapsed))
    for i = 1, 10 do
      assert.is_truthy(responses[i], errors[i] and errors[i].message)
      assert.equal(200, responses[i].status, responses[i].body)
    end
    assert.is_true(elapsed >= 0.2, "the delay did not apply")
    assert.is_true(elapsed < 1.0, ("10 calls took %.3f s: the worker blocked"):format(elapsed))
  end)

  it("(e) does not pass the caller's Authorization or Cookie on to Airflow", function()
    assert.is_string(run_id)
    local seq = seq_now()
    local headers = { "Authorization: " .. PARENT_AUTH, "Cookie: session=parent", "X-Parent-Secret: 1" }
    get_json(gateway .. "/runs/example_etl/" .. escape(run_id), headers)
    local res = http("POST", gateway .. "/hooks/example_etl", '{"n": 1}', headers)
    assert.equal(200, res.status, res.body)
    assert_no_leak(requests_since(seq))
  end)
end)

describe("library calls inside nginx (spec/openresty/nginx.conf)", function()
  it("(b) give the same results as with the curl transport", function()
    fresh_fake{ variables = 250 }
    local seq = seq_now()
    local in_nginx = get_json(test_url .. "/suite")
    local log = requests_since(seq)

    fresh_fake{ variables = 250 }
    local direct = calls(fake)

    assert.equal("ngx", in_nginx.transport)
    assert.is_true(in_nginx.client_sleep_is_ngx)
    local seconds = in_nginx.seconds
    in_nginx.transport, in_nginx.client_sleep_is_ngx, in_nginx.seconds = nil, nil, nil
    assert.same(direct, in_nginx)

    -- and the results are the expected ones, not the same failure twice
    assert.equal("example_etl", in_nginx.trigger.dag_id)
    assert.equal("suite_run", in_nginx.get_run.dag_run_id)
    assert.same({ source = "suite", n = 3 }, in_nginx.get_run.conf)
    assert.same({ kind = "AlreadyExists", status = 409 }, in_nginx.trigger_again)
    assert.same({ kind = "NotFound", status = 404 }, in_nginx.not_found)
    assert.is_true(#in_nginx.dags.ids > 0)
    assert.is_string(in_nginx.version.version)
    assert.equal(250, in_nginx.collect.count)
    assert.equal(250, in_nginx.collect.total)
    for i = 1, 250 do assert.equal(("var_%03d"):format(i - 1), in_nginx.collect.keys[i]) end
    assert.matches("auth: token as admin", in_nginx.auth.describe, 1, true)
    assert.same({ dag_id = "example_etl", is_paused = true }, in_nginx.patch)
    assert.is_true(in_nginx.delete) -- a 204
    assert.same({ kind = "NotFound", status = 404 }, in_nginx.delete_again)

    -- the token came from /auth/token through nginx, first and once; then each page once
    assert.equal("/auth/token", log[1].path)
    local logins = 0
    for _, e in ipairs(log) do
      if e.path == "/auth/token" then logins = logins + 1 end
    end
    assert.equal(1, logins)
    local pages = {}
    for _, e in ipairs(log) do
      if e.path == "/api/v2/variables" then pages[#pages + 1] = tonumber(e.args.offset and e.args.offset[1] or 0) end
    end
    table.sort(pages)
    assert.is_true(#pages >= 3)
    local step = pages[2]
    for i, off in ipairs(pages) do assert.equal((i - 1) * step, off) end
    assert.is_true(step * #pages >= 250 and step * (#pages - 1) < 250)
    io.stderr:write(("[openresty] in-nginx suite: %.3f s\n"):format(seconds))
  end)

  it("fetch the pages of client:collect concurrently (request_many in ngx.threads)", function()
    fresh_fake{ variables = 250 }
    get_json(test_url .. "/collect") -- warm: token
    env.fake_control("/_fake/config", json.encode{ delay = { path_prefix = "/api/v2/variables", ms = 150 } })
    local seq = seq_now()
    local out = get_json(test_url .. "/collect")
    env.fake_control("/_fake/config", '{"delay": null}')
    assert.equal(250, out.count)
    assert.equal(out.count, out.distinct)
    out.requests = 0
    for _, e in ipairs(requests_since(seq)) do
      if e.path == "/api/v2/variables" then out.requests = out.requests + 1 end
    end
    local sequential = out.requests * 0.15
    io.stderr:write(("[openresty] collect: %d pages of 150 ms each in %.3f s (concurrency 4)\n")
      :format(out.requests, out.seconds))
    assert.is_true(out.requests >= 4)
    assert.is_true(out.seconds < sequential - 0.2,
      ("%d pages took %.3f s: not concurrent"):format(out.requests, out.seconds))
  end)

  it("reuse connections to Airflow (the test conf's upstream block has keepalive)", function()
    fresh_fake{ variables = 250 }
    get_json(test_url .. "/collect") -- warm: token, idle connections
    local before = env.fake_get("/_fake/stats")
    get_json(test_url .. "/collect")
    get_json(test_url .. "/collect")
    local after = env.fake_get("/_fake/stats")
    local requests = after.requests - before.requests
    local opened = after.connections - before.connections - 1 -- the stats call's own
    io.stderr:write(("[openresty] keepalive: %d new connections for %d requests\n"):format(opened, requests))
    assert.is_true(requests >= 8)
    assert.is_true(opened <= 4, ("%d connections for %d requests"):format(opened, requests))
  end)

  it("turn failures nginx made into transport errors, and keep Airflow's own as HTTP errors", function()
    fresh_fake()
    env.fake_control("/_fake/config", json.encode{
      delay = { path_prefix = "/api/v2/version", ms = 1500 },
      fail_next = { { path_prefix = "/api/v2/dags", status = 502, count = 1 },
                    { path_prefix = "/api/v2/pools", status = 503, count = 1 } },
    })
    local out = get_json(test_url .. "/errors")
    env.fake_control("/_fake/config", '{"delay": null}')

    assert.equal("connect", out.connect.code)
    assert.equal("Transport", out.connect.kind)
    assert.is_nil(out.connect.status)

    assert.equal("timeout", out.timeout.code)
    assert.equal("Timeout", out.timeout.kind)
    assert.is_true(out.timeout_seconds < 1.4, "the timeout came from the fake, not nginx")

    assert.equal(502, out.airflow_502.status)
    assert.is_nil(out.airflow_502.code)

    assert.is_true(out.retried.ok, out.retried.error and out.retried.error.detail)

    assert.equal("other", out.bad_location.code)
    assert.matches("not set up for the ngx transport", out.bad_location.detail, 1, true)

    assert.same({ status = 200 }, out.extra_header)
    assert.equal("other", out.undeclared_header.code)
    assert.matches("airflow_h_x_undeclared", out.undeclared_header.message, 1, true)
    assert.equal("other", out.negotiate.code)
    assert.matches("negotiate", out.negotiate.message, 1, true)
  end)

  it("(e) keep the parent request's Authorization and Cookie out of Airflow's requests", function()
    fresh_fake()
    local seq = seq_now()
    local out = get_json(test_url .. "/leak",
      { "Authorization: " .. PARENT_AUTH, "Cookie: session=parent", "X-Parent-Secret: 1" })
    assert.is_true(out.ok, out.error and out.error.detail)
    assert.equal(PARENT_AUTH, out.parent_authorization) -- the parent did have them
    local log = requests_since(seq)
    assert_no_leak(log)
    local found = false
    for _, e in ipairs(log) do
      if e.path == "/api/v2/dags" then found = true end
    end
    assert.is_true(found)
  end)

  it("(d) refuse to run in init_worker_by_lua and in timers, with a clear error", function()
    local fh = assert(io.open(test_log))
    local text = fh:read("a")
    fh:close()
    assert.matches("init_worker check: transport ngx: airflow: cannot make requests in nginx phase "
      .. "'init_worker'", text, 1, true)
    assert.matches("timer check: airflow: cannot make requests in nginx phase 'timer'", text, 1, true)
  end)
end)

describe("the ngx transport outside nginx", function()
  it("is refused with a transport error", function()
    local airflow = require("airflow")
    local c, err = airflow.new{ base_url = fake, transport = "ngx" }
    assert.is_nil(c)
    assert.equal("Transport", err.kind)
    assert.matches("only inside nginx", err.detail, 1, true)
  end)
end)
