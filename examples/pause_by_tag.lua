-- Pause every DAG carrying a tag (then unpause them again, so the example is repeatable).
-- usage: lua5.4 examples/pause_by_tag.lua [tag]
local client = require("examples.connect")()
local tag = arg[1] or "etl"

local dags = assert(client:collect("dag.get_dags", { tags = { tag } }))
for _, dag in ipairs(dags) do
  assert(client.dag:patch_dag{ dag_id = dag.dag_id, update_mask = { "is_paused" }, body = { is_paused = true } })
  print("paused " .. dag.dag_id)
end
for _, dag in ipairs(dags) do
  assert(client:update("dag.patch_dag", { dag_id = dag.dag_id }, { is_paused = false }))
  print("unpaused " .. dag.dag_id)
end
print(("%d DAGs tagged %q"):format(#dags, tag))
