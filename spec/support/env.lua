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

--- A client of a fake Airflow (default FAKE_AIRFLOW_URL) as admin, without retries;
-- `opts` adds or overrides options.
function M.client(base, opts)
  local o = { base_url = base or M.need("FAKE_AIRFLOW_URL"), username = "admin", password = "admin", retries = 0 }
  for k, v in pairs(opts or {}) do o[k] = v end
  return assert(require("airflow").new(o))
end

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

--- Runs bin/airflow-lua as admin of the fake Airflow (FAKE_AIRFLOW_URL), in a clean
-- environment. Returns stdout, stderr and the exit code.
function M.cli(argv)
  local err_file = os.tmpname()
  local parts = { "env", "-i", "PATH=" .. shell_quote(os.getenv("PATH")), "HOME=/nonexistent",
    "AIRFLOW_URL=" .. shell_quote(M.need("FAKE_AIRFLOW_URL")), "AIRFLOW_USERNAME=admin", "AIRFLOW_PASSWORD=admin",
    "bin/airflow-lua" }
  for _, a in ipairs(argv) do parts[#parts + 1] = shell_quote(a) end
  local p = assert(io.popen(table.concat(parts, " ") .. " 2>" .. err_file .. "; echo __rc=$?"))
  local out = p:read("a")
  p:close()
  local f = assert(io.open(err_file))
  local err = f:read("a")
  f:close()
  os.remove(err_file)
  local body, rc = out:match("^(.-)__rc=(%d+)\n$")
  return body, err, tonumber(rc)
end

--- The text of a file, or nil, err when it cannot be read.
function M.read(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local text = f:read("a")
  f:close()
  return text
end

--- The non-empty lines of a text.
function M.lines(text)
  local out = {}
  for l in text:gmatch("[^\n]+") do out[#out + 1] = l end
  return out
end

return M
