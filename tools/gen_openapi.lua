#!/usr/bin/env lua5.4
--- Stage A of `make regen`: reads the official Airflow OpenAPI documents and writes the
-- committed structure-only documents openapi/airflow-v1.json and openapi/airflow-v2.json:
-- paths, parameters, request bodies, responses, schemas and types, with no descriptions,
-- summaries, titles, examples or vendor extensions. Each v2 operation and parameter
-- carries `x-since`, the first Airflow version that has it (from history/*.yaml and
-- v2-operation-history.tsv; what first appears in the 3.3 document is 3.3.0), and an
-- order_by parameter `x-order-by`, the attribute names it accepts.
-- v1 paths carry the /api/v1 prefix (Prism ignores a relative server URL); parameter
-- references and path-level parameters are inlined into each operation.
-- The result is checked against the official operation tables (operations-*.tsv).
--
-- Usage: lua5.4 tools/gen_openapi.lua [SPEC_DIR]
-- SPEC_DIR defaults to $AIRFLOW_OPENAPI_DIR, then to ../shared/openapi beside the
-- repository. Needs lyaml (Debian lua-yaml); only `make regen` runs this.
-- @script gen_openapi

local lyaml = require "lyaml"
local cjson = require "cjson"

local script_dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local gen = dofile(script_dir .. "/gen_registry.lua")

-- The documents, their API and the Airflow version each describes.
local V1 = { file = "airflow-v1.yaml", tsv = "operations-v1.tsv", api = "v1", version = "2.10.0" }
local V2 = { file = "airflow-v2-3.3.yaml", tsv = "operations-v2-3.3.tsv", api = "v2", version = "3.3.0" }
-- The history of /api/v2, oldest first; the 3.3 document comes last as 3.3.0.
local HISTORY = { "3.0.0", "3.0.2", "3.1.0", "3.1.3", "3.1.6", "3.1.8", "3.2.0", "3.2.1" }

-- Keys that carry prose or examples, never structure.
local PROSE = { description = true, summary = true, title = true, example = true, examples = true,
                externalDocs = true, termsOfService = true, contact = true }
-- Our own extensions.
local OURS = { ["x-since"] = true, ["x-order-by"] = true, ["x-documented-versions"] = true }

local function fail(fmt, ...) error("gen_openapi: " .. string.format(fmt, ...), 0) end

local read_all, sorted_keys, deref = gen.read_all, gen.sorted_keys, gen.deref

--- A copy of an OpenAPI value without prose, examples or vendor extensions
-- (x-since is ours and kept); lyaml's null becomes cjson.null.
-- @param v the value
-- @param named true when v's keys are names (see NAMED)
local function strip(v, named)
  if v == lyaml.null then return cjson.null end
  if type(v) ~= "table" then return v end
  local out = {}
  for k, child in pairs(v) do
    local drop = not named and type(k) == "string" and (PROSE[k] or (k:sub(1, 2) == "x-" and not OURS[k]))
    if not drop then out[k] = strip(child, not named and gen.NAMED[k] or false) end
  end
  return out
end

local VERBS = { get = true, put = true, post = true, delete = true, patch = true, head = true, options = true }

--- Each operation of a document with its parameters merged (path level, then operation
-- level, refs resolved): calls fn(path, verb, op, params).
local function each_operation(doc, fn)
  for _, path in ipairs(sorted_keys(doc.paths)) do
    local item = deref(doc, doc.paths[path])
    for _, verb in ipairs(sorted_keys(item)) do
      if VERBS[verb] then
        local list, pos = {}, {}
        local function add(p)
          p = deref(doc, p)
          local key = p["in"] .. ":" .. p.name
          if pos[key] then list[pos[key]] = p else list[#list + 1] = p; pos[key] = #list end
        end
        for _, p in ipairs(item.parameters or {}) do add(p) end
        for _, p in ipairs(item[verb].parameters or {}) do add(p) end
        fn(path, verb, item[verb], list)
      end
    end
  end
end

--- For each v2 operationId, the first version having it and, per "in:name" parameter,
-- the first version having that parameter on it.
local function v2_history(spec_dir)
  local first_op, first_param = {}, {}
  local versions = {}
  for _, v in ipairs(HISTORY) do versions[#versions + 1] = { v, spec_dir .. "/history/airflow-v2-" .. v .. ".yaml" } end
  versions[#versions + 1] = { V2.version, spec_dir .. "/" .. V2.file }
  for _, vf in ipairs(versions) do
    local version, doc = vf[1], lyaml.load(read_all(vf[2]))
    each_operation(doc, function(_, _, op, params)
      local id = op.operationId
      first_op[id] = first_op[id] or version
      first_param[id] = first_param[id] or {}
      for _, p in ipairs(params) do
        local key = p["in"] .. ":" .. p.name
        first_param[id][key] = first_param[id][key] or version
      end
    end)
  end
  -- the official history table must agree with the documents
  local n = 0
  for line in read_all(spec_dir .. "/v2-operation-history.tsv"):gmatch("[^\r\n]+") do
    local id, _, _, first = line:match("^([^\t]+)\t([^\t]*)\t([^\t]*)\t([^\t]*)")
    if id and id ~= "operationId" then
      n = n + 1
      if first_op[id] ~= first then
        fail("history: %s first in %s by the table, %s by the documents", id, first, tostring(first_op[id]))
      end
    end
  end
  if n == 0 then fail("v2-operation-history.tsv has no rows") end
  return first_op, first_param
end

--- The attribute names an order_by parameter accepts (a structural fact the official
-- documents only state in their prose, as "Supported attributes: `a, b`"), or nil.
local function sortable(p)
  local text = (type(p.schema) == "table" and type(p.schema.description) == "string" and p.schema.description)
    or (type(p.description) == "string" and p.description) or ""
  local list = text:match("Supported attributes: `([^`]*)`")
  if not list then return nil end
  local names, seen = {}, {}
  for name in list:gmatch("[^,%s]+") do
    if not seen[name] then seen[name] = true; names[#names + 1] = name end
  end
  table.sort(names)
  return names
end

--- The structure document of one API: stripped, v1 paths prefixed, parameters inlined,
-- x-since on v2 operations and parameters.
local function structure(spec_dir, d, history)
  local doc = lyaml.load(read_all(spec_dir .. "/" .. d.file))
  local prefix = "/api/" .. d.api
  local paths = {}
  each_operation(doc, function(path, verb, op, params)
    local full = (path:sub(1, #prefix + 1) == prefix .. "/") and path or prefix .. path
    paths[full] = paths[full] or {}
    local copy = {}
    for k, v in pairs(op) do copy[k] = v end
    copy.parameters = #params > 0 and {} or nil
    for i, p in ipairs(params) do
      local pc = {}
      for k, v in pairs(p) do pc[k] = v end
      if history then
        pc["x-since"] = history.params[op.operationId][p["in"] .. ":" .. p.name]
      end
      pc["x-order-by"] = p.name == "order_by" and sortable(p) or nil
      copy.parameters[i] = pc
    end
    if history then copy["x-since"] = history.ops[op.operationId] end
    paths[full][verb] = copy
  end)
  local components = {}
  for k, v in pairs(doc.components or {}) do
    if k ~= "parameters" then components[k] = v end
  end
  local out = {
    openapi = doc.openapi,
    info = { title = "lua-airflow structure of /api/" .. d.api, version = d.version },
    paths = paths, components = components, security = doc.security,
  }
  out = strip(out, false)
  -- our own title survives the strip: put it back
  out.info.title = "lua-airflow structure of /api/" .. d.api
  -- v2: every Airflow version a document was read for, oldest first (the version gate
  -- refuses only what one of these documents shows a server lacks)
  if d.api == "v2" then
    local documented = {}
    for _, v in ipairs(HISTORY) do documented[#documented + 1] = v end
    documented[#documented + 1] = d.version
    out.info["x-documented-versions"] = documented
  end
  -- OpenAPI requires a description on each response (Prism ignores a response without
  -- one): an empty one, none of the official text
  local function describe(responses)
    for _, r in pairs(responses or {}) do
      if not r["$ref"] then r.description = "" end
    end
  end
  describe(out.components.responses)
  for _, item in pairs(out.paths) do
    for _, op in pairs(item) do describe(op.responses) end
  end
  return out
end

--- Checks the structure document against the official operation table: the same
-- (resource, operation) rows, verbs, paths, path parameters, query parameters with
-- their encoding, body and success status.
local function check_table(spec_dir, d, doc)
  local derived = {}
  for _, row in ipairs(gen.rows(doc, d.api)) do
    local info = gen.operation_info(doc, d.api, row.entry)
    local paths, queries = {}, {}
    for _, p in ipairs(info.params) do
      if p.where == "path" then paths[#paths + 1] = p.name
      elseif p.where == "query" then
        local suffix = (p.flags & 4 ~= 0) and "[csv]" or (p.flags & 2 ~= 0) and "[]" or ""
        queries[#queries + 1] = p.name .. suffix .. ((p.flags & 1 ~= 0) and "!" or "")
      end
    end
    table.sort(paths)
    derived[row.resource .. " " .. row.method] = table.concat({ row.http, row.path, table.concat(paths, ","),
      #queries > 0 and table.concat(queries, ",") or "-", info.body == "none" and "-" or info.body,
      tostring(info.resp.success) }, "\t")
  end
  local seen, n = {}, 0
  local header = true
  for line in read_all(spec_dir .. "/" .. d.tsv):gmatch("[^\r\n]+") do
    if header then header = false else
      local f = {}
      for cell in (line .. "\t"):gmatch("([^\t]*)\t") do f[#f + 1] = cell end
      local pp = {}
      for name in f[5]:gmatch("[^,]+") do if name ~= "-" then pp[#pp + 1] = name end end
      table.sort(pp)
      local want = table.concat({ f[3], f[4], table.concat(pp, ","), f[6], f[7], f[8] }, "\t")
      local key = f[1] .. " " .. f[2]
      if derived[key] ~= want then
        fail("%s %s: the table says\n  %s\nthe structure document gives\n  %s", d.api, key, want,
          tostring(derived[key]))
      end
      seen[key], n = true, n + 1
    end
  end
  for key in pairs(derived) do
    if not seen[key] then fail("%s: %s is not in %s", d.api, key, d.tsv) end
  end
  return n
end

local function main()
  local root = gen.root()
  local spec_dir = arg[1] or os.getenv("AIRFLOW_OPENAPI_DIR") or (root .. "/../shared/openapi")
  local ops, params = v2_history(spec_dir)
  for _, d in ipairs({ V1, V2 }) do
    local doc = structure(spec_dir, d, d.api == "v2" and { ops = ops, params = params } or nil)
    -- round trip through cjson, as stage B and the tests read it
    local text = gen.encode_json(doc, " ") .. "\n"
    local decoded = cjson.decode(text)
    local rows = check_table(spec_dir, d, decoded)
    local path = root .. "/openapi/airflow-" .. d.api .. ".json"
    local fh = io.open(path, "wb") or fail("cannot write %s", path)
    fh:write(text)
    fh:close()
    print(string.format("%s: Airflow %s, %d rows checked against %s", path, d.version, rows, d.tsv))
  end
end

main()
