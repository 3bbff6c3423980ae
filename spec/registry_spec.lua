-- The generated registry and the committed structure-only OpenAPI documents it comes
-- from (openapi/airflow-v*.json): the C tables are not stale, the documents carry no
-- prose, and every v2 operation and parameter knows the Airflow version that added it.
-- Runs without servers and without the official documents (../shared is not needed).
local cjson = require("cjson")
local core = require("airflow.core")

local gen = dofile("tools/gen_registry.lua")

local function read(path) return (assert(require("env").read(path))) end

local function doc(api) return cjson.decode(read("openapi/airflow-" .. api .. ".json")) end

local function by_name(api)
  local ops = {}
  for _, op in ipairs(core.operations(api)) do ops[op.name] = op end
  return ops
end

local function param(op, name)
  for _, p in ipairs(op.params) do if p.name == name then return p end end
end

describe("the generated registry", function()
  it("is what stage B makes of the committed structure documents (not stale)", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p '" .. dir .. "'"))
    local ok = os.execute("lua5.4 tools/gen_registry.lua '" .. dir .. "' >/dev/null 2>&1")
    local v1_new, v2_new = io.open(dir .. "/registry_v1.c", "rb"), io.open(dir .. "/registry_v2.c", "rb")
    local same1 = v1_new and v1_new:read("a") == read("csrc/registry_v1.c")
    local same2 = v2_new and v2_new:read("a") == read("csrc/registry_v2.c")
    if v1_new then v1_new:close() end
    if v2_new then v2_new:close() end
    os.execute("rm -rf '" .. dir .. "'")
    assert.truthy(ok, "stage B failed")
    assert.is_true(same1, "csrc/registry_v1.c is stale: run `lua5.4 tools/gen_registry.lua` (or make regen)")
    assert.is_true(same2, "csrc/registry_v2.c is stale: run `lua5.4 tools/gen_registry.lua` (or make regen)")
  end)

  it("is the source of the fake Airflow's spec_data.py (not stale)", function()
    local p = assert(io.popen("python3 spec/servers/fake_airflow/gen_spec_data.py 2>&1"))
    local out = p:read("a")
    p:close()
    assert.is_true(out == read("spec/servers/fake_airflow/spec_data.py"),
      "spec/servers/fake_airflow/spec_data.py is stale: run make regen")
  end)

  it("has the 128 operations of Airflow 3.3 in v2 and the 89 of Airflow 2.10 in v1", function()
    local n2, n1 = 0, 0
    for _ in pairs(by_name("v2")) do n2 = n2 + 1 end
    for _ in pairs(by_name("v1")) do n1 = n1 + 1 end
    assert.equal(128, n2)
    assert.equal(89, n1)
    assert.equal("3.3.0", core.airflow_version("v2"))
    assert.equal("2.10.0", core.airflow_version("v1"))
    assert.has_error(function() core.airflow_version("v3") end,
      "airflow.core: unknown API version 'v3' (expected \"v1\" or \"v2\")")
  end)

  it("lists the Airflow versions whose documents the since facts come from, oldest first", function()
    assert.same({ "3.0.0", "3.0.2", "3.1.0", "3.1.3", "3.1.6", "3.1.8", "3.2.0", "3.2.1", "3.3.0" },
      core.documented_versions("v2"))
    assert.same({}, core.documented_versions("v1"))
  end)

  it("gives every v2 operation and parameter the first Airflow version that has it", function()
    local versions = { ["3.0.0"] = true, ["3.0.2"] = true, ["3.1.0"] = true, ["3.1.3"] = true, ["3.1.6"] = true,
                       ["3.1.8"] = true, ["3.2.0"] = true, ["3.2.1"] = true, ["3.3.0"] = true }
    for _, op in ipairs(core.operations("v2")) do
      assert.truthy(versions[op.since], op.name .. " has since " .. tostring(op.since))
      for _, p in ipairs(op.params) do
        assert.truthy(versions[p.since], op.name .. "." .. p.name .. " has since " .. tostring(p.since))
        assert.truthy(p.since >= op.since, op.name .. "." .. p.name .. " is older than its operation")
      end
    end
    for _, op in ipairs(core.operations("v1")) do
      assert.is_nil(op.since)
      for _, p in ipairs(op.params) do assert.is_nil(p.since) end
    end
    local ops = by_name("v2")
    assert.equal("3.0.0", ops.get_dag_runs.since)
    assert.equal("3.3.0", param(ops.get_dag_runs, "cursor").since)
    assert.equal("3.0.0", param(ops.get_dag_runs, "limit").since)
    assert.equal("3.3.0", ops.bulk_dag_runs.since)
    assert.equal("3.3.0", ops.get_task_state_store.since)
    assert.equal("3.3.0", param(ops.get_connection_test, "Airflow-Connection-Test-Token").since)
    assert.equal("3.3.0", param(ops.get_import_errors, "filename").since)
  end)

  it("carries parameter defaults as JSON and the success response schema", function()
    local ops = by_name("v2")
    assert.equal("50", param(ops.get_dags, "limit").default)
    assert.same({ "id" }, cjson.decode(param(ops.get_assets, "order_by").default))
    assert.is_nil(param(ops.get_dags, "dag_id_pattern").default)
    assert.same({ ["$"] = "DAGRunCollectionResponse" }, cjson.decode(ops.get_dag_runs.response_schema))
    assert.is_nil(ops.delete_dag_run.response_schema) -- 204, no body
    local run = cjson.decode(core.schemas("v2")).DAGRunCollectionResponse
    assert.truthy(run.p.next_cursor, "3.3 collection of runs has next_cursor")
    assert.equal("100", param(by_name("v1").get_dags, "limit").default)
  end)
end)

describe("the structure-only OpenAPI documents", function()
  -- Keys that hold the official documents' text, never structure.
  local PROSE = { description = true, summary = true, title = true, example = true, examples = true,
                  externalDocs = true, termsOfService = true, contact = true }

  local OURS = { ["x-since"] = true, ["x-order-by"] = true, ["x-documented-versions"] = true } -- our own

  -- Returns the JSON paths of prose keys (outside maps whose keys are names).
  local function prose_keys(node, named, where, found)
    if type(node) ~= "table" then return found end
    for k, v in pairs(node) do
      local here = where .. "/" .. tostring(k)
      if not named and type(k) == "string" and (PROSE[k] or (k:sub(1, 2) == "x-" and not OURS[k])) then
        -- allowed: our own title, and the empty description OpenAPI requires on a response
        if not ((where == "/info" and k == "title") or (k == "description" and v == "")) then
          found[#found + 1] = here
        end
      end
      prose_keys(v, not named and gen.NAMED[k] or false, here, found)
    end
    return found
  end

  for _, api in ipairs{ "v1", "v2" } do
    it("openapi/airflow-" .. api .. ".json has no descriptions, summaries, titles or examples", function()
      local d = doc(api)
      assert.same({}, prose_keys(d, false, "", {}))
      assert.equal("lua-airflow structure of /api/" .. api, d.info.title)
      -- and still the structure: a schema property called "description" survives
      local schemas = d.components.schemas
      assert.truthy((schemas.PoolResponse or schemas.Pool).properties.description)
    end)
  end

  it("finds prose when a document has some (the check can fail)", function()
    local d = { paths = { ["/x"] = { get = { summary = "words", responses = {} } } } }
    assert.same({ "/paths//x/get/summary" }, prose_keys(d, false, "", {}))
  end)

  it("writes v1 paths with their /api/v1 prefix for mock servers", function()
    for path in pairs(doc("v1").paths) do assert.truthy(path:find("^/api/v1/"), path) end
    for path in pairs(doc("v2").paths) do assert.truthy(path:find("^/api/v2/"), path) end
  end)
end)
