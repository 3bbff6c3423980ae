-- luacheck: globals ngx
--- The in-nginx side of spec/openresty/openresty_spec.lua (spec/openresty/nginx.conf
-- wires these functions to locations). Each answers JSON for the spec to check.
local airflow = require("airflow")
local cjson = require("cjson.safe")
local calls = require("calls")

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

--- init_worker_by_lua: no request here, so the client (no transport given) must
-- raise a clear error rather than block the worker; the same in a timer.
function M.init_worker()
  local c = assert(airflow.new{ base_url = base_url() })
  local ok, err = pcall(function() return c.version:get_version() end)
  ngx.log(ngx.WARN, "init_worker check: transport ", c.transport.name, ": ",
    ok and "the call went through" or tostring(err))
  ngx.timer.at(0, function()
    local tok, terr = pcall(function() return c.version:get_version() end)
    ngx.log(ngx.WARN, "timer check: ", tok and "the call went through" or tostring(terr))
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
  local items, err = collect_client:collect("variable.get_variables", {}, { concurrency = 4 })
  ngx.update_time()
  if not items then return reply{ error = err_fields(err) } end
  local seen, distinct = {}, 0
  for _, item in ipairs(items) do
    if not seen[item.key] then seen[item.key], distinct = true, distinct + 1 end
  end
  return reply{ count = #items, distinct = distinct, seconds = ngx.now() - t0 }
end

--- GET /errors: how failures come back (see the spec for the fake's setup).
function M.errors()
  local out = {}
  local function client(opts)
    local o = { base_url = base_url(), username = "admin", password = "admin", retries = 0 }
    for k, v in pairs(opts or {}) do o[k] = v end
    return assert(airflow.new(o))
  end

  -- nothing listens on port 1: nginx's own 502 is a connect error
  local c = assert(airflow.new{ base_url = "http://127.0.0.1:1", token = "t", retries = 0,
    ngx_location = "/_airflow_short" })
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
  local t = assert(require("airflow.transport.ngx").new{ user_agent = "suite" })
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

return M
