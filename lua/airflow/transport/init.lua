--- The transport contract: what the client needs from a transport, and the
-- transports that come with the library.
--
-- A transport is a table (an object with methods) offering:
--
--   request(req)               required: one exchange; -> response | nil, err
--   set_auth(creds)            required: the credentials for the next requests;
--                              creds = {kind = "none"|"basic"|"bearer"|"negotiate",
--                              user, secret}, the same table while unchanged
--   request_each(reqs, n)      optional: at most n at once, each handed over as it
--                              finishes; -> step, state, nil, closing | nil, err,
--                              where step(state) -> i, response | i, false, err | nil
--   request_many(reqs, n)      optional: at most n at once; -> responses (response
--                              or false each), errors (err or nil each), in order
--   stream(req)                optional: -> stream | nil, err, with stream:next()
--                              -> chunk | false at the end | nil, err,
--                              stream:response() -> {status, headers}, stream:close()
--   sleep(seconds), now()      optional: waiting and a monotonic clock that suit the
--                              transport (nginx's inside OpenResty)
--   close()                    optional
--
-- Requests are {method, url, headers, body, timeout, no_auth}: `headers` maps names
-- to values (header lines "Name: value" in the array part are accepted too), `body`
-- is a string, `no_auth` sends no credentials. Responses are {status, headers, body}
-- with lower-case header names. Errors are {code, message}, `code` one of
-- `M.ERROR_CODES`.
--
-- Each transport module has `new(opts)` and `OPTIONS` (the client options it reads,
-- name -> type); `airflow.new` accepts the union of them.
-- @module airflow.transport

---A request as the pipeline hands it to a transport.
---@class airflow.TransportRequest
---@field method string the HTTP verb
---@field url string the full URL
---@field headers table<string, string> header values by name
---@field body? string
---@field timeout? number seconds, for this request
---@field no_auth? boolean send no credentials

---The credentials the pipeline gives a transport's `set_auth` (the same table while unchanged).
---@class airflow.Credentials
---@field kind "none"|"basic"|"bearer"|"negotiate"
---@field user? string the user name (basic)
---@field secret? string the password (basic) or the token (bearer)

---What a transport offers (see the comment above for the optional methods).
---@class airflow.Transport
---@field request fun(self, req: airflow.TransportRequest): airflow.core.Response?, airflow.core.Error?
---@field set_auth fun(self: airflow.Transport, creds: airflow.Credentials)

local M = {}

--- The transports that come with the library, by name.
M.BUILTIN = { "curl", "ngx", "ngx_subrequest" }

--- The error codes a transport returns.
M.ERROR_CODES = { "timeout", "connect", "resolve", "tls", "too_large", "send", "recv", "protocol",
  "nomem", "invalid", "aborted", "interrupted", "other" }

--- The methods a transport must have.
M.REQUIRED = { "request", "set_auth" }

--- The methods a transport may have.
M.OPTIONAL = { "request_each", "request_many", "stream", "sleep", "now", "close" }

local options

--- The options of every built-in transport (name -> type), their union.
---@return table<string, string> options name -> type
function M.options()
  if not options then
    options = {}
    for _, name in ipairs(M.BUILTIN) do
      for k, t in pairs(require("airflow.transport." .. name).OPTIONS) do
        if options[k] == nil or options[k] == "any" then options[k] = t end -- the more precise type
      end
    end
  end
  return options
end

--- The name of the transport to use when none is given: inside nginx (OpenResty)
-- the non-blocking "ngx" one (cosockets), since libcurl would block the worker;
-- "curl" elsewhere.
---@return "ngx"|"curl"
function M.default_name()
  local ngx = rawget(_G, "ngx")
  if type(ngx) == "table" and type(ngx.get_phase) == "function" then return "ngx" end
  return "curl"
end

--- Checks that a value meets the contract; raises naming what is missing.
-- @param t the transport
-- @param level the stack level to blame
-- @return t
---@param t any
---@param level? integer
---@return table transport
function M.check(t, level)
  level = (level or 1) + 1
  if type(t) ~= "table" then
    error("airflow: option 'transport' must be \"curl\", \"ngx\" or a transport table, got " .. type(t), level)
  end
  local missing = {}
  for _, name in ipairs(M.REQUIRED) do
    if type(t[name]) ~= "function" then missing[#missing + 1] = name end
  end
  for _, name in ipairs(M.OPTIONAL) do
    if t[name] ~= nil and type(t[name]) ~= "function" then
      error(("airflow: transport: '%s' must be a function, got %s"):format(name, type(t[name])), level)
    end
  end
  if #missing > 0 then
    error("airflow: transport lacks " .. table.concat(missing, " and ") .. " (see airflow.transport)", level)
  end
  return t
end

--- Creates a built-in transport by name.
-- @param name "curl", "ngx" or "ngx_subrequest"
-- @param opts the client options
-- @return the transport, or nil, err ({code, message})
---@param name string one of M.BUILTIN
---@param opts table the client options
---@return airflow.Transport|nil transport
---@return airflow.core.Error|nil err
function M.new(name, opts)
  local known = false
  for _, n in ipairs(M.BUILTIN) do known = known or n == name end
  if not known then
    error(("airflow: unknown transport '%s' (\"%s\" or a transport table)"):format(tostring(name),
      table.concat(M.BUILTIN, "\", \"")), 3)
  end
  return require("airflow.transport." .. name).new(opts)
end

return M
