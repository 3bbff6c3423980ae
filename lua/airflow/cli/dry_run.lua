--- The transport of `airflow-lua --dry-run`: it prints each request the command
-- would send (method, URL, headers with the credentials masked, body) and the same
-- request as a `curl` command line, and sends nothing. Each request then fails with
-- code "aborted", which the command line turns into a quiet exit 0.
--
-- It never sees a secret: the client of a dry run has no credentials (so no token is
-- fetched from /auth/token either), and the transport only knows the kind of
-- credentials the settings name, and the user name for basic auth.
-- @module airflow.cli.dry_run
local util = require("airflow.cli.util")

local M = {}

--- The transport error's message, by which a dry run's end is told apart.
M.MESSAGE = "dry run: nothing was sent"

---@class airflow.cli.DryRunAuth
---@field kind "bearer"|"basic"|"negotiate"|"none" the credentials the real request would carry
---@field user? string the user name, for basic auth
---@field fetched? boolean true when the token would come from POST /auth/token

-- The masked Authorization header line and the curl arguments standing for it.
local function auth_parts(auth)
  local kind = auth.kind
  if kind == "bearer" then
    return "Authorization: Bearer <token>", '-H "Authorization: Bearer $AIRFLOW_TOKEN"'
  elseif kind == "basic" then
    -- the user name is not checked by a client without credentials: no control bytes reach the terminal
    return "Authorization: Basic <base64 of " .. auth.user:gsub("%c", "?") .. ":password>",
      "-u " .. util.shell_quote(auth.user) .. '":$AIRFLOW_PASSWORD"'
  elseif kind == "negotiate" then
    return "Authorization: Negotiate <Kerberos ticket>", "--negotiate -u :"
  end
end

local Transport = {}
Transport.__index = Transport

--- A dry-run transport writing to `out`.
---@param out file* where the requests are printed
---@param auth airflow.cli.DryRunAuth what credentials the real requests would carry
---@return table transport meeting the contract of airflow.transport
function M.new(out, auth)
  return setmetatable({ out = out, auth = auth }, Transport)
end

--- Ignores the credentials: a dry run has none (see `M.new`'s `auth`).
function Transport.set_auth(_, _) end

--- Prints one request and sends nothing.
---@param req airflow.TransportRequest
---@return nil
---@return table err {code = "aborted", message = M.MESSAGE}
function Transport:request(req)
  local names = util.sorted_keys(req.headers or {})
  local lines = { req.method .. " " .. req.url }
  local curl = { "curl", "-X", req.method, util.shell_quote(req.url) }
  local shown, curl_auth = auth_parts(self.auth)
  local auth_done = not shown or req.no_auth
  for _, name in ipairs(names) do
    if type(name) == "string" then
      if not auth_done and name > "Authorization" then
        lines[#lines + 1], curl[#curl + 1], auth_done = shown, curl_auth, true
      end
      lines[#lines + 1] = name .. ": " .. req.headers[name]
      curl[#curl + 1] = "-H " .. util.shell_quote(name .. ": " .. req.headers[name])
    end
  end
  if not auth_done then lines[#lines + 1], curl[#curl + 1] = shown, curl_auth end
  if req.body then
    lines[#lines + 1] = ""
    lines[#lines + 1] = req.body
    curl[#curl + 1] = "--data-binary " .. util.shell_quote(req.body)
  end
  lines[#lines + 1] = ""
  if self.auth.fetched and not req.no_auth then
    lines[#lines + 1] = "# AIRFLOW_TOKEN: a token from POST /auth/token (not fetched: --dry-run sends nothing)"
  end
  lines[#lines + 1] = table.concat(curl, " ")
  self.out:write(table.concat(lines, "\n"), "\n")
  self.out:flush()
  return nil, { code = "aborted", message = M.MESSAGE }
end

--- Prints each request and sends none (for `--all`'s concurrent pages).
---@param reqs airflow.TransportRequest[]
---@return false[] responses
---@return table[] errors
function Transport:request_many(reqs)
  local resps, errs = {}, {}
  for i, req in ipairs(reqs) do
    resps[i], errs[i] = false, select(2, self:request(req))
  end
  return resps, errs
end

--- True when err is the end of a dry run.
---@param err any an airflow.Error or anything else
---@return boolean
function M.is_end(err)
  return type(err) == "table" and err.code == "aborted" and err.detail == M.MESSAGE
end

return M
