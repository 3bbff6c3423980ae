--- Clearing failed tasks: `client:clear_failed(dag_id, opts)` clears the failed task
-- instances of a DAG (of one run, or of every run), so the scheduler runs them again.
-- The same call on Airflow 3 (`task_instance.post_clear_task_instances`) and Airflow 2
-- (`dag.post_clear_task_instances`). Like Airflow's own clear, it can be a dry run that
-- only lists what would be cleared.
-- @module airflow.clear_failed

local M = {}

-- The clear operation of each API.
local CLEAR_OP = { v2 = "task_instance.post_clear_task_instances", v1 = "dag.post_clear_task_instances" }

--- Clears the failed task instances of a DAG.
-- @return the task instances cleared (or, with dry_run, those that would be), or nil, err
---@param client airflow.Client
---@param dag_id string
---@param opts? { dag_run_id?: string, task_ids?: string[], dry_run?: boolean, include_downstream?: boolean }
---@return table[]|nil task_instances
---@return airflow.Error|nil err
function M.clear_failed(client, dag_id, opts)
  if type(dag_id) ~= "string" then error("airflow: clear_failed expects a DAG id (string) first", 2) end
  if opts ~= nil and type(opts) ~= "table" then error("airflow: clear_failed: options must be a table", 2) end
  opts = opts or {}
  local api, err = client:api_version()
  if not api then return nil, err end
  local body = { only_failed = true, dry_run = opts.dry_run == true, dag_run_id = opts.dag_run_id,
    task_ids = opts.task_ids, include_downstream = opts.include_downstream }
  local res, cerr = client:call(CLEAR_OP[api], { dag_id = dag_id, body = body })
  if not res then return nil, cerr end
  return type(res) == "table" and res.task_instances or {}
end

--- The client methods of this module.
M.methods = { clear_failed = M.clear_failed }

return M
