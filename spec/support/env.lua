--- Test support: the URLs of the servers tools/with-servers started.
-- A spec that needs a server fails loudly when it is missing, never passes silently.
local M = {}

--- The value of an environment variable the test command must set.
function M.need(name)
  local v = os.getenv(name)
  if not v or v == "" then
    error(name .. " is not set: run the specs through `make test` (tools/with-servers)", 2)
  end
  return v
end

--- A loopback port nobody listens on: the kernel lends one, and we let it go.
function M.closed_port()
  local socket = require("socket")
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return port
end

--- POSTs a JSON body to the fake Airflow's control API (raw session, no client);
-- `base` names another fake (default FAKE_AIRFLOW_URL).
function M.fake_control(path, body, base)
  local core = require("airflow.core")
  local s = core.session()
  local res, err = s:request{ method = "POST", url = (base or M.need("FAKE_AIRFLOW_URL")) .. path,
    headers = { ["Content-Type"] = "application/json" }, body = body or "{}" }
  s:close()
  assert(res, err and err.message)
  assert(res.status < 300, "control call " .. path .. " answered " .. res.status .. ": " .. res.body)
  return res
end

--- GETs a control endpoint and decodes it (of the fake at `base`, by default FAKE_AIRFLOW_URL).
function M.fake_get(path, base)
  local core = require("airflow.core")
  local s = core.session()
  local res = assert(s:request{ url = (base or M.need("FAKE_AIRFLOW_URL")) .. path })
  s:close()
  return require("airflow.json").decode(res.body)
end

return M
