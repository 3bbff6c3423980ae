-- airflow.suggest, the one edit distance of the Lua layer, and the "did you mean"
-- messages built on it: the library's and the command line's (run as a real process).
local suggest = require("airflow.suggest")
local registry = require("airflow.registry")

local function cli(...)
  local argv = { "env", "-i", "PATH=" .. os.getenv("PATH"), "HOME=/nonexistent", "bin/airflow-lua" }
  for _, a in ipairs({ ... }) do argv[#argv + 1] = "'" .. a .. "'" end
  local p = assert(io.popen(table.concat(argv, " ") .. " 2>&1; echo \"__rc=$?\""))
  local out = p:read("a")
  p:close()
  local text, rc = out:match("^(.-)__rc=(%d+)\n$")
  return text, tonumber(rc)
end

describe("suggest.distance", function()
  it("counts a transposition of adjacent characters as one edit", function()
    assert.equal(1, suggest.distance("get_dgas", "get_dags"))
    assert.equal(1, suggest.distance("dga", "dag"))
    assert.equal(1, suggest.distance("ab", "ba"))
  end)

  it("counts insertions, deletions and substitutions as one edit each", function()
    assert.equal(0, suggest.distance("dag", "dag"))
    assert.equal(3, suggest.distance("", "dag"))
    assert.equal(3, suggest.distance("dag", ""))
    assert.equal(1, suggest.distance("dag", "dags"))
    assert.equal(1, suggest.distance("dags", "dag"))
    assert.equal(1, suggest.distance("dag", "dog"))
    assert.equal(3, suggest.distance("kitten", "sitting"))
  end)

  it("does not edit a transposed pair again (optimal string alignment)", function()
    assert.equal(3, suggest.distance("ca", "abc"))
    assert.equal(2, suggest.distance("abcd", "badc"))
  end)
end)

describe("suggest.closest", function()
  it("returns every equally close candidate, sorted", function()
    assert.same({ "get_dag", "get_dags" }, suggest.closest("get_dagz", { "get_dags", "patch_dag", "get_dag" }))
    assert.same({ "get_dags" }, suggest.closest("get_dgas", { "get_dag", "get_dags", "patch_dags" }))
  end)

  it("accepts a set whose keys are the names", function()
    assert.same({ "timeout" }, suggest.closest("timout", { timeout = "number", retries = "number" }))
  end)

  it("returns nothing when no candidate is close", function()
    assert.same({}, suggest.closest("xyz", { "get_dags", "get_dag" }))
    assert.same({}, suggest.closest("anything", {}))
    -- "order" is 3 edits from "order_by": more than a third of 5 letters plus one
    assert.same({}, suggest.closest("order", { "order_by" }))
    assert.same({ "order_by" }, suggest.closest("orderby", { "order_by" }))
  end)
end)

describe("suggest.hint", function()
  it("lists ties as 'a' or 'b', and more as 'a', 'b' or 'c'", function()
    assert.equal(" (did you mean 'get_dag' or 'get_dags'?)", suggest.hint("get_dagz", { "get_dags", "get_dag" }))
    assert.equal(" (did you mean 'ab', 'ac' or 'ad'?)", suggest.hint("aa", { "ad", "ab", "ac", "zzz" }))
    assert.equal(" (did you mean 'dag'?)", suggest.hint("dga", { "dag", "dag_run" }))
    assert.equal("", suggest.hint("qqqqqq", { "dag" }))
  end)
end)

describe("registry suggestions", function()
  it("keeps registry.closest's first value, with the ties as the second", function()
    local first, all = registry.closest("get_dagz", registry.get("v2").resources.dag)
    assert.equal("get_dag", first)
    assert.same({ "get_dag", "get_dags" }, all)
    assert.is_nil((registry.closest("zzzzzzzz", { "dag" })))
  end)

  it("names every equally close operation in registry.find", function()
    local op, err = registry.find("v2", "dag.get_dagz")
    assert.is_nil(op)
    assert.equal("resource 'dag' of the v2 API has no operation 'get_dagz'"
      .. " (did you mean 'get_dag' or 'get_dags'?)", err)
    op, err = registry.find("v2", "dga.get_dags")
    assert.is_nil(op)
    assert.equal("the v2 API has no resource 'dga' (did you mean 'dag'?)", err)
  end)
end)

describe("unknown parameters in a call (checked by the C request builder)", function()
  local airflow = require("airflow")
  local client = airflow.new{ base_url = "http://127.0.0.1:9" }

  local function raised(resource, name, args)
    local ok, err = pcall(client[resource][name], client[resource], args)
    assert.is_false(ok)
    return err
  end

  it("counts a transposition as one edit and lists every equally close parameter", function()
    local err = raised("dag", "get_dag", { dga_id = "x" })
    assert.truthy(err:find("unknown parameter 'dga_id' (did you mean 'dag_id'?)", 1, true), err)
    err = raised("dag_run", "get_dag_runs", { dag_id = "x", end_date_gtx = 1 })
    assert.truthy(err:find("unknown parameter 'end_date_gtx' (did you mean 'end_date_gt' or 'end_date_gte'?)", 1, true),
      err)
  end)

  it("suggests what airflow.suggest suggests", function()
    local op = registry.get("v2").resources.dag_run.get_dag_runs
    local names = { "body" }
    for _, p in ipairs(op.params) do names[#names + 1] = p.name end
    for _, typo in ipairs({ "lmit", "ofset", "stat", "end_date_gtx", "dag_idd", "order", "zzzzzzzz", "run_tpye" }) do
      local err = raised("dag_run", "get_dag_runs", { dag_id = "x", [typo] = 1 })
      local want = ("unknown parameter '%s'%s"):format(typo, suggest.hint(typo, op.body == "none"
        and { table.unpack(names, 2) } or names))
      assert.truthy(err:find(want, 1, true), err .. " ~= " .. want)
    end
  end)
end)

describe("airflow-lua suggestions", function()
  it("suggests get_dags for the transposed get_dgas, exit 2", function()
    local out, rc = cli("dag", "get_dgas")
    assert.equal(2, rc)
    assert.truthy(out:find("has no operation 'get_dgas' (did you mean 'get_dags'?)", 1, true), out)
  end)

  it("shows every equally close operation", function()
    local out, rc = cli("dag", "get_dagz")
    assert.equal(2, rc)
    assert.truthy(out:find("(did you mean 'get_dag' or 'get_dags'?)", 1, true), out)
  end)

  it("suggests a resource and a parameter with a transposition", function()
    local out, rc = cli("dga", "get_dags")
    assert.equal(2, rc)
    assert.truthy(out:find("(did you mean 'dag'?)", 1, true), out)
    out, rc = cli("--url", "http://127.0.0.1:9", "dag", "get_dags", "lmiit=5")
    assert.equal(2, rc)
    assert.truthy(out:find("(did you mean 'limit'?)", 1, true), out)
  end)
end)
