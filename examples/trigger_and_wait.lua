-- Trigger a DAG run with a conf, and wait for it to finish.
-- usage: lua5.4 examples/trigger_and_wait.lua [dag_id]
local client = require("examples.connect")()
local dag_id = arg[1] or "example_etl"

local run = assert(client.dag_run:trigger_dag_run{ dag_id = dag_id, body = { conf = { source = "example" } } })
print("triggered " .. run.dag_run_id .. " (" .. run.state .. ")")

local final, err = client:wait_dag_run(dag_id, run.dag_run_id, { timeout = 60, interval = 0.2,
  on_poll = function(r) print("  state: " .. r.state) end })
assert(final, tostring(err))
print("finished: " .. final.state)
os.exit(final.state == "success" and 0 or 1)
