-- Clear the failed task instances of a run, so the scheduler runs them again.
-- usage: lua5.4 examples/clear_failed.lua [dag_id]
local client = require("examples.connect")()
local dag_id = arg[1] or "example_etl"

-- a run that fails (the fake Airflow fails runs whose conf says so)
local run = assert(client.dag_run:trigger_dag_run{ dag_id = dag_id, body = { conf = { fail = true } } })
run = assert(client:wait_dag_run(dag_id, run.dag_run_id, { timeout = 60, interval = 0.2 }))
print(run.dag_run_id .. " ended " .. run.state)

local failed = assert(client:collect("task_instance.get_task_instances",
  { dag_id = dag_id, dag_run_id = run.dag_run_id, state = { "failed" } }))
print(("%d failed task instances"):format(#failed))
local task_ids = {}
for _, ti in ipairs(failed) do task_ids[#task_ids + 1] = ti.task_id end
if #task_ids == 0 then return end

local cleared = assert(client.task_instance:post_clear_task_instances{ dag_id = dag_id, body = {
  dry_run = false, dag_run_id = run.dag_run_id, task_ids = task_ids, only_failed = true,
} })
print(("cleared %d task instances"):format(#(cleared.task_instances or {})))
