-- The reference docs in docs/: generated from the registry by tools/gen_docs.lua;
-- stale or incomplete pages fail here.
local support = require("reference")
local param = support.param
local core = require("airflow.core")
local ref = require("apiref")
local gen = require("gen_docs")

local read, deep_copy, views_with, has = support.read, support.deep_copy, support.views_with, support.has

-- The committed pages, by path under docs/.
local function committed()
  local pages = {}
  local p = assert(io.popen("cd docs && find . -type f | sort"))
  for path in p:lines() do
    path = path:gsub("^%./", "")
    pages[path] = read("docs/" .. path)
  end
  p:close()
  return pages
end

describe("docs/", function()
  local pages = committed()

  it("is what tools/gen_docs.lua makes from the registry (run `make regen-docs` when this fails)", function()
    local want = gen.generate(ref.views())
    for path, text in pairs(want) do
      assert(pages[path] == text, "docs/" .. path .. " is stale or missing: run `make regen-docs`")
    end
    for path in pairs(pages) do
      assert(want[path], "docs/" .. path .. " is not generated any more: run `make regen-docs`")
    end
  end)

  it("documents every operation of both APIs with every parameter", function()
    assert.same({}, gen.check(ref.views(), pages))
    local n = 0
    for _, api in ipairs(ref.APIS) do
      for _, op in ipairs(core.operations(api)) do
        n = n + 1
        local page = pages[("%s/%s.md"):format(api, op.resource)]
        assert.truthy(page:find("\n## " .. op.name .. "\n", 1, true), api .. " " .. op.name)
        assert.truthy(page:find(("`%s %s`"):format(op.method, op.path), 1, true), op.name)
        assert.truthy(pages["README.md"]:find(("(%s/%s.md#%s)"):format(api, op.resource, op.name), 1, true))
      end
    end
    assert.is_true(n > 150)
  end)

  it("fails the check when the registry loses an operation", function()
    local views = views_with(function(ops) support.remove_op(ops, "dag", "get_dag") end)
    local problems = gen.check(views, pages)
    assert.is_true(has(problems, "docs/v2/dag.md documents operation dag.get_dag the registry lacks"),
      table.concat(problems, "\n"))
    assert.are_not.equal(pages["v2/dag.md"], gen.generate(views)["v2/dag.md"])
  end)

  it("fails the check when a parameter is renamed, or an operation is missing from the pages", function()
    local views = views_with(function(ops)
      for _, op in ipairs(ops) do
        if op.name == "get_dag_runs" then param(op, "limit").name = "limit_renamed" end
      end
    end)
    local problems = gen.check(views, pages)
    assert.is_true(has(problems, "docs/v2/dag_run.md: get_dag_runs lacks parameter 'limit_renamed'"),
      table.concat(problems, "\n"))
    assert.is_true(has(problems, "get_dag_runs documents parameter 'limit' it does not have"))
    local thin = deep_copy(pages)
    thin["v2/pool.md"] = thin["v2/pool.md"]:gsub("\n## get_pools\n", "\n## gone\n")
    problems = gen.check(ref.views(), thin)
    assert.is_true(has(problems, "docs/v2/pool.md lacks operation pool.get_pools"), table.concat(problems, "\n"))
  end)

  it("gives every method a Lua example that compiles and calls that method", function()
    local count = 0
    for path, text in pairs(pages) do
      for snippet in text:gmatch("```lua\n(.-)```") do
        assert(load(snippet, "=docs/" .. path), "docs/" .. path .. ": example does not compile:\n" .. snippet)
        count = count + 1
      end
    end
    local n = 0
    for _, api in ipairs(ref.APIS) do n = n + #core.operations(api) end
    assert.is_true(count > n)
    local view = ref.view("v2")
    for _, op in ipairs(view.ops) do
      assert.truthy(gen.example(view, op):find(("client.%s:%s"):format(op.resource, op.name), 1, true))
    end
  end)

  it("shows the version that added an operation or parameter, defaults and the result's schema when known", function()
    local views = views_with(function(ops)
      for _, op in ipairs(ops) do
        if op.name == "get_dag_runs" then
          op.since, op.response_schema = "3.1.0", '{"$":"DAGRunCollectionResponse"}'
          param(op, "limit").since, param(op, "limit").default = "3.2.0", "50"
        end
      end
    end)
    local page = gen.generate(views)["v2/dag_run.md"]
    local section = page:match("\n## get_dag_runs\n(.-)\n## ")
    assert.truthy(section:find("- Since: Airflow 3.1.0", 1, true))
    assert.truthy(section:find("| `limit` | query | `integer` |  | `50` |  | 3.2.0 |", 1, true), section)
    assert.truthy(section:find("[`DAGRunCollectionResponse`](schemas.md#dagruncollectionresponse)", 1, true))
    local types = require("gen_types").client(views)
    assert.truthy(types:find("---@return airflow.v2.DAGRunCollectionResponse|nil result\n", 1, true))
  end)
end)
