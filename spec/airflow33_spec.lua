-- The operations and parameters Airflow 3.3 added, called through the library against
-- the fake Airflow as 3.3 (FAKE_AIRFLOW_URL) and as 3.2.1 (FAKE_AIRFLOW_32_URL).
local airflow = require("airflow")
local core = require("airflow.core")
local env = require("env")

local url = env.need("FAKE_AIRFLOW_URL")
local url32 = env.need("FAKE_AIRFLOW_32_URL")

local client = env.client

local RUN = { dag_id = "example_etl", dag_run_id = "scheduled__2025-01-01T00:00:00+00:00", task_id = "extract" }

local function with(t, extra)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  for k, v in pairs(extra) do out[k] = v end
  return out
end

-- Keys with what a path needs to encode: a slash (the key is a {key:path}), percent,
-- spaces, unicode, and a dot-dot segment.
local KEYS = { "plain", "dir/sub/leaf", "50% done", "with space", "ünïcode", "../up" }

before_each(function() env.fake_control("/_fake/reset") end)

describe("task state store (3.3)", function()
  it("stores, reads, lists, patches and deletes values under keys that need encoding", function()
    local c = client()
    for i, key in ipairs(KEYS) do
      assert(c.task_state_store:set_task_state_store(with(RUN, { key = key, body = { value = { n = i } } })))
    end
    for i, key in ipairs(KEYS) do
      local entry = assert(c.task_state_store:get_task_state_store(with(RUN, { key = key })))
      assert.equal(key, entry.key)
      assert.equal(i, entry.value.n)
    end
    local list = assert(c.task_state_store:list_task_state_store(RUN))
    assert.equal(#KEYS, list.total_entries)
    local patched = assert(c.task_state_store:patch_task_state_store(with(RUN, { key = "dir/sub/leaf",
      body = { value = "new" } })))
    assert.equal("new", patched.value)
    assert.is_true(c.task_state_store:delete_task_state_store(with(RUN, { key = "50% done" })))
    local _, err = c.task_state_store:get_task_state_store(with(RUN, { key = "50% done" }))
    assert.equal("NotFound", err.kind)
    assert.is_true(c.task_state_store:clear_task_state_store(RUN))
    assert.equal(0, assert(c.task_state_store:list_task_state_store(RUN)).total_entries)
  end)

  it("is per task instance: another task does not see the values", function()
    local c = client()
    assert(c.task_state_store:set_task_state_store(with(RUN, { key = "k", body = { value = 1 } })))
    local _, err = c.task_state_store:get_task_state_store(with(RUN, { task_id = "load", key = "k" }))
    assert.equal("NotFound", err.kind)
  end)
end)

describe("asset state store (3.3)", function()
  it("stores and lists values of an asset, and refuses an unknown asset", function()
    local c = client()
    for i, key in ipairs(KEYS) do
      assert(c.asset_state_store:set_asset_state_store{ asset_id = 1, key = key, body = { value = i } })
    end
    assert.equal(3, assert(c.asset_state_store:get_asset_state_store{ asset_id = 1, key = "50% done" }).value)
    local list = assert(c.asset_state_store:list_asset_state_store{ asset_id = 1, limit = 2 })
    assert.equal(#KEYS, list.total_entries)
    assert.equal(2, #list.asset_state_store)
    assert.is_true(c.asset_state_store:delete_asset_state_store{ asset_id = 1, key = "dir/sub/leaf" })
    assert.is_true(c.asset_state_store:clear_asset_state_store{ asset_id = 1 })
    local _, err = c.asset_state_store:get_asset_state_store{ asset_id = 999, key = "x" }
    assert.equal("NotFound", err.kind)
  end)
end)

describe("asynchronous connection test (3.3)", function()
  -- Polls with the token header until the test has a result.
  local function result(c, token)
    local deadline = core.now() + 10
    while true do
      local t = assert(c.connection:get_connection_test{ ["Airflow-Connection-Test-Token"] = token })
      if t.state == "success" or t.state == "failed" then return t end
      assert(core.now() < deadline, "the connection test never finished")
      core.sleep(0.05)
    end
  end

  it("enqueues a test and reports its outcome to a poll carrying the token", function()
    local c = client()
    local good = assert(c.connection:enqueue_connection_test{ body = { connection_id = "ok", conn_type = "http",
      host = "example.com" } })
    local bad = assert(c.connection:enqueue_connection_test{ body = { connection_id = "ko", conn_type = "http",
      host = "unreachable.example" } })
    assert.equal("queued", good.state)
    assert.equal("success", result(c, good.token).state)
    local failed = result(c, bad.token)
    assert.equal("failed", failed.state)
    assert.equal("ko", failed.connection_id)
    local _, err = c.connection:get_connection_test{ ["Airflow-Connection-Test-Token"] = "no-such-token" }
    assert.equal("NotFound", err.kind)
  end)

  it("refuses a token that would break the header, before any I/O", function()
    local c = client()
    assert.has_error(function()
      c.connection:get_connection_test{ ["Airflow-Connection-Test-Token"] = "a\r\nX-Evil: 1" }
    end)
  end)
end)

describe("dag runs in bulk (3.3)", function()
  it("creates, updates and deletes runs in one call", function()
    local c = client()
    local res = assert(c.dag_run:bulk_dag_runs{ dag_id = "example_etl", body = { actions = {
      { action = "create", entities = { { dag_run_id = "bulk_a" }, { dag_run_id = "bulk_b" } } },
      { action = "update", entities = { { dag_run_id = "bulk_a", note = "checked" } } },
      { action = "delete", entities = { "bulk_b" } },
    } } })
    assert.same({ "bulk_a", "bulk_b" }, res.create.success)
    assert.same({ "bulk_a" }, res.update.success)
    assert.same({ "bulk_b" }, res.delete.success)
    assert.equal("checked", assert(c.dag_run:get_dag_run{ dag_id = "example_etl", dag_run_id = "bulk_a" }).note)
    local _, err = c.dag_run:get_dag_run{ dag_id = "example_etl", dag_run_id = "bulk_b" }
    assert.equal("NotFound", err.kind)
  end)

  it("clears many runs at once, with a dry run first", function()
    local c = client()
    local dry = assert(c.dag_run:clear_dag_runs{ dag_id = "example_etl", body = { only_failed = true } })
    assert.equal(2, dry.total_entries) -- transform failed, load upstream_failed
    local done = assert(c.dag_run:clear_dag_runs{ dag_id = "example_etl", body = { only_failed = true,
      dry_run = false } })
    assert.equal(3, #done.dag_runs)
  end)

  it("clears the task instances of a run by partition selection, dry run first", function()
    local c = client()
    local body = { run_id = RUN.dag_run_id, clear_task_instances = true }
    local dry = assert(c.dag_run:clear_dag_run_partitions{ dag_id = "example_etl", body = body })
    assert.same({ dag_runs_cleared = 1, task_instances_cleared = 3, dry_run = true }, dry)
    body.dry_run = false
    assert.is_false(assert(c.dag_run:clear_dag_run_partitions{ dag_id = "example_etl", body = body }).dry_run)
  end)

  it("patches the task instances of a task group, and knows when there is no such group", function()
    local _, err = client().task_instance:patch_task_group_instances_dry_run{ dag_id = "example_etl",
      dag_run_id = RUN.dag_run_id, group_id = "no_group", body = { new_state = "success" } }
    assert.equal("NotFound", err.kind)
  end)
end)

describe("cursor pages (3.3)", function()
  it("walks 10,000 runs by cursor: every run once, no total_entries", function()
    env.fake_control("/_fake/seed", '{"dag_runs": {"dag_id": "example_etl", "count": 10000}}')
    local c = client()
    local seen, n, pages, cursor = {}, 0, 0, ""
    repeat
      local page = assert(c.dag_run:get_dag_runs{ dag_id = "example_etl", limit = 100, cursor = cursor })
      assert.is_nil(page.total_entries)
      for _, run in ipairs(page.dag_runs) do
        assert.is_nil(seen[run.dag_run_id], "run seen twice: " .. run.dag_run_id)
        seen[run.dag_run_id] = true
        n = n + 1
      end
      pages = pages + 1
      cursor = page.next_cursor
    until cursor == airflow.null or cursor == nil
    assert.equal(10000, n)
    assert.equal(100, pages)
  end)

  it("goes back with previous_cursor", function()
    local c = client()
    local first = assert(c.task_instance:get_task_instances{ dag_id = "~", dag_run_id = "~", limit = 2, cursor = "" })
    local second = assert(c.task_instance:get_task_instances{ dag_id = "~", dag_run_id = "~", limit = 2,
      cursor = first.next_cursor })
    local back = assert(c.task_instance:get_task_instances{ dag_id = "~", dag_run_id = "~", limit = 2,
      cursor = second.previous_cursor })
    assert.same(first.task_instances, back.task_instances)
    assert.equal(airflow.null, first.previous_cursor)
  end)
end)

describe("a 3.2 server", function()
  it("answers its own version, and 3.3 what the fake was started as", function()
    assert.equal("3.2.1", assert(client(url32).version:get_version()).version)
    assert.equal("3.3", assert(client(url).version:get_version()).version:match("^%d+%.%d+"))
  end)

  -- these reach the server only with the version gate off (spec/version_gate_spec.lua)
  it("has no state store: NotFound", function()
    local c32 = client(url32, { airflow_version = false })
    local _, err = c32.asset_state_store:get_asset_state_store{ asset_id = 1, key = "k" }
    assert.equal("NotFound", err.kind)
  end)

  it("ignores parameters it does not know yet (cursor, *_prefix_pattern), like Airflow does", function()
    local c32, c33 = client(url32, { airflow_version = false }), client(url)
    local page = assert(c32.dag_run:get_dag_runs{ dag_id = "example_etl", cursor = "", limit = 2 })
    assert.equal(3, page.total_entries)
    assert.is_nil(page.next_cursor)
    local all = assert(c32.dag:get_dags{ dag_id_prefix_pattern = "example" })
    local some = assert(c33.dag:get_dags{ dag_id_prefix_pattern = "example" })
    assert.equal(2, some.total_entries)
    assert.is_true(all.total_entries > some.total_entries)
  end)
end)
