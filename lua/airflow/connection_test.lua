--- Testing a connection asynchronously (Airflow 3.3): `client:test_connection(body, opts)`
-- enqueues the test and polls it, with the token the server gave, until it has a result.
-- @module airflow.connection_test
local Error = require("airflow.error")

local M = {}

--- Test states after which nothing changes any more.
M.TERMINAL = { success = true, failed = true }

--- The header that carries the test's token on each poll.
local TOKEN_HEADER = "Airflow-Connection-Test-Token"

--- Enqueues a connection test and polls it with growing intervals until it ends.
-- @param body the connection to test: {connection_id, conn_type, host, login, password, ...}
--   (the body of connection.enqueue_connection_test)
-- @param opts {timeout = 60, interval = 0.5, max_interval = 5, on_poll = function(test)}
-- @return the finished test ({state = "success" | "failed", result_message, ...}), or nil,
--   err (kind "Timeout" when time ran out)
---@param client airflow.Client
---@param body table
---@param opts? { timeout?: number, interval?: number, max_interval?: number, on_poll?: fun(test: table) }
---@return table|nil test
---@return airflow.Error|nil err
function M.test_connection(client, body, opts)
  if type(body) ~= "table" then error("airflow: test_connection(body [, opts]) expects a table", 2) end
  opts = opts or {}
  local timeout = opts.timeout or 60
  local interval = opts.interval or 0.5
  local max_interval = opts.max_interval or 5
  local deadline = client.now() + timeout
  local queued, err = client.connection:enqueue_connection_test{ body = body }
  if not queued then return nil, err end
  while true do
    local test, perr = client.connection:get_connection_test{ [TOKEN_HEADER] = queued.token }
    if not test then return nil, perr end
    if opts.on_poll then opts.on_poll(test) end
    if M.TERMINAL[test.state] then return test end
    local left = deadline - client.now()
    if left <= 0 then
      return nil, Error.new{ kind = "Timeout", title = "connection test timed out",
        detail = ("the test of %s is still %s after %g s"):format(tostring(queued.connection_id),
          tostring(test.state), timeout) }
    end
    client.sleep(math.min(interval, left))
    interval = math.min(interval * 1.5, max_interval)
  end
end

--- The client methods of this module.
M.methods = { test_connection = M.test_connection }
return M
