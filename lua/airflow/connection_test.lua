--- Testing a connection asynchronously (Airflow 3.3): `client:test_connection(body, opts)`
-- enqueues the test and polls it, with the token the server gave, until it has a result.
-- @module airflow.connection_test
local wait = require("airflow.wait")

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
  local queued, err = client.connection:enqueue_connection_test{ body = body }
  if not queued then return nil, err end
  return wait.poll(client, function()
    return client.connection:get_connection_test{ [TOKEN_HEADER] = queued.token }
  end, function(test) return M.TERMINAL[test.state] end, {
    timeout = opts.timeout or 60, interval = opts.interval or 0.5, max_interval = opts.max_interval or 5,
    on_poll = opts.on_poll, what = "connection test",
    late = function(test, timeout)
      return ("the test of %s is still %s after %g s"):format(tostring(queued.connection_id),
        tostring(test.state), timeout)
    end,
  })
end

--- The client methods of this module.
M.methods = { test_connection = M.test_connection }
return M
