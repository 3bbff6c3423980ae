-- luacheck: globals ngx
--- A small webhook gateway in front of Airflow, for nginx + lua-nginx-module
-- (see nginx.conf beside this file):
--
--   POST /hooks/<dag_id>         body = the run's conf (JSON object, may be empty)
--                                -> 200 and the new DAG run as JSON
--   GET  /runs/<dag_id>/<run_id> -> 200 {"state": "..."}
--
-- Airflow's URL and credentials come from the environment: AIRFLOW_URL,
-- AIRFLOW_USERNAME / AIRFLOW_PASSWORD or AIRFLOW_TOKEN (declared with `env` in
-- nginx.conf). The client is made once per worker; inside nginx it picks the
-- non-blocking "ngx" (cosocket) transport by itself, so a slow Airflow never blocks
-- the worker, and nginx.conf needs no location for it. The workers share one token
-- through the `airflow` lua_shared_dict.
local airflow = require("airflow")
local cjson = require("cjson.safe")

local M = {}

local function env(name)
  local v = os.getenv(name)
  if v == "" then return nil end
  return v
end

local client
local function get_client()
  if client then return client end
  local c, err = airflow.new{
    base_url = env("AIRFLOW_URL") or "http://127.0.0.1:8080",
    username = env("AIRFLOW_USERNAME"),
    password = env("AIRFLOW_PASSWORD"),
    token = env("AIRFLOW_TOKEN"),
    shared_dict = env("AIRFLOW_TOKEN") == nil and "airflow" or nil,
    retries = 2,
  }
  if not c then return nil, err end
  client = c
  return c
end

local function reply(status, value)
  ngx.status = status
  ngx.header["Content-Type"] = "application/json"
  ngx.say(cjson.encode(value))
  return ngx.exit(ngx.HTTP_OK)
end

-- An Airflow error becomes the same status (404 stays 404); a transport failure
-- (Airflow unreachable or too slow) becomes 502 or 504.
local function reply_error(err)
  local status = err.status or (err.code == "timeout" and 504 or 502)
  return reply(status, { error = tostring(err), kind = err.kind })
end

--- POST /hooks/<dag_id>: triggers a run with the request body as its conf.
function M.trigger(dag_id)
  if ngx.req.get_method() ~= "POST" then
    ngx.header["Allow"] = "POST"
    return reply(405, { error = "use POST" })
  end
  ngx.req.read_body()
  local text = ngx.req.get_body_data()
  local conf = {}
  if text and text:find("%S") then
    conf = cjson.decode(text)
    if type(conf) ~= "table" then return reply(400, { error = "the body must be a JSON object" }) end
  end
  local c, cerr = get_client()
  if not c then return reply_error(cerr) end
  local run, err = c.dag_run:trigger_dag_run{ dag_id = dag_id, body = { conf = conf } }
  if not run then return reply_error(err) end
  return reply(200, run)
end

--- GET /runs/<dag_id>/<run_id>: the run's state.
function M.state(dag_id, run_id)
  local c, cerr = get_client()
  if not c then return reply_error(cerr) end
  local run, err = c.dag_run:get_dag_run{ dag_id = dag_id, dag_run_id = run_id }
  if not run then return reply_error(err) end
  return reply(200, { state = run.state })
end

-- The routes: nginx.conf hands each prefix to its handler, and the path's parts are
-- taken from one read of ngx.var.uri (the decoded, normalised path, as a regex
-- location sees it). Each ngx.var read is a costly call into nginx: reading two named
-- regex captures cost more CPU per request than all the rest of the gateway's own work.
local ROUTES = {
  hooks = { "^/hooks/([A-Za-z0-9_.-]+)$", M.trigger },
  runs = { "^/runs/([A-Za-z0-9_.-]+)/([^/]+)$", M.state },
}

local function route(name)
  local r = ROUTES[name]
  local a, b = ngx.var.uri:match(r[1])
  if not a then return ngx.exit(ngx.HTTP_NOT_FOUND) end
  return r[2](a, b)
end

--- location /hooks/: POST /hooks/<dag_id> (M.trigger); any other path under it is 404.
function M.hooks() return route("hooks") end

--- location /runs/: GET /runs/<dag_id>/<run_id> (M.state); any other path under it is 404.
function M.runs() return route("runs") end

return M
