--- DAG runs in bulk (Airflow 3.3): `client:update_dag_runs`, `client:delete_dag_runs` (one
-- `bulk_dag_runs` call each) and `client:clear_dag_runs` (`clear_dag_runs`, a dry run
-- unless `dry_run = false`).
-- @module airflow.dag_runs

local M = {}

local function check_dag(dag_id, what)
  if type(dag_id) ~= "string" then error(("airflow: %s expects a DAG id (string) first"):format(what), 3) end
end

-- The bulk call of one action; the action's result ({success = {...}, errors = {...}}).
local function bulk(client, dag_id, action)
  local res, err = client.dag_run:bulk_dag_runs{ dag_id = dag_id, body = { actions = { action } } }
  if not res then return nil, err end
  return res[action.action] or res
end

--- Updates many runs of a DAG in one call.
-- @param runs a list of {dag_run_id = ..., state = "success" | "failed" | "queued", note = ...}
-- @param opts {update_mask = {"state"}, action_on_non_existence = "fail" | "skip"}
-- @return {success = {run ids}, errors = {...}}, or nil, err
---@param client airflow.Client
---@param dag_id string
---@param runs table[]
---@param opts? { update_mask?: string[], action_on_non_existence?: string }
---@return table|nil result
---@return airflow.Error|nil err
function M.update_dag_runs(client, dag_id, runs, opts)
  check_dag(dag_id, "update_dag_runs")
  if type(runs) ~= "table" or #runs == 0 then error("airflow: update_dag_runs: runs must be a non-empty list", 2) end
  opts = opts or {}
  return bulk(client, dag_id, { action = "update", entities = runs, update_mask = opts.update_mask,
    action_on_non_existence = opts.action_on_non_existence })
end

--- Deletes many runs of a DAG in one call.
-- @param run_ids a list of run ids
-- @param opts {action_on_non_existence = "fail" | "skip"}
-- @return {success = {run ids}, errors = {...}}, or nil, err
---@param client airflow.Client
---@param dag_id string
---@param run_ids string[]
---@param opts? { action_on_non_existence?: string }
---@return table|nil result
---@return airflow.Error|nil err
function M.delete_dag_runs(client, dag_id, run_ids, opts)
  check_dag(dag_id, "delete_dag_runs")
  if type(run_ids) ~= "table" or #run_ids == 0 then
    error("airflow: delete_dag_runs: run_ids must be a non-empty list", 2)
  end
  for i, id in ipairs(run_ids) do
    if type(id) ~= "string" then error(("airflow: delete_dag_runs: run_ids[%d] must be a string"):format(i), 2) end
  end
  return bulk(client, dag_id, { action = "delete", entities = run_ids,
    action_on_non_existence = (opts or {}).action_on_non_existence })
end

--- Clears runs of a DAG (their task instances run again). A dry run unless
-- `dry_run = false`, as Airflow's default: it then lists what it would clear.
-- @param opts the body of dag_run.clear_dag_runs: {dry_run = true, only_failed = false,
--   only_new = false, dag_runs = {{dag_run_id = ...}}, note = ..., ...}
-- @return the server's answer (the task instances or runs concerned), or nil, err
---@param client airflow.Client
---@param dag_id string
---@param opts? table
---@return table|nil result
---@return airflow.Error|nil err
function M.clear_dag_runs(client, dag_id, opts)
  check_dag(dag_id, "clear_dag_runs")
  return client.dag_run:clear_dag_runs{ dag_id = dag_id, body = opts or {} }
end

--- The client methods of this module.
M.methods = { update_dag_runs = M.update_dag_runs, delete_dag_runs = M.delete_dag_runs,
  clear_dag_runs = M.clear_dag_runs }
return M
