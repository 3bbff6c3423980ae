-- luacheck: globals ngx
--- The in-nginx side of spec/openresty/openresty_spec.lua (spec/openresty/nginx.conf
-- wires these functions to locations). Each answers JSON for the spec to check.
local airflow = require("airflow")
local cjson = require("cjson.safe")
local calls = require("calls")
local Error = require("airflow.error")

local M = {}

local function base_url()
  local url = assert(os.getenv("AIRFLOW_URL"), "AIRFLOW_URL is not set")
  return url
end

local function reply(value)
  ngx.header["Content-Type"] = "application/json"
  ngx.say(cjson.encode(value))
  return ngx.exit(ngx.HTTP_OK)
end

local function err_fields(err)
  if not err then return nil end
  return { kind = err.kind, status = err.status, code = err.code, detail = err.detail,
    message = err.message }
end

--- init_worker_by_lua: no cosockets here, so the client (no transport given) must
-- raise a clear error rather than block the worker; in a timer the call works.
function M.init_worker()
  local c = assert(airflow.new{ base_url = base_url() })
  local ok, err = pcall(function() return c.version:get_version() end)
  ngx.log(ngx.WARN, "init_worker check: transport ", c.transport.name, ": ",
    ok and "the call went through" or tostring(err))
  ngx.timer.at(0, function()
    local tok, res, terr = pcall(function() return c.version:get_version() end)
    ngx.log(ngx.WARN, "timer check: ", tok and (res and ("the call went through: " .. tostring(res.version))
      or tostring(terr)) or tostring(res))
  end)
end

--- GET /suite: the shared calls through the automatically chosen transport.
function M.run()
  local started = ngx.now()
  local out, c = calls(base_url())
  out.transport = c.transport.name
  out.client_sleep_is_ngx = c.sleep == c.transport.sleep
  out.seconds = ngx.now() - started
  return reply(out)
end

--- GET /collect: client:collect over the seeded variables, timed.
local collect_client
function M.collect()
  collect_client = collect_client or assert(airflow.new{ base_url = base_url(), username = "admin",
    password = "admin" })
  ngx.update_time()
  local t0 = ngx.now()
  -- pages of 50 (not the default 100): 250 items make 5 pages, 4 of them concurrent
  local items, err = collect_client:collect("variable.get_variables", {}, { concurrency = 4, page_size = 50 })
  ngx.update_time()
  if not items then return reply{ error = err_fields(err) } end
  local seen, distinct = {}, 0
  for _, item in ipairs(items) do
    if not seen[item.key] then seen[item.key], distinct = true, distinct + 1 end
  end
  return reply{ count = #items, distinct = distinct, seconds = ngx.now() - t0 }
end

--- GET /errors: how failures come back through the opt-in subrequest transport
-- (see the spec for the fake's setup).
function M.errors()
  local out = {}
  local function client(opts)
    local o = { base_url = base_url(), username = "admin", password = "admin", retries = 0,
      transport = "ngx_subrequest" }
    for k, v in pairs(opts or {}) do o[k] = v end
    return assert(airflow.new(o))
  end

  -- nothing listens on port 1: nginx's own 502 is a connect error
  local c = assert(airflow.new{ base_url = "http://127.0.0.1:1", token = "t", retries = 0,
    transport = "ngx_subrequest", ngx_location = "/_airflow_short" })
  local _, err = c.version:get_version()
  out.connect = err_fields(err)

  -- the fake delays /api/v2/version by 1.5 s; this location's read timeout is 0.5 s
  c = client{ ngx_location = "/_airflow_short" }
  local t0 = ngx.now()
  _, err = c.version:get_version()
  ngx.update_time()
  out.timeout = err_fields(err)
  out.timeout_seconds = ngx.now() - t0

  -- the fake answers one 502 itself: an HTTP response, not a transport failure
  c = client()
  _, err = c.dag:get_dags()
  out.airflow_502 = err_fields(err)

  -- one 503, retried after a non-blocking ngx.sleep
  c = client{ retries = 1, retry_backoff = 0.05 }
  local pools
  pools, err = c.pool:get_pools()
  out.retried = { ok = pools ~= nil, error = err_fields(err) }

  -- a location that is not the transport's
  c = client{ ngx_location = "/suite-missing" }
  _, err = c.version:get_version()
  out.bad_location = err_fields(err)

  -- extra headers: declared ($airflow_h_x_request_id) and not declared
  local t = assert(require("airflow.transport.ngx_subrequest").new{ user_agent = "suite" })
  t:set_auth{ kind = "none" }
  local res, rerr = t:request{ method = "GET", url = base_url() .. "/api/v2/version",
    headers = { "Accept: application/json", "X-Request-Id: abc-123" } }
  out.extra_header = res and { status = res.status } or err_fields(rerr)
  res, rerr = t:request{ method = "GET", url = base_url() .. "/api/v2/version",
    headers = { ["X-Undeclared"] = "1" } }
  out.undeclared_header = res and { status = res.status } or err_fields(rerr)

  -- Kerberos cannot go through a subrequest
  t:set_auth{ kind = "negotiate" }
  res, rerr = t:request{ method = "GET", url = base_url() .. "/api/v2/version" }
  out.negotiate = res and { status = res.status } or err_fields(rerr)
  return reply(out)
end

--- GET /leak: the caller sends its own Authorization and Cookie; the library's
-- requests must carry only the client's token.
function M.leak()
  local c = assert(airflow.new{ base_url = base_url(), username = "admin", password = "admin" })
  local dags, err = c.dag:get_dags{ limit = 1 }
  local run
  if dags then
    run, err = c.dag_run:trigger_dag_run{ dag_id = "example_etl", body = { conf = {} } }
  end
  return reply{ ok = run ~= nil, error = err_fields(err),
    parent_authorization = ngx.var.http_authorization }
end

--- GET /keepalive: 20 sequential calls in this worker, over its connection pool.
function M.keepalive()
  local c = assert(airflow.new{ base_url = base_url(), token = "t" })
  local ok = 0
  for _ = 1, 20 do
    if c.version:get_version() then ok = ok + 1 end
  end
  return reply{ ok = ok, transport = c.transport.name }
end

-- Runs fn() and returns what it gave back, with the seconds it took.
local function timed(fn)
  ngx.update_time()
  local t0 = ngx.now()
  local res, err = fn()
  ngx.update_time()
  return res, err, ngx.now() - t0
end

local function outcome(res, err, seconds)
  local o = err_fields(err and Error.from_transport(err)) or { status = res and res.status, body = res and res.body }
  o.seconds = seconds
  return o
end

--- GET /cosocket: the cosocket transport against misbehaving servers (test servers
-- of tools/with-servers): refused, silent, reset, truncated, slow, huge, and TLS.
function M.cosocket()
  local out = {}
  local test = assert(os.getenv("TEST_SERVER_URL"))
  local hostile = assert(os.getenv("TEST_HOSTILE_PORT"))
  local function transport(opts)
    local o = { base_url = test, token = "t", retries = 0, on_warning = function() end }
    for k, v in pairs(opts or {}) do o[k] = v end
    local tr = assert(airflow.new(o)).transport
    tr:set_auth{ kind = "bearer", secret = "t" }
    return tr
  end
  local function get(t, url, headers)
    return outcome(timed(function() return t:request{ method = "GET", url = url, headers = headers } end))
  end
  local t = transport{ timeout = 0.5 }
  out.refused = get(t, "http://127.0.0.1:1/")
  out.silent = get(t, test .. "/delay/3000")           -- headers never come
  out.hang_body = get(t, test .. "/hang-body?secs=3")  -- the body stops halfway
  out.drip = get(t, test .. "/slow-body?chunks=20&ms=100") -- data keeps coming, too slowly
  out.per_request = outcome(timed(function()           -- a request's own timeout wins
    return t:request{ method = "GET", url = test .. "/delay/300", timeout = 2 }
  end))
  t = transport()
  out.reset = get(t, test .. "/reset-mid-body")
  out.truncated_chunked = get(t, test .. "/truncated-chunked")
  out.huge_header = get(t, test .. "/huge-header?bytes=200000")
  out.chunked = get(t, test .. "/chunked?n=5&size=7")
  -- heads that break HTTP/1.1's framing: refused as the libcurl path refuses them
  local plain = "http://127.0.0.1:" .. hostile
  out.malformed = {}
  for _, path in ipairs{ "/cl-and-chunked", "/cl?v=double", "/cl?v=letters", "/header-cr", "/http09" } do
    out.malformed[path] = get(t, plain .. path)
  end
  out.small_limit = get(transport{ max_body_bytes = 10 }, test .. "/chunked?n=5&size=7")
  -- headers: ours plus the request's, and a line break never gets through
  local echoed = get(t, test .. "/headers", { ["X-Request-Id"] = "abc-123" })
  out.headers = echoed.body and cjson.decode(echoed.body) or echoed
  out.injection = { pcall(t.request, t, { method = "GET", url = test .. "/headers",
    headers = { ["X-A"] = "1\r\nX-Evil: 1" } }) }
  out.injection[1] = out.injection[1] or false
  -- TLS: the test CA verifies; a certificate for another name or self-signed is refused
  local tls = "https://localhost:"
  out.tls_ok = get(t, tls .. hostile .. "/headers")
  out.tls_wrong_host = get(t, tls .. assert(os.getenv("TEST_TLS_WRONG_HOST_PORT")) .. "/headers")
  out.tls_self_signed = get(t, tls .. assert(os.getenv("TEST_TLS_SELF_SIGNED_PORT")) .. "/headers")
  out.tls_unverified = get(transport{ verify_tls = false },
    tls .. assert(os.getenv("TEST_TLS_WRONG_HOST_PORT")) .. "/headers")
  -- Kerberos cannot be done over cosockets
  t:set_auth{ kind = "negotiate" }
  out.negotiate = get(t, test .. "/headers")
  -- options that would be silently wrong are refused
  out.ca_file = { pcall(airflow.new, { base_url = test, ca_file = "/etc/ssl/certs/ca-certificates.crt" }) }
  out.ca_file[1] = out.ca_file[1] or false
  return reply(out)
end

--- GET /follow_log?dag_id=&dag_run_id=&task_id=: client:follow_log over the NDJSON
-- stream, with the time each line arrived.
function M.follow_log()
  local args = ngx.req.get_uri_args()
  local c = assert(airflow.new{ base_url = base_url(), username = "admin", password = "admin" })
  local lines, times = {}, {}
  ngx.update_time()
  local t0 = ngx.now()
  local n, err = c:follow_log({ dag_id = args.dag_id, dag_run_id = args.dag_run_id, task_id = args.task_id,
    try_number = 1 }, function(entry)
    ngx.update_time()
    lines[#lines + 1] = type(entry) == "table" and entry.event or entry
    times[#times + 1] = ngx.now() - t0
  end)
  return reply{ count = n, error = err_fields(err), lines = lines, times = times }
end

--- GET /timer_poll?dag_id=: triggers a run, then polls it to its end from a timer
-- (ngx.timer.at), as a background job would; the timer writes the final state in
-- the `suite` shared dict. Answers the run id at once.
function M.timer_poll()
  local dag_id = ngx.var.arg_dag_id
  local c = assert(airflow.new{ base_url = base_url(), username = "admin", password = "admin" })
  local run, err = c.dag_run:trigger_dag_run{ dag_id = dag_id, body = { logical_date = airflow.null } }
  if not run then return reply{ error = err_fields(err) } end
  local ok, terr = ngx.timer.at(0, function(premature)
    if premature then return end
    local polls = 0
    local final, werr = c:wait_dag_run(dag_id, run.dag_run_id, { interval = 0.05, max_interval = 0.2,
      timeout = 30, on_poll = function() polls = polls + 1 end })
    ngx.shared.suite:set("timer:" .. run.dag_run_id, cjson.encode{ state = final and final.state,
      polls = polls, error = err_fields(werr), phase = ngx.get_phase() })
  end)
  return reply{ dag_run_id = run.dag_run_id, started = ok and true or false, error = terr }
end

--- GET /timer_result?dag_run_id=: what the timer reported (null until it is done).
function M.timer_result()
  local v = ngx.shared.suite:get("timer:" .. ngx.req.get_uri_args().dag_run_id)
  return reply{ result = v and cjson.decode(v) or cjson.null }
end

--- GET /shared_token: one call with a client sharing its token through the
-- `airflow` shared dict (one client per worker, as an application keeps it).
local shared_client
function M.shared_token()
  shared_client = shared_client or assert(airflow.new{ base_url = base_url(), username = "admin",
    password = "admin", shared_dict = "airflow" })
  local dags, err = shared_client.dag:get_dags{ limit = 1 }
  return reply{ ok = dags ~= nil, error = err_fields(err), worker = ngx.worker.id() }
end

return M
