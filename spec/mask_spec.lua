-- airflow.mask: which fields changed, and client:update's PATCH with update_mask,
-- against the stateful fake Airflow (v2 and v1).
local airflow = require("airflow")
local env = require("env")

local url = env.need("FAKE_AIRFLOW_URL")

local function client(api)
  return assert(airflow.new{ base_url = url, api = api, username = "admin", password = "admin" })
end

-- The requests the fake saw since the last reset, without the v2 login.
local function api_requests()
  local out = {}
  for _, r in ipairs(env.fake_get("/_fake/requests")) do
    if not r.path:find("/auth/token", 1, true) then out[#out + 1] = r end
  end
  return out
end

before_each(function() env.fake_control("/_fake/reset") end)

describe("airflow.mask.diff", function()
  it("lists changed fields, dotted for nested tables", function()
    local before = { is_paused = false, description = "a", conf = { retries = 1, owner = "x" }, tags = { "a" } }
    local after = { is_paused = true, description = "a", conf = { retries = 2, owner = "x" }, tags = { "a", "b" } }
    assert.same({ "conf.retries", "is_paused", "tags" }, airflow.mask.diff(before, after))
    assert.same({}, airflow.mask.diff(before, before))
  end)

  it("sees a field set to airflow.null, or removed, as changed", function()
    assert.same({ "note" }, airflow.mask.diff({ note = "x" }, { note = airflow.null }))
    assert.same({ "note" }, airflow.mask.diff({ note = "x" }, {}))
  end)
end)

describe("airflow.mask.apply", function()
  it("merges nested objects and replaces arrays, leaving its inputs as they were", function()
    local current = { conf = { a = 1, b = 2 }, tags = { "x", "y" }, is_paused = false }
    local merged = airflow.mask.apply(current, { conf = { b = 3 }, tags = { "z" } })
    assert.same({ conf = { a = 1, b = 3 }, tags = { "z" }, is_paused = false }, merged)
    assert.same({ a = 1, b = 2 }, current.conf)
  end)
end)

describe("client:update", function()
  it("fetches, then PATCHes only the changed fields with update_mask (v2)", function()
    local c = client("v2")
    local dag = assert(c:update("dag.patch_dag", { dag_id = "example_etl" }, { is_paused = true }))
    assert.is_true(dag.is_paused)
    local sent = api_requests()
    assert.equal(2, #sent)
    assert.equal("GET", sent[1].method)
    assert.equal("PATCH", sent[2].method)
    assert.matches("update_mask=is_paused", sent[2].query, 1, true)
  end)

  it("joins the mask with commas on v1, where update_mask is explode: false", function()
    local c = client("v1")
    assert(c.variable:post_variables{ body = { key = "mask_k", value = "a", description = "d" } })
    local v = assert(c:update("variable.patch_variable", { variable_key = "mask_k" },
      { value = "b", description = "e" }))
    assert.equal("b", v.value)
    local sent = api_requests()
    assert.equal("PATCH", sent[#sent].method)
    assert.matches("update_mask=description,value", sent[#sent].query, 1, true)
  end)

  it("sends no PATCH when nothing changes", function()
    local c = client("v2")
    local current = assert(c.dag:get_dag("example_etl"))
    local before = #api_requests()
    assert(c:update("dag.patch_dag", { dag_id = "example_etl" }, { is_paused = current.is_paused }))
    local sent = api_requests()
    assert.equal(before + 1, #sent)
    assert.equal("GET", sent[#sent].method)
  end)

  it("raises on a misspelt field, naming the close match, before any request", function()
    local c = client("v2")
    assert.has_error(function() c:update("dag.patch_dag", { dag_id = "example_etl" }, { is_pasued = true }) end,
      "airflow: dag.patch_dag: 'is_pasued' is not a field of its request body (did you mean 'is_paused'?)")
    assert.equal(0, #api_requests())
  end)

  it("raises for an operation that is not a PATCH", function()
    local c = client("v2")
    assert.has_error(function() c:update("dag.get_dag", { dag_id = "example_etl" }, { is_paused = true }) end,
      "airflow: update: dag.get_dag is not a PATCH operation")
  end)
end)
