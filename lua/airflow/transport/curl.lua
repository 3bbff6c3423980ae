--- The default transport: an airflow.core (libcurl) session.
-- It meets the contract written in airflow.transport.
-- @module airflow.transport.curl
local core = require("airflow.core")

local M = {}
M.__index = M

--- The client options this transport reads (name -> type): the session's options,
-- named once in airflow.core (core.SESSION_OPTIONS); the session checks their values.
M.OPTIONS = {}
for _, name in ipairs(core.SESSION_OPTIONS) do M.OPTIONS[name] = "any" end

--- Creates a transport from the client options (only session options are read).
---@param opts table the client options
---@return airflow.Transport|nil transport
---@return airflow.core.Error|nil err
function M.new(opts)
  local session_opts = {}
  for k in pairs(M.OPTIONS) do session_opts[k] = opts[k] end
  local ok, session, err = pcall(core.session, session_opts)
  if not ok then -- a bad option value: name it as the client's option, at the caller
    error("airflow: option " .. tostring(session):gsub("^.-airflow%.core%.session: ", ""), 3)
  end
  if not session then return nil, err end
  return setmetatable({ session = session, applied = false, name = "curl" }, M)
end

--- Applies credentials: {kind = "basic"|"bearer"|"negotiate"|"none", user, secret}.
-- The client hands over the same table while its credentials are unchanged, so an
-- unchanged table costs one comparison; a different table with the same contents
-- is still not sent to libcurl again.
---@param auth airflow.Credentials|nil
function M:set_auth(auth)
  if auth == self.applied then return end
  local last = self.applied
  if not (auth and last and auth.kind == last.kind and auth.user == last.user and auth.secret == last.secret) then
    if auth then
      self.session:set_auth(auth.kind, auth.user, auth.secret)
    else
      self.session:set_auth("none")
    end
  end
  self.applied = auth or false
end

--- Performs one request.
---@param req airflow.TransportRequest
---@return airflow.core.Response|nil response
---@return airflow.core.Error|nil err
function M:request(req)
  return self.session:request(req)
end

--- Performs many requests, at most `concurrency` at once; results in input order.
-- @return responses (response or false each), errors (err or nil each)
---@param reqs airflow.TransportRequest[]
---@param concurrency integer
---@return (airflow.core.Response|false)[] responses
---@return (airflow.core.Error|nil)[] errors
function M:request_many(reqs, concurrency)
  return self.session:request_many(reqs, concurrency)
end

--- Performs many requests, at most `concurrency` at once, handing each response
-- over as soon as it finishes: `for i, res, err in t:request_each(reqs, n)`.
-- @return the iterator, its state, nil, and the batch (to close early); or nil, err
---@param reqs airflow.TransportRequest[]
---@param concurrency integer
function M:request_each(reqs, concurrency)
  return self.session:request_each(reqs, concurrency)
end

--- Opens a streamed request (see airflow.core stream:next()).
---@param req airflow.TransportRequest
---@return airflow.core.Stream|nil stream
---@return airflow.core.Error|nil err
function M:stream(req)
  return self.session:stream(req)
end

--- Closes the session.
function M:close()
  self.session:close()
end

return M
