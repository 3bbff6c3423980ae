#!/usr/bin/env lua5.4
--- Stage B of `make regen`: generates csrc/registry_v1.c and csrc/registry_v2.c from
-- the committed structure-only documents openapi/airflow-v1.json and airflow-v2.json
-- (written by stage A, tools/gen_openapi.lua; see csrc/registry.h for the C types).
-- Needs lua-cjson only: a clone checks and rebuilds its registry without the official
-- documents.
--
-- Usage: lua5.4 tools/gen_registry.lua [OUT_DIR]   (OUT_DIR defaults to csrc/)
-- Output is deterministic: every table is iterated in sorted order.
-- Loaded with dofile() it returns its helpers instead (stage A uses them).
-- @script gen_registry

local cjson = require "cjson"

local M = {}

local VERBS = { get = "GET", put = "PUT", post = "POST", delete = "DELETE",
                patch = "PATCH", head = "HEAD", options = "OPTIONS" }
local TYPE_C = { string = "AF_TYPE_STRING", integer = "AF_TYPE_INTEGER",
                 number = "AF_TYPE_NUMBER", boolean = "AF_TYPE_BOOLEAN" }
local IN_C = { path = "AF_IN_PATH", query = "AF_IN_QUERY", header = "AF_IN_HEADER" }
local IN_ORDER = { path = 1, query = 2, header = 3 }

local notes = {} -- things worth reporting, printed at the end

local function fail(fmt, ...) error("gen_registry: " .. string.format(fmt, ...), 0) end
local function note(fmt, ...) notes[#notes + 1] = string.format(fmt, ...) end

--- The keys of t, sorted (as strings).
local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

--- The whole content of a file; fails when it cannot be read.
local function read_all(path)
  local fh = io.open(path, "rb") or fail("cannot open %s", path)
  local data = fh:read("a")
  fh:close()
  return data
end
M.sorted_keys, M.read_all = sorted_keys, read_all

-- JSON pointer resolution of "#/a/b/c" within doc, following chained refs.
local function deref(doc, node)
  local seen = 0
  while type(node) == "table" and node["$ref"] do
    local target = doc
    for seg in node["$ref"]:gsub("^#/", ""):gmatch("[^/]+") do
      seg = seg:gsub("~1", "/"):gsub("~0", "~")
      target = type(target) == "table" and target[seg] or nil
    end
    if target == nil then fail("dangling $ref %s", node["$ref"]) end
    node, seen = target, seen + 1
    if seen > 20 then fail("$ref loop at %s", node["$ref"]) end
  end
  return node
end
M.deref = deref

local function schema_ref_name(ref)
  return ref:match("^#/components/schemas/([^/]+)$") or fail("unsupported schema $ref %s", ref)
end

-- Compact schema nodes ---------------------------------------------------------

local compact -- forward declaration

-- Collects the properties/required of an allOf tree (refs resolved) into one object.
local function collect_allof(ctx, s, props, req, node)
  s = deref(ctx.doc, s)
  for _, part in ipairs(s.allOf or {}) do collect_allof(ctx, part, props, req, node) end
  for _, k in ipairs(sorted_keys(s.properties or {})) do props[k] = s.properties[k] end
  for _, r in ipairs(s.required or {}) do
    if not req[r] then req[r] = true; req[#req + 1] = r end
  end
  if s.additionalProperties then node.x = true end
end

local function object_node(ctx, props, required, addl)
  local node = { t = "object" }
  if next(props) then
    node.p = {}
    for _, k in ipairs(sorted_keys(props)) do node.p[k] = compact(ctx, props[k]) end
  end
  if required and #required > 0 then node.r = required end
  if addl then node.x = true end
  return node
end

-- The "t" of a compact node, looking through refs.
local function node_type(ctx, node, depth)
  if node["$"] then
    if (depth or 0) > 20 then return nil end
    return node_type(ctx, compact(ctx, ctx.doc.components.schemas[node["$"]]), (depth or 0) + 1)
  end
  return node.t
end

local encode_node -- forward declaration

-- anyOf/oneOf/prefixItems: one node for a list of alternatives.
local function combine(ctx, alts)
  local nodes, nullable = {}, false
  for _, alt in ipairs(alts) do
    if alt.type == "null" then nullable = true else nodes[#nodes + 1] = compact(ctx, alt) end
  end
  local node
  if #nodes == 0 then
    node = { t = "any" }
  elseif #nodes == 1 then
    node = nodes[1]
  else
    local t, same = node_type(ctx, nodes[1]), true
    for i = 2, #nodes do
      if node_type(ctx, nodes[i]) ~= t then t = nil end
      if encode_node(nodes[i]) ~= encode_node(nodes[1]) then same = false end
    end
    if same then node = nodes[1]
    elseif t == "array" then node = { t = "array", i = { t = "any" } }
    elseif t == "object" then node = { t = "object", x = true }
    else node = { t = t or "any" } end
  end
  if nullable then node.n = true end
  return node
end

--- Converts an OpenAPI schema into a compact node (see csrc/registry.h).
-- Refs to components/schemas stay refs; prose keywords are dropped.
-- @param ctx {doc=, refs=set of referenced schema names}
-- @param s the schema table
-- @return compact node (plain Lua table)
function compact(ctx, s)
  if type(s) ~= "table" then return { t = "any" } end
  local node, t = nil, s.type
  if type(t) == "table" then -- OpenAPI 3.1 type list
    local alts = {}
    for _, one in ipairs(t) do alts[#alts + 1] = { type = one, format = s.format } end
    node = combine(ctx, alts)
  elseif s["$ref"] then
    node = { ["$"] = schema_ref_name(s["$ref"]) }
    ctx.refs[node["$"]] = true
  elseif s.allOf then
    if #s.allOf == 1 and not s.properties then
      node = compact(ctx, s.allOf[1])
    else
      local props, req, tmp = {}, {}, {}
      collect_allof(ctx, s, props, req, tmp)
      node = object_node(ctx, props, req, tmp.x)
    end
  elseif s.anyOf or s.oneOf then
    node = combine(ctx, s.anyOf or s.oneOf)
  elseif t == "object" or (t == nil and s.properties) then
    local addl = s.additionalProperties
    node = object_node(ctx, s.properties or {}, s.required,
      addl == true or type(addl) == "table" or (addl == nil and not s.properties))
  elseif t == "array" then
    local items = s.items
    if s.prefixItems and not items then node = { t = "array", i = combine(ctx, s.prefixItems) }
    else node = { t = "array", i = (items and next(items)) and compact(ctx, items) or { t = "any" } }
    end
  elseif t == "string" or t == "integer" or t == "number" or t == "boolean" or t == "null" then
    -- v1 spells some date-times "datetime": normalise so consumers test one name
    node = { t = t, f = s.format == "datetime" and "date-time" or s.format }
  elseif t == nil then
    node = { t = "any" }
  else
    fail("unknown schema type %s", tostring(t))
  end
  local values = s.enum or (s.const ~= nil and { s.const }) or nil
  if values then
    node.e = {}
    for _, v in ipairs(values) do
      if v == cjson.null then node.n = true else node.e[#node.e + 1] = v end
    end
  end
  if s.nullable then node.n = true end
  return node
end

-- Deterministic JSON text of a compact node (keys sorted, fixed value kinds).
local function json_scalar(v)
  if type(v) == "string" then
    return '"' .. v:gsub('[%c"\\]', function(c)
      local map = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\t"] = "\\t" }
      return map[c] or string.format("\\u%04x", c:byte())
    end) .. '"'
  elseif math.type(v) == "integer" then return string.format("%d", v)
  elseif type(v) == "number" then return string.format("%.17g", v)
  elseif type(v) == "boolean" then return tostring(v) end
  fail("unsupported JSON value %s", tostring(v))
end

local function json_list(list, fn)
  local parts = {}
  for _, v in ipairs(list) do parts[#parts + 1] = fn(v) end
  return "[" .. table.concat(parts, ",") .. "]"
end

local function json_map(map, fn)
  local parts = {}
  for _, k in ipairs(sorted_keys(map)) do parts[#parts + 1] = json_scalar(k) .. ":" .. fn(map[k]) end
  return "{" .. table.concat(parts, ",") .. "}"
end

local NODE_FIELD = {
  ["$"] = json_scalar, t = json_scalar, f = json_scalar, n = json_scalar, x = json_scalar,
  i = function(v) return encode_node(v) end,
  p = function(v) return json_map(v, encode_node) end,
  r = function(v) return json_list(v, json_scalar) end,
  e = function(v) return json_list(v, json_scalar) end,
}

function encode_node(node)
  local parts = {}
  for _, k in ipairs(sorted_keys(node)) do
    local fn = NODE_FIELD[k] or fail("unexpected node field %s", k)
    parts[#parts + 1] = json_scalar(k) .. ":" .. fn(node[k])
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

-- Follows refs of a compact node to the referenced schema's node, keeping "n".
local function resolve_node(ctx, node)
  local depth = 0
  while node["$"] do
    local n = node.n
    node = compact(ctx, ctx.doc.components.schemas[node["$"]])
    if n then node.n = true end
    depth = depth + 1
    if depth > 20 then fail("schema ref loop") end
  end
  return node
end

-- JSON text -------------------------------------------------------------------

-- Keys whose value is always a JSON array (an empty Lua table is ambiguous).
local ARRAY_KEYS = { required = true, enum = true, tags = true, parameters = true, allOf = true,
                     anyOf = true, oneOf = true, prefixItems = true, servers = true, security = true }

-- Whether the schema `s` (a map holding an empty `default`) describes an array.
local function schema_is_array(s)
  local t = s.type
  if t == "array" then return true end
  if type(t) == "table" then
    for _, one in ipairs(t) do if one == "array" then return true end end
  end
  for _, alt in ipairs(s.anyOf or s.oneOf or {}) do
    if type(alt) == "table" and alt.type == "array" then return true end
  end
  return false
end

local function is_array(v)
  local n = #v
  if n == 0 then return false end
  local count = 0
  for _ in pairs(v) do count = count + 1 end
  return count == n
end

-- OpenAPI maps whose keys are names, not keywords (a property may be called "required").
M.NAMED = { properties = true, paths = true, schemas = true, responses = true, content = true,
            securitySchemes = true, headers = true, patternProperties = true, ["$defs"] = true,
            scopes = true, variables = true, mapping = true, encoding = true, links = true,
            callbacks = true, requestBodies = true }

--- Deterministic JSON text of a decoded OpenAPI value: keys sorted, integral numbers
-- without a fraction, cjson.null as null. An empty table is written [] where the key
-- says it is an array (ARRAY_KEYS, a security requirement's scopes, an array default).
-- @param v the value
-- @param indent nil for one line, else the indentation unit (e.g. " ")
-- @return the JSON text
function M.encode_json(v, indent)
  local out = {}
  -- hint: true (an empty table is []), "security" (a list of requirements),
  -- "requirement" (a map of scope lists), "named" (keys are names), or false
  local function put(x, pad, hint)
    if x == cjson.null then out[#out + 1] = "null"; return end
    if type(x) == "number" and math.type(x) == "float" and x == math.floor(x) and x > -2^53 and x < 2^53 then
      out[#out + 1] = string.format("%d", math.tointeger(x)); return
    end
    if type(x) ~= "table" then out[#out + 1] = json_scalar(x); return end
    local inner = indent and (pad .. indent) or ""
    local nl = indent and ("\n" .. inner) or ""
    local close = indent and ("\n" .. pad) or ""
    if next(x) == nil then out[#out + 1] = (hint == true or hint == "security") and "[]" or "{}"; return end
    if is_array(x) then
      out[#out + 1] = "["
      for i, item in ipairs(x) do
        out[#out + 1] = (i > 1 and "," or "") .. nl
        put(item, inner, hint == "security" and "requirement" or false)
      end
      out[#out + 1] = close .. "]"
      return
    end
    out[#out + 1] = "{"
    for i, k in ipairs(sorted_keys(x)) do
      out[#out + 1] = (i > 1 and "," or "") .. nl .. json_scalar(k) .. (indent and ": " or ":")
      local child, child_hint = x[k], false
      if hint == "requirement" then child_hint = true
      elseif hint ~= "named" then
        if k == "security" then child_hint = "security"
        elseif k == "default" then child_hint = schema_is_array(x)
        elseif M.NAMED[k] then child_hint = "named"
        else child_hint = ARRAY_KEYS[k] or false end
      end
      put(child, inner, child_hint)
    end
    out[#out + 1] = close .. "}"
  end
  put(v, "", false)
  return table.concat(out)
end

-- Operations -------------------------------------------------------------------

--- The client's resource name of an OpenAPI tag: snake_case, acronyms lower-cased
-- ("DAG" -> dag, "DAGRun"/"DagRun" -> dag_run, "Task Instance" -> task_instance,
-- "XCom" -> xcom).
-- @param tag the tag
-- @return the resource name
function M.resource_name(tag)
  local words = {}
  for word in tag:gmatch("%S+") do
    -- an acronym of two or more capitals before a capitalised word: DAGRun -> DAG Run
    word = word:gsub("(%u%u+)(%u%l)", "%1 %2")
    word = word:gsub("(%l)(%u)", "%1 %2")
    for part in word:gmatch("%S+") do words[#words + 1] = part:lower() end
  end
  return table.concat(words, "_")
end

--- Indexes the document's operations by "VERB /path" (paths carry the API prefix).
-- @param doc the decoded structure document
-- @param prefix "/api/v1" or "/api/v2"
-- @return map key -> {op=, path=, http=}
local function index_operations(doc, prefix)
  local index = {}
  for _, path in ipairs(sorted_keys(doc.paths)) do
    local item = doc.paths[path]
    if path:sub(1, #prefix + 1) ~= prefix .. "/" then fail("%s: path without %s", path, prefix) end
    for _, verb in ipairs(sorted_keys(item)) do
      if VERBS[verb] then
        local key = VERBS[verb] .. " " .. path
        index[key] = { op = item[verb], path = path, http = VERBS[verb], key = key }
      end
    end
  end
  return index
end

--- Describes one parameter for C: name, in, C type name, flags, enum values, the first
-- Airflow version that has it (x-since) and its default as JSON text.
-- @param ctx generation context
-- @param p the (resolved) OpenAPI parameter object
local function param_info(ctx, p)
  local schema = p.schema or {}
  local node = resolve_node(ctx, compact(ctx, schema))
  local flags = (p.required or p["in"] == "path") and 1 or 0
  if node.n then flags = flags | 8 end
  local item = node
  if node.t == "array" then
    flags = flags | 2
    item = resolve_node(ctx, node.i)
    if p.explode == false then flags = flags | 4 end
  end
  local ctype = TYPE_C[item.t] or "AF_TYPE_ANY"
  if item.t == "string" and item.f == "date-time" then ctype = "AF_TYPE_DATETIME" end
  local default = schema.default
  if default == nil and schema["$ref"] then default = deref(ctx.doc, schema).default end
  return { name = p.name, where = p["in"], ctype = ctype, flags = flags, enum = item.e,
           since = p["x-since"], default = default ~= nil and M.encode_json(default) or nil }
end

--- Collects an operation's parameters, ordered path (template order), query, header.
-- Stage A (gen_openapi.lua) has already merged path-level parameters into each
-- operation and resolved their references.
-- @return array of param_info tables
local function operation_params(ctx, entry)
  local list = entry.op.parameters or {}
  local template = {}
  for name in entry.path:gmatch("{([^}]+)}") do template[#template + 1] = name; template[name] = #template end
  local keyed, npath = {}, 0
  for i, p in ipairs(list) do
    local k1 = IN_ORDER[p["in"]] or fail("%s: unsupported parameter location %s", entry.key, p["in"])
    local k2 = i
    if p["in"] == "path" then
      k2 = template[p.name] or fail("%s: %s not in path", entry.key, p.name)
      npath = npath + 1
    end
    keyed[i] = { info = param_info(ctx, p), k1 = k1, k2 = k2 }
  end
  if npath ~= #template then fail("%s: %d path parameters declared, %d in the path", entry.key, npath, #template) end
  table.sort(keyed, function(a, b) return a.k1 < b.k1 or (a.k1 == b.k1 and a.k2 < b.k2) end)
  local out = {}
  for i, k in ipairs(keyed) do out[i] = k.info end
  return out
end

--- Request body facts: kind ("none"/"optional"/"required"), media type, compact schema JSON.
local function body_info(ctx, entry)
  if not entry.op.requestBody then return "none" end
  local rb = deref(ctx.doc, entry.op.requestBody)
  local kind = rb.required and "required" or "optional"
  local medias = sorted_keys(rb.content or {})
  if #medias ~= 1 then fail("%s: %d request media types (order unknown)", entry.key, #medias) end
  local schema = rb.content[medias[1]].schema
  return kind, medias[1], schema and encode_node(compact(ctx, schema))
end

--- Paged-list detection on the success JSON schema: returns list_field, total_entries.
local function list_info(ctx, resp, opname)
  local media = resp.content and resp.content["application/json"]
  if not (media and media.schema) then return nil, 0 end
  local s = deref(ctx.doc, media.schema)
  if s.anyOf or s.oneOf or not (s.properties or s.allOf) then return nil, 0 end
  local props, arrays = {}, {}
  collect_allof(ctx, s, props, {}, {})
  for _, k in ipairs(sorted_keys(props)) do
    if resolve_node(ctx, compact(ctx, props[k])).t == "array" then arrays[#arrays + 1] = k end
  end
  if props.total_entries then
    if #arrays == 1 then return arrays[1], 1 end
    note("%s %s: total_entries with %d array properties (%s): no list_field", ctx.api, opname,
      #arrays, table.concat(arrays, ","))
    return nil, 0
  end
  if #arrays == 1 and next(props, next(props)) == nil then return arrays[1], 0 end
  return nil, 0
end

--- Success response facts: lowest 2xx code, its media types, list field, and the
-- compact schema of its application/json body.
local function response_info(ctx, entry)
  local best
  for code in pairs(entry.op.responses) do
    local n = tonumber(code)
    if n and n >= 200 and n < 300 and (not best or n < best) then best = n end
  end
  if not best then fail("%s: no 2xx response", entry.key) end
  local resp = deref(ctx.doc, entry.op.responses[tostring(best)])
  local medias = sorted_keys(resp.content or {})
  if #medias == 0 and best ~= 204 then note("%s %s: %d response has no media type", ctx.api, entry.key, best) end
  local field, total = list_info(ctx, resp, entry.op.operationId)
  local json = resp.content and resp.content["application/json"]
  local schema = json and json.schema and encode_node(compact(ctx, json.schema))
  -- the default Accept: JSON when the operation answers JSON (with other types or not)
  local accept
  for _, m in ipairs(medias) do
    if m == "application/json" or (not accept and m:find("json", 1, true)) then accept = m end
  end
  return { success = best, media = table.concat(medias, ","), list_field = field, total = total,
           schema = schema, accept = accept }
end

--- The (resource, operation) rows of a structure document: one per tag of each
-- operation, sorted by resource, then path, then verb.
-- @param doc the decoded structure document
-- @param api "v1" or "v2"
-- @return array of {resource=, method=, http=, path=, entry=}
function M.rows(doc, api)
  local index = index_operations(doc, "/api/" .. api)
  local rows, ids = {}, {}
  for _, key in ipairs(sorted_keys(index)) do
    local e = index[key]
    local id = e.op.operationId or fail("%s: %s has no operationId", api, key)
    if ids[id] then fail("%s: duplicate operationId %s", api, id) end
    ids[id] = true
    local tags = e.op.tags or fail("%s: %s has no tags", api, key)
    for _, tag in ipairs(tags) do
      rows[#rows + 1] = { resource = M.resource_name(tag), method = id, http = e.http, path = e.path, entry = e }
    end
  end
  table.sort(rows, function(a, b)
    if a.resource ~= b.resource then return a.resource < b.resource end
    if a.path ~= b.path then return a.path < b.path end
    return a.http < b.http
  end)
  return rows
end

--- Facts of one operation for C and for stage A's check against the official tables:
-- params (param_info list), resp (response_info), body kind, media and schema.
-- @param doc the decoded structure document
-- @param api "v1" or "v2"
-- @param entry a row's entry
function M.operation_info(doc, api, entry)
  local ctx = { doc = doc, refs = {}, api = api }
  local info = { params = operation_params(ctx, entry), resp = response_info(ctx, entry) }
  info.body, info.body_media, info.body_schema = body_info(ctx, entry)
  return info, ctx
end

-- C output ---------------------------------------------------------------------

-- One character as it may appear inside a C string literal (no trigraphs: '?' escaped).
local function c_char(c)
  if c == '"' or c == "\\" or c == "?" then return "\\" .. c end
  if c:match("[\32-\126]") then return c end
  return string.format("\\%03o", c:byte())
end

local function c_string(s)
  if s == nil then return "NULL" end
  return '"' .. s:gsub("[^%w _/{},.:%-]", c_char) .. '"'
end

--- Splits s into adjacent C literals, one per line, each line <= width columns.
-- @return the literals joined by newline + indent
local function c_chunks(s, indent, width)
  local lines, cur, len = {}, {}, 0
  for c in s:gmatch(".") do
    local e = c_char(c)
    if len + #e > width - #indent - 2 then
      lines[#lines + 1] = indent .. '"' .. table.concat(cur) .. '"'
      cur, len = {}, 0
    end
    cur[#cur + 1], len = e, len + #e
  end
  lines[#lines + 1] = indent .. '"' .. table.concat(cur) .. '"'
  return table.concat(lines, "\n")
end

local FLAG_NAMES = { "AF_PARAM_REQUIRED", "AF_PARAM_ARRAY", "AF_PARAM_CSV", "AF_PARAM_NULLABLE" }

local function c_flags(flags)
  local names = {}
  for i, name in ipairs(FLAG_NAMES) do
    if flags & (1 << (i - 1)) ~= 0 then names[#names + 1] = name end
  end
  return #names > 0 and table.concat(names, " | ") or "0"
end

local function c_ident(s) return (s:gsub("[^%w_]", "_")) end

-- Emits the enum and param arrays of one spec operation; returns the params symbol.
local function emit_params(out, api, opid, params)
  if #params == 0 then return "NULL" end
  local sym = api .. "_params_" .. c_ident(opid)
  for _, p in ipairs(params) do
    if p.enum then
      p.enum_sym = api .. "_enum_" .. c_ident(opid) .. "_" .. c_ident(p.name)
      out[#out + 1] = "static const char *const " .. p.enum_sym .. "[] = {"
      for _, v in ipairs(p.enum) do
        out[#out + 1] = "    " .. c_string(type(v) == "string" and v or M.encode_json(v)) .. ","
      end
      out[#out + 1] = "    NULL\n};"
    end
  end
  out[#out + 1] = "static const af_param " .. sym .. "[] = {"
  for _, p in ipairs(params) do
    local line = string.format("    { %s, %s, %s, %s,", c_string(p.name), IN_C[p.where], p.ctype,
      c_flags(p.flags))
    local tail = string.format(" %s, %s, %s },", p.enum_sym or "NULL", c_string(p.since), c_string(p.default))
    out[#out + 1] = #line + #tail > 100 and line .. "\n        " .. tail:sub(2) or line .. tail
  end
  out[#out + 1] = "};\n"
  return sym
end

-- A C literal for s, split over indented lines when it would not fit in width columns.
local function c_literal(s, indent, used)
  local lit = c_string(s)
  if used + #lit <= 100 then return lit end
  return "\n" .. c_chunks(s, indent, 100)
end

local function emit_operation(out, row, info)
  local ind = "      "
  local body = string.format("%sAF_BODY_%s, %s, ", ind, info.body:upper(), c_string(info.body_media))
  local resp = info.resp
  local since = string.format("%s%s, ", ind, c_string(row.entry.op["x-since"]))
  out[#out + 1] = string.format("    { %s, %s, %s,\n%s%s,\n%s%s, %d,\n%s%s,\n%s%d, %s, %s, %d,\n%s%s,\n%s%s },",
    c_string(row.resource), c_string(row.method), c_string(row.http),
    ind, c_literal(row.path, ind, #ind + 1), ind, info.params_sym, #info.params,
    body, c_literal(info.body_schema, ind, #body + 1),
    ind, resp.success, c_string(resp.media), c_string(resp.list_field), resp.total,
    since, c_literal(resp.schema, ind, #since + 1), ind, c_string(resp.accept))
end

-- The schemas blob: every component schema as a compact node, names sorted.
local function schemas_json(ctx)
  local parts = {}
  local schemas = ctx.doc.components.schemas
  for _, name in ipairs(sorted_keys(schemas)) do
    parts[#parts + 1] = json_scalar(name) .. ":" .. encode_node(compact(ctx, schemas[name]))
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

-- Self-checks: no dangling refs, all JSON parses with cjson.
local function self_check(ctx, blob, infos)
  for _, name in ipairs(sorted_keys(ctx.refs)) do
    if not ctx.doc.components.schemas[name] then fail("%s: dangling schema ref %s", ctx.api, name) end
  end
  local ok, err = pcall(cjson.decode, blob)
  if not ok then fail("%s: schemas JSON does not parse: %s", ctx.api, err) end
  for _, info in ipairs(infos) do
    if info.body_schema then cjson.decode(info.body_schema) end
    if info.resp.schema then cjson.decode(info.resp.schema) end
    for _, p in ipairs(info.params) do
      if p.default then cjson.decode(p.default) end
      if ctx.api == "v2" and not p.since then fail("v2: a parameter %s has no x-since", p.name) end
    end
  end
end

--- Generates csrc/registry_<api>.c from the structure document.
-- @param doc_path openapi/airflow-<api>.json
-- @param out_path output C file
-- @param api "v1" or "v2"
-- @return entries, operations, schemas counts
local function generate(doc_path, out_path, api)
  local doc = cjson.decode(read_all(doc_path))
  local ctx = { doc = doc, refs = {}, api = api }
  local rows = M.rows(doc, api)
  local infos, out, nops = {}, {}, 0
  for i, row in ipairs(rows) do
    local entry = row.entry
    if not entry.info then
      if api == "v2" and not entry.op["x-since"] then fail("v2: %s has no x-since", entry.key) end
      local info, octx = M.operation_info(doc, api, entry)
      for name in pairs(octx.refs) do ctx.refs[name] = true end
      info.params_sym = emit_params(out, api, row.method, info.params)
      entry.info = info
      nops = nops + 1
    end
    infos[i] = entry.info
  end
  local blob = schemas_json(ctx)
  self_check(ctx, blob, infos)
  local version = doc.info and doc.info.version or fail("%s: info.version missing", doc_path)
  local documented = table.concat(doc.info["x-documented-versions"] or {}, " ")
  out[#out + 1] = "static const af_operation " .. api .. "_ops[] = {"
  for i, row in ipairs(rows) do emit_operation(out, row, infos[i]) end
  out[#out + 1] = "};\n\nstatic const char " .. api .. "_schemas[] =\n" .. c_chunks(blob, "    ", 99) .. ";\n"
  out[#out + 1] = string.format("const af_registry af_registry_%s = {\n    %s, %s, %s_ops,\n"
    .. "    sizeof %s_ops / sizeof %s_ops[0],\n    %s_schemas,\n    %s,\n    %s\n};", api, c_string(api),
    c_string("/api/" .. api), api, api, api, api, c_string(version), c_string(documented))
  local head = string.format([[
/*
 * registry_%s.c - GENERATED by tools/gen_registry.lua from openapi/airflow-%s.json
 * (Airflow %s). Do not edit; regenerate with: make regen
 *
 * Derived from the Apache Airflow REST API OpenAPI document (Apache License 2.0,
 * The Apache Software Foundation). Only names, types and structure are taken from it.
 */
#include "registry.h"

]], api, api, version)
  local fh = io.open(out_path, "wb") or fail("cannot write %s", out_path)
  fh:write(head, table.concat(out, "\n"), "\n")
  fh:close()
  return #rows, nops, #sorted_keys(doc.components.schemas)
end

--- The repository root, from this script's path.
function M.root()
  local script_dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
  return script_dir:match("^(.*)/tools$") or (script_dir == "tools" and ".") or script_dir .. "/.."
end

local function main()
  local root = M.root()
  local out_dir = arg[1] or (root .. "/csrc")
  for _, api in ipairs({ "v1", "v2" }) do
    local path = out_dir .. "/registry_" .. api .. ".c"
    local entries, ops, schemas = generate(root .. "/openapi/airflow-" .. api .. ".json", path, api)
    print(string.format("%s: %d entries, %d operations, %d schemas", path, entries, ops, schemas))
  end
  for _, n in ipairs(notes) do io.stderr:write("note: ", n, "\n") end
end

if arg and arg[0] and arg[0]:match("gen_registry%.lua$") then main() end
return M
