-- Print a task's log line by line as it arrives.
-- usage: lua5.4 examples/follow_log.lua [dag_id] [task_id]
local client = require("examples.connect")()
local dag_id, task_id = arg[1] or "example_etl", arg[2] or "extract"

local run = assert(client.dag_run:trigger_dag_run{ dag_id = dag_id })
run = assert(client:wait_dag_run(dag_id, run.dag_run_id, { timeout = 60, interval = 0.2 }))
local n = assert(client:follow_log({ dag_id = dag_id, dag_run_id = run.dag_run_id, task_id = task_id,
  try_number = 1 }, function(line)
  print(type(line) == "table" and (line.event or require("airflow.json").encode(line)) or line)
end))
print(("(%d log lines)"):format(n))
