-- The official Python client's smoke-test flow: version, DAGs, runs, task
-- instances, variables, pools, connections, config.
local client = require("examples.connect")()

local function step(name, value, err)
  if not value then
    io.stderr:write("FAILED ", name, ": ", tostring(err), "\n")
    os.exit(1)
  end
  print(("%-28s ok"):format(name))
  return value
end

local version = step("version", client.version:get_version())
print("  Airflow " .. version.version)

local dags = step("dags", client.dag:get_dags{ limit = 5 })
print(("  %d DAGs, first: %s"):format(dags.total_entries, dags.dags[1] and dags.dags[1].dag_id or "-"))
local dag_id = dags.dags[1].dag_id

local runs = step("dag runs", client.dag_run:get_dag_runs{ dag_id = dag_id, limit = 5 })
print(("  %d runs of %s"):format(runs.total_entries, dag_id))

local tis = step("task instances", client.task_instance:get_task_instances{ dag_id = "~", dag_run_id = "~", limit = 5 })
print(("  %d task instances in all"):format(tis.total_entries))

step("create variable", client.variable:post_variable{ body = { key = "smoke_test", value = "42" } })
local var = step("get variable", client.variable:get_variable("smoke_test"))
print("  smoke_test = " .. var.value)
step("delete variable", client.variable:delete_variable("smoke_test"))

local pools = step("pools", client.pool:get_pools())
print(("  %d pools"):format(pools.total_entries))

local conns = step("connections", client.connection:get_connections{ limit = 5 })
print(("  %d connections"):format(conns.total_entries))

local config, err = client.config:get_config()
if config then
  print(("%-28s ok"):format("config"))
elseif err.kind == "PermissionDenied" or err.kind == "NotFound" then
  print(("%-28s %s (expose_config is off)"):format("config", err.kind))
else
  step("config", nil, err)
end
print("smoke test passed")
