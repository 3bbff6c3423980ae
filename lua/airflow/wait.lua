--- Waiting for a DAG run to finish: `client:wait_dag_run(dag_id, dag_run_id, opts)`.
-- @module airflow.wait
local Error = require("airflow.error")

local M = {}

--- Run states after which nothing changes any more.
M.TERMINAL = { success = true, failed = true, canceled = true }

--- Polls a DAG run with growing intervals until it reaches a terminal state.
-- @param dag_id the DAG
-- @param dag_run_id the run
-- @param opts {timeout = 3600, interval = 1, max_interval = 30, on_poll = function(run)}
-- @return the run (its `state` is terminal), or nil, err (kind "Timeout" when time ran out)
---@param client airflow.Client
---@param dag_id string
---@param dag_run_id string
---@param opts? { timeout?: number, interval?: number, max_interval?: number, on_poll?: fun(run: table) }
---@return table|nil run
---@return airflow.Error|nil err
function M.wait_dag_run(client, dag_id, dag_run_id, opts)
  if type(dag_id) ~= "string" or type(dag_run_id) ~= "string" then
    error("airflow: wait_dag_run(dag_id, dag_run_id [, opts]) expects two strings", 2)
  end
  opts = opts or {}
  return M.poll(client, function()
    return client.dag_run:get_dag_run{ dag_id = dag_id, dag_run_id = dag_run_id }
  end, function(run) return M.TERMINAL[run.state] end, {
    timeout = opts.timeout or 3600, interval = opts.interval or 1, max_interval = opts.max_interval or 30,
    on_poll = opts.on_poll, what = "wait",
    late = function(run, timeout)
      return ("run %s of %s is still %s after %g s"):format(dag_run_id, dag_id, tostring(run.state), timeout)
    end,
  })
end

--- Polls with growing intervals (x1.5 up to max_interval) until `done(value)`: the
-- one polling loop of the helpers.
-- @param fetch function() -> value | nil, err (one poll)
-- @param done function(value) -> true when value is final
-- @param o {timeout, interval, max_interval, on_poll = function(value), what = "wait"
--   (the error's title: "<what> timed out"), late = function(value, timeout) -> detail}
-- @return the final value, or nil, err (kind "Timeout" when time ran out)
---@param client airflow.Client
---@param fetch fun(): any, airflow.Error|nil
---@param done fun(value: any): boolean
---@param o table
---@return any|nil value
---@return airflow.Error|nil err
function M.poll(client, fetch, done, o)
  local interval = o.interval
  local deadline = client.now() + o.timeout
  while true do
    local value, err = fetch()
    if not value then return nil, err end
    if o.on_poll then o.on_poll(value) end
    if done(value) then return value end
    local left = deadline - client.now()
    if left <= 0 then
      return nil, Error.new{ kind = "Timeout", title = o.what .. " timed out", detail = o.late(value, o.timeout) }
    end
    client.sleep(math.min(interval, left))
    interval = math.min(interval * 1.5, o.max_interval)
  end
end

--- The client methods of this module.
M.methods = { wait_dag_run = M.wait_dag_run }
return M
