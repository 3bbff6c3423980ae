-- lua-airflow inside nginx: the cosocket transport (and the opt-in subrequest one)
-- and the gateway example, driven over HTTP. Needs the servers tools/test-openresty
-- starts (make test-openresty):
--   FAKE_AIRFLOW_URL       the fake Airflow
--   OPENRESTY_GATEWAY_URL  examples/openresty/nginx.conf (four workers)
--   OPENRESTY_TEST_URL     spec/openresty/nginx.conf (four workers)
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

  it("(a) serves 10 concurrent calls to a slow Airflow without blocking its workers", function()
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

  it("reuse connections to Airflow (the cosocket pool of each worker)", function()
    fresh_fake()
    local before = env.fake_get("/_fake/stats")
    local out = get_json(test_url .. "/keepalive")
    local after = env.fake_get("/_fake/stats")
    local requests = after.requests - before.requests
    local opened = after.connections - before.connections - 1 -- the stats call's own
    io.stderr:write(("[openresty] keepalive: %d new connections for %d requests\n"):format(opened, requests))
    assert.same({ ok = 20, transport = "ngx" }, out)
    assert.equal(20, requests)
    assert.is_true(opened <= 1, ("%d connections for %d requests"):format(opened, requests))
  end)

  it("(subrequest opt-in) turn failures nginx made into transport errors, keep Airflow's as HTTP errors", function()
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
    assert.matches("not set up for the ngx_subrequest transport", out.bad_location.detail, 1, true)

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

  it("(d) refuse to run in init_worker_by_lua with a clear error, and work in its timer", function()
    local fh = assert(io.open(test_log))
    local text = fh:read("a")
    fh:close()
    assert.matches("init_worker check: transport ngx: airflow: cannot make requests in nginx phase "
      .. "'init_worker': cosockets are not available there", text, 1, true)
    assert.matches("timer check: the call went through: %d", text)
    assert.is_nil(text:find("timer check: airflow", 1, true))
  end)

  it("poll a run to success from an ngx.timer.at timer", function()
    fresh_fake()
    env.fake_control("/_fake/config", '{"run_ms": 50}')
    local started = get_json(test_url .. "/timer_poll?dag_id=example_etl")
    assert.is_true(started.started, started.error)
    local result
    local deadline = core.now() + 20
    repeat -- wait for the condition: the timer's report in the shared dict
      result = get_json(test_url .. "/timer_result?dag_run_id=" .. escape(started.dag_run_id)).result
      if result == json.null then result = nil; core.sleep(0.05) end
    until result or core.now() > deadline
    assert.is_table(result, "the timer did not finish")
    assert.same({ state = "success", phase = "timer" }, { state = result.state, phase = result.phase })
    assert.is_true(result.polls >= 2)
  end)

  it("stream follow_log's NDJSON line by line", function()
    fresh_fake()
    env.fake_control("/_fake/config", '{"stream_line_ms": 40}')
    local seq = seq_now()
    local out = get_json(test_url .. "/follow_log?dag_id=example_etl&task_id=extract&dag_run_id="
      .. escape("scheduled__2025-01-01T00:00:00+00:00"))
    env.fake_control("/_fake/config", '{"stream_line_ms": 5}')
    assert.is_nil(out.error, out.error and out.error.detail)
    assert.is_true(out.count >= 3, "too few lines to tell")
    assert.equal(out.count, #out.lines)
    local span = out.times[#out.times] - out.times[1]
    io.stderr:write(("[openresty] follow_log: %d lines, first at %.3f s, last at %.3f s\n")
      :format(out.count, out.times[1], out.times[#out.times]))
    -- the fake sends a line every 40 ms: buffered, all lines would arrive at once
    assert.is_true(span >= (out.count - 1) * 0.04 * 0.5, ("lines arrived within %.3f s: not streamed"):format(span))
    local streamed = 0
    for _, e in ipairs(requests_since(seq)) do
      if e.path:find("/logs/", 1, true) then
        streamed = streamed + 1
        assert.equal("application/x-ndjson", e.headers.accept)
      end
    end
    assert.equal(1, streamed)
  end)

  it("fail with typed errors: refused, silent, slow, reset, truncated, huge or malformed heads, TLS", function()
    local out = get_json(test_url .. "/cosocket")
    assert.equal("connect", out.refused.code)
    for _, name in ipairs{ "silent", "hang_body", "drip" } do
      assert.equal("timeout", out[name].code, name)
      assert.equal("Timeout", out[name].kind, name)
      assert.is_true(out[name].seconds >= 0.45 and out[name].seconds < 1.5,
        ("%s: the 0.5 s timeout fired after %.3f s"):format(name, out[name].seconds))
    end
    assert.equal(200, out.per_request.status, out.per_request.detail)
    assert.equal("recv", out.reset.code)
    assert.equal("recv", out.truncated_chunked.code)
    assert.equal("too_large", out.huge_header.code)
    local malformed = 0
    for path, res in pairs(out.malformed) do
      assert.equal("protocol", res.code, path)
      malformed = malformed + 1
    end
    assert.equal(5, malformed)
    assert.same({ status = 200, body = "aaaaaaabbbbbbbcccccccdddddddeeeeeee" }, -- 5 chunks of 7 bytes
      { status = out.chunked.status, body = out.chunked.body })
    assert.equal("too_large", out.small_limit.code)
    assert.equal("abc-123", out.headers["x-request-id"])
    assert.matches("^lua%-airflow/", out.headers["user-agent"])
    assert.equal("Bearer t", out.headers.authorization)
    assert.is_false(out.injection[1])
    assert.matches("line break", out.injection[2], 1, true)
    assert.equal(200, out.tls_ok.status, out.tls_ok.detail)
    assert.equal("tls", out.tls_wrong_host.code, out.tls_wrong_host.detail)
    assert.equal("tls", out.tls_self_signed.code)
    assert.matches("lua_ssl_trusted_certificate", out.tls_self_signed.detail, 1, true)
    assert.equal(200, out.tls_unverified.status, out.tls_unverified.detail)
    assert.equal("other", out.negotiate.code)
    assert.matches("negotiate", out.negotiate.detail, 1, true)
    assert.is_false(out.ca_file[1])
    assert.matches("lua_ssl_trusted_certificate", out.ca_file[2], 1, true)
  end)

  it("share one token between 4 workers: one /auth/token per token lifetime", function()
    fresh_fake()
    -- tokens live 34 s; the client renews 30 s before exp: a 4 s lifetime here
    env.fake_control("/_fake/config", '{"token_ttl": 34}')
    local function burst()
      local reqs = {}
      for i = 1, 200 do reqs[i] = { method = "GET", url = test_url .. "/shared_token" } end
      local s = core.session{ timeout = 30 }
      local t0 = core.now()
      local responses, errors = s:request_many(reqs, 16)
      local elapsed = core.now() - t0
      s:close()
      local workers, n = {}, 0
      for i = 1, #reqs do
        assert.is_truthy(responses[i], errors[i] and errors[i].message)
        local body = json.decode(responses[i].body)
        assert.is_true(body.ok, body.error and body.error.detail)
        if not workers[body.worker] then workers[body.worker], n = true, n + 1 end
      end
      return elapsed, n
    end
    local t0 = core.now()
    local elapsed, workers = burst()
    local first = env.fake_get("/_fake/stats").token_requests
    io.stderr:write(("[openresty] shared token: 200 calls over %d workers in %.3f s, %d /auth/token\n")
      :format(workers, elapsed, first))
    assert.is_true(elapsed < 3.5, "the first burst outlived the token: inconclusive")
    assert.is_true(workers >= 2, "one worker served everything")
    assert.equal(1, first)
    -- once the token is due for renewal, one worker renews it for all
    while core.now() - t0 < 4.5 do core.sleep(0.1) end -- the token's lifetime passing
    elapsed = burst()
    local second = env.fake_get("/_fake/stats").token_requests
    io.stderr:write(("[openresty] shared token, renewed: %.3f s, %d /auth/token in all\n"):format(elapsed, second))
    assert.is_true(elapsed < 3.5, "the second burst outlived the token: inconclusive")
    assert.equal(2, second)
    env.fake_control("/_fake/config", '{"token_ttl": 3600}')
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
