--- The library calls the OpenResty spec makes twice: inside nginx (the ngx
-- transport, chosen automatically) and from busted (the curl transport). Both
-- runs return the same table when the transports behave the same; fields that
-- differ by nature (times, generated ids) are left out.
local airflow = require("airflow")

local function pick(t, keys)
  if type(t) ~= "table" then return t end
  local out = {}
  for _, k in ipairs(keys) do out[k] = t[k] end
  return out
end

local function failure(err)
  return { kind = err.kind, status = err.status, code = err.code }
end

--- Runs the calls against a fake Airflow freshly reset and seeded with 250 variables.
-- @param base_url the Airflow URL
-- @param opts extra client options (e.g. transport)
-- @return the results table, and the client
return function(base_url, opts)
  local o = { base_url = base_url, username = "admin", password = "admin", retries = 0 }
  for k, v in pairs(opts or {}) do o[k] = v end
  local c = assert(airflow.new(o))
  local out = {}

  local v, err = c.version:get_version()
  out.version = v and pick(v, { "version", "git_version" }) or failure(err)

  local dags
  dags, err = c.dag:get_dags{ limit = 100 }
  if dags then
    local ids = {}
    for _, d in ipairs(dags.dags) do ids[#ids + 1] = d.dag_id end
    out.dags = { total = dags.total_entries, ids = ids }
  else
    out.dags = failure(err)
  end

  local run
  run, err = c.dag_run:trigger_dag_run{ dag_id = "example_etl",
    body = { dag_run_id = "suite_run", conf = { source = "suite", n = 3 } } }
  out.trigger = run and pick(run, { "dag_id", "dag_run_id", "state", "run_type", "conf" }) or failure(err)

  local again
  again, err = c.dag_run:trigger_dag_run{ dag_id = "example_etl", body = { dag_run_id = "suite_run" } }
  out.trigger_again = again and "accepted twice" or failure(err)

  run, err = c.dag_run:get_dag_run("example_etl", "suite_run")
  out.get_run = run and pick(run, { "dag_id", "dag_run_id", "run_type", "conf" }) or failure(err)

  local missing
  missing, err = c.dag:get_dag("no_such_dag")
  out.not_found = missing and "found" or failure(err)

  local items, total = c:collect("variable.get_variables", {}, { concurrency = 4 })
  if items then
    local keys = {}
    for i, item in ipairs(items) do keys[i] = item.key end
    out.collect = { count = #items, total = total, keys = keys }
  else
    out.collect = failure(total)
  end

  local dag
  dag, err = c.dag:patch_dag{ dag_id = "example_etl", body = { is_paused = true } }
  out.patch = dag and pick(dag, { "dag_id", "is_paused" }) or failure(err)

  local deleted
  deleted, err = c.variable:delete_variable("var_000")
  out.delete = deleted or failure(err)
  deleted, err = c.variable:delete_variable("var_000")
  out.delete_again = deleted or failure(err)

  out.auth = { describe = tostring(c) }
  return out, c
end
