--- Conformance suite: every operation of both APIs, called through the library
-- against Prism mock servers that validate each request against the committed
-- structure-only OpenAPI documents (openapi/airflow-v*.json, made by `make regen` from
-- the official ones: the same paths, parameters and schemas, without their text).
--
-- Needs Prism (tools/install-prism puts it in .tools/). When it is missing the suite
-- FAILS: it never skips.
--
-- Arguments are generated from the registry (parameter types, enums) and the
-- compact body schemas (required fields, recursively). Each operation is called
-- twice: once with the minimum (path parameters, required query parameters and the
-- smallest valid body), once with "tricky" identifiers (characters that need
-- percent-encoding), every optional query and header parameter filled in, and
-- date-times given as epoch numbers (so the library has to format them).
-- An operation is accepted when both calls get a 2xx answer with no request
-- violation reported by Prism (status 4xx and/or an `sl-violations` header).
--
-- Run: lua5.4 /usr/bin/busted spec/conformance_spec.lua   (or `make test-conformance`)
-- Environment: PRISM (path of the prism binary),
-- CONFORMANCE_VERBOSE=1 (print every request), CONFORMANCE_KEEP_LOGS=1 (keep Prism's logs).
local airflow = require("airflow")
local registry = require("airflow.registry")
local json = require("airflow.json")
local core = require("airflow.core")

local ROOT = (function()
  local src = debug.getinfo(1, "S").source:gsub("^@", "")
  return src:match("^(.*)/spec/[^/]*$") or "."
end)()

local SPEC_DIR = ROOT .. "/openapi"
local generator = dofile(ROOT .. "/tools/gen_registry.lua") -- resource names of tags
local PRISM = os.getenv("PRISM")
if not PRISM or PRISM == "" then PRISM = ROOT .. "/.tools/node_modules/.bin/prism" end
local START_TIMEOUT = 60 -- seconds for Prism to listen
local VERBOSE = os.getenv("CONFORMANCE_VERBOSE") -- print every request sent

local SPECS = {
  v2 = { doc = "airflow-v2.json", rows = 130, distinct = 128 },
  v1 = { doc = "airflow-v1.json", rows = 90, distinct = 89 },
}

---------------------------------------------------------------------------------
-- Files and processes

local function q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local read_file = require("env").read

local function need_file(path, what)
  local data = read_file(path)
  if not data then error(("conformance: %s not found at %s"):format(what, path), 0) end
  return data
end

local function alive(pid)
  return pid and os.execute("kill -0 " .. pid .. " 2>/dev/null") == true
end

local function own_pid()
  local stat = read_file("/proc/self/stat")
  return stat and tonumber(stat:match("^(%d+)"))
end

--- Starts `prism mock` on a free loopback port (port 0: the kernel picks one and
-- Prism logs it). A watchdog shell stops Prism if this process dies without
-- tearing down (busted killed, crash). Returns {pid, watchdog, log, url}.
local function start_prism(spec_path)
  local log = os.tmpname()
  local pidfile = os.tmpname()
  local parent = own_pid()
  local script = table.concat({
    q(PRISM) .. " mock -h 127.0.0.1 -p 0 " .. q(spec_path) .. " >" .. q(log) .. " 2>&1 </dev/null &",
    "p=$!",
    "echo $p >" .. q(pidfile),
    parent and table.concat({
      "while kill -0 " .. parent .. " 2>/dev/null && kill -0 $p 2>/dev/null; do sleep 1; done",
      "if ! kill -0 " .. parent .. " 2>/dev/null; then kill $p 2>/dev/null; sleep 1; rm -f " .. q(log) .. "; fi",
    }, "\n") or "wait $p",
  }, "\n")
  local ph = assert(io.popen("sh -c " .. q(script) .. " >/dev/null 2>&1 </dev/null & echo $!"))
  local watchdog = tonumber(ph:read("l"))
  ph:close()
  local server = { watchdog = watchdog, log = log, spec = spec_path }
  for _ = 1, 100 do -- the pid file appears at once
    local text = read_file(pidfile)
    server.pid = text and tonumber(text:match("%d+"))
    if server.pid then break end
    core.sleep(0.02)
  end
  os.remove(pidfile)
  return server
end

--- Waits until a started Prism listens; raises with its log when it does not.
local function await_prism(server)
  local deadline = core.now() + START_TIMEOUT
  while true do
    local text = read_file(server.log) or ""
    local url = text:match("Prism is listening on (http://[%w%.:]+)")
    if url then -- it says so once it listens; check that it answers
      local session = core.session{ timeout = 2, connect_timeout = 1 }
      local res = session:request{ method = "GET", url = url .. "/" }
      session:close()
      if res then
        server.url = url
        return server
      end
    end
    if not alive(server.pid) or core.now() > deadline then
      error(("conformance: Prism did not start for %s (%s); its log:\n%s"):format(server.spec,
        alive(server.pid) and ("not listening after " .. START_TIMEOUT .. " s") or "it exited",
        text:sub(1, 4000)), 0)
    end
    core.sleep(0.1)
  end
end

local function stop_prism(server)
  if not server then return end
  if alive(server.pid) then
    os.execute("kill " .. server.pid .. " 2>/dev/null")
    local deadline = core.now() + 5
    while alive(server.pid) and core.now() < deadline do core.sleep(0.05) end
    if alive(server.pid) then os.execute("kill -9 " .. server.pid .. " 2>/dev/null") end
  end
  if alive(server.watchdog) then os.execute("kill " .. server.watchdog .. " 2>/dev/null") end
  if os.getenv("CONFORMANCE_KEEP_LOGS") then
    print("conformance: Prism log kept at " .. server.log)
  else
    os.remove(server.log)
  end
end

---------------------------------------------------------------------------------
-- Argument generation

-- Identifier samples by parameter name. PLAIN for the minimal call; TRICKY for the
-- full one: valid ids that need percent-encoding (spaces, ':', '+', '@', '%',
-- non-ASCII) or look like something else (dots, dashes).
local PLAIN = {
  dag_id = "example_dag", dag_run_id = "manual_run_1", task_id = "extract",
  xcom_key = "return_value", variable_key = "my_variable", connection_id = "my_conn",
  pool_name = "default_pool", section = "core", option = "dags_folder",
  file_token = "Ii9maWxlcy9kYWdzL2V4YW1wbGUucHki", uri = "s3_bucket_key",
  role_name = "Viewer", username = "jane",
}
local TRICKY = {
  dag_id = "example.dag-v2_x", dag_run_id = "manual__2024-01-01T00:00:00+00:00",
  task_id = "group_1.task-a", xcom_key = "return value", variable_key = "my var: \u{e9}t\u{e9}",
  connection_id = "conn@host~1", pool_name = "pool 50%", section = "core",
  option = "sql_alchemy_conn", file_token = "Ii9maWxlcy9kYWdzL2V4YW1wbGUucHki.ZnvvQ-_x",
  uri = "s3://bucket/key?x=1", role_name = "Op (custom)", username = "jane.doe+1@example.com",
}
-- RFC 3339 sample, and the same instant as epoch seconds (the library formats it)
local DATE_TEXT, DATE_EPOCH = "2024-01-01T00:00:00Z", 1704067200

-- Body overrides, by schema name. Kept small; each says why it is needed.
local SCHEMA_OVERRIDES = {}
-- BulkBody_<Entity>_.actions items are a oneOf of create/update/delete actions in the
-- spec, which the compact schemas render as a free-form object ({} would match none of
-- the alternatives): send one "create" action built from BulkCreateAction_<Entity>_.
local function bulk_override(name, gen)
  local entity = name:match("^BulkBody_(.+)_$")
  if not entity then return nil end
  return { actions = { gen({ ["$"] = "BulkCreateAction_" .. entity .. "_" }, "action") } }
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

--- A body generator over compact schema nodes. "minimal": required properties
-- only, one item per array. "full": also every optional property that the spec
-- does not mark readOnly: arrays as empty Lua tables (the encoder must send []),
-- date-times as epoch numbers (it must format them), other nullable ones as null;
-- a schema already being expanded is not entered again (the schemas are recursive).
-- @param facts spec_facts(): read_only and non_empty sets of "Schema.property" names
local function make_generator(schemas, mode, facts)
  local active = {}
  local gen
  local function resolve(node)
    local depth = 0
    while node and node["$"] and depth < 20 do node, depth = schemas[node["$"]], depth + 1 end
    return node or {}
  end
  local function optional(child, name, depth, where)
    local target = resolve(child)
    if (child.t or target.t) == "array" then
      return facts.non_empty[where] and gen(child, name, depth + 1) or {}
    end
    if (child.f or target.f) == "date-time" then return DATE_EPOCH end
    if child.n or target.n then return json.null end
    return gen(child, name, depth + 1)
  end
  gen = function(node, name, depth, owner)
    depth = depth or 0
    assert(depth < 30, "schema too deep at " .. tostring(name))
    local ref = node["$"]
    if ref then
      local special = SCHEMA_OVERRIDES[ref] or bulk_override(ref, gen)
      if special then return special end
      active[ref] = true
      local value = gen(assert(schemas[ref], "unknown schema " .. ref), name, depth + 1, ref)
      active[ref] = nil
      return value
    end
    if node.e then return node.e[1] end
    local t = node.t
    if t == "object" then
      local out, props = {}, node.p or {}
      for _, k in ipairs(node.r or {}) do out[k] = gen(props[k] or { t = "any" }, k, depth + 1) end
      if mode == "full" then
        for _, k in ipairs(sorted_keys(props)) do
          local child = props[k]
          local where = (owner or "?") .. "." .. k
          if out[k] == nil and not facts.read_only[where] and not (child["$"] and active[child["$"]]) then
            out[k] = optional(child, k, depth, where)
          end
        end
      end
      return out
    elseif t == "array" then
      return { gen(node.i or { t = "any" }, name, depth + 1) }
    elseif t == "string" then
      if node.f == "date-time" then return mode == "full" and DATE_EPOCH or DATE_TEXT end
      -- identifiers in bodies may carry a pattern (connection_id: ^[\w.-]+$): plain ones
      return PLAIN[name] or ("sample_" .. tostring(name))
    elseif t == "integer" then
      return 1
    elseif t == "number" then
      return 1.5
    elseif t == "boolean" then
      return true
    end
    return "sample" -- "any": a JSON string is a valid value of any schema
  end
  return gen
end

--- The sample value of a parameter.
local function param_value(p, mode)
  local function scalar()
    if p.enum then return p.enum[1] end
    if p.type == "integer" then return p["in"] == "path" and 42 or 1 end
    if p.type == "number" then return 1.5 end
    if p.type == "boolean" then return true end
    if p.type == "date-time" then return mode == "full" and DATE_EPOCH or DATE_TEXT end
    local ids = mode == "full" and TRICKY or PLAIN
    return ids[p.name] or (mode == "full" and ("sample " .. p.name .. "/&=?") or ("sample_" .. p.name))
  end
  if p.array then
    if mode == "full" then return { scalar(), scalar() } end
    return { scalar() }
  end
  return scalar()
end

--- Arguments for an operation: "minimal" (path, required query/header, minimal
-- body) or "full" (tricky ids, every query and header parameter, epoch date-times).
local function make_args(op, reg, mode, facts)
  local args = {}
  for _, p in ipairs(op.params) do
    if p.required or p["in"] == "path" or mode == "full" then
      args[p.name] = param_value(p, mode)
    end
  end
  if op.body ~= "none" then
    local node = reg.body_schema(op)
    args.body = node and make_generator(reg.schemas(), mode, facts)(node, "body") or {}
  end
  return args
end

---------------------------------------------------------------------------------
-- Calls and checks

--- A transport that wraps the curl one and remembers the last exchange, so the
-- checks can see the request we built and Prism's response headers.
local function recording_transport()
  local inner = assert(require("airflow.transport.curl").new{ timeout = 30, connect_timeout = 5 })
  local t = { name = "recording" }
  function t.set_auth(_, creds) inner:set_auth(creds) end
  function t.request(self, req)
    local res, err = inner:request(req)
    self.last = { req = req, res = res, err = err }
    return res, err
  end
  function t.close() inner:close() end
  return t
end

--- The request violations Prism reported: sl-violations header entries located
-- in the request, and the validation list of a Prism-generated problem body.
local function violations(res)
  local out = {}
  local header = res.headers["sl-violations"]
  if header then
    local list = json.decode(header)
    if type(list) ~= "table" then
      out[#out + 1] = header
    else
      for _, v in ipairs(list) do
        local loc = type(v.location) == "table" and v.location or {}
        if loc[1] == "request" then
          out[#out + 1] = ("%s: %s"):format(table.concat(loc, "."), tostring(v.message))
        end
      end
    end
  end
  if res.status >= 400 and (res.headers["content-type"] or ""):find("problem", 1, true) then
    local problem = json.decode(res.body or "")
    if type(problem) == "table" and type(problem.validation) == "table" then
      for _, v in ipairs(problem.validation) do
        out[#out + 1] = ("%s: %s"):format(table.concat(v.location or {}, "."), tostring(v.message))
      end
    elseif type(problem) == "table" then
      out[#out + 1] = tostring(problem.detail or problem.title)
    end
  end
  return out
end

local function describe_request(req)
  local lines = { ("    %s %s"):format(req.method, req.url) }
  for k, v in pairs(req.headers or {}) do
    lines[#lines + 1] = "    " .. (type(k) == "number" and v or (k .. ": " .. v))
  end
  if req.body then lines[#lines + 1] = "    body: " .. req.body:sub(1, 500) end
  return table.concat(lines, "\n")
end

--- Calls one operation with `args` through the public API (client.<resource>:<op>);
-- returns nil when Prism accepted the request, else a message.
local function check_call(client, transport, op, args, tag)
  transport.last = nil
  local resource = client[op.resource]
  local ok, result, err = pcall(resource[op.name], resource, args)
  if not ok then return ("%s: raised: %s"):format(tag, tostring(result)) end
  local last = transport.last
  if not last then return tag .. ": no request was sent" end
  if not last.res then
    return ("%s: transport error: %s\n%s"):format(tag, tostring(err or (last.err and last.err.message)),
      describe_request(last.req))
  end
  local res = last.res
  local problems = violations(res)
  if res.status < 200 or res.status >= 300 or #problems > 0 or result == nil then
    local why = #problems > 0 and table.concat(problems, "; ") or tostring(err)
    return ("%s: status %d: %s\n%s"):format(tag, res.status, why, describe_request(last.req))
  end
  if res.status ~= op.success then
    return ("%s: status %d, the spec's success status is %d"):format(tag, res.status, op.success)
  end
  return nil
end

--- What the tests take from an OpenAPI document besides the registry:
--   unsecured[operationId]  operations that declare no security of their own (Prism's
--                           quirk: it answers 401 to them when credentials are sent,
--                           so they are called without any)
--   read_only["Schema.property"]  properties a request should not carry
--   non_empty["Schema.property"]  arrays with minItems > 0 (not in the compact schemas)
local function spec_facts(doc)
  local facts = { unsecured = {}, read_only = {}, non_empty = {} }
  for _, item in pairs(doc.paths or {}) do
    for _, operation in pairs(item) do
      if type(operation) == "table" and operation.operationId and operation.security == nil then
        facts.unsecured[operation.operationId] = true
      end
    end
  end
  local all = (doc.components or {}).schemas or {}
  local function collect(name, schema, depth)
    if type(schema) ~= "table" or depth > 10 then return end
    if type(schema["$ref"]) == "string" then
      local target = schema["$ref"]:match("^#/components/schemas/(.+)$")
      return collect(name, target and all[target], depth + 1)
    end
    for prop, ps in pairs(schema.properties or {}) do
      if type(ps) == "table" and ps.readOnly == true then facts.read_only[name .. "." .. prop] = true end
      if type(ps) == "table" and (tonumber(ps.minItems) or 0) > 0 then facts.non_empty[name .. "." .. prop] = true end
    end
    for _, part in ipairs(schema.allOf or {}) do collect(name, part, depth + 1) end
  end
  for name, schema in pairs(all) do collect(name, schema, 0) end
  return facts
end

--- Runs every registry row of an API in both modes; returns the accepted count,
-- the distinct operation count and the failure messages.
-- @param client_for function(op) -> the client to call op with
local function run_api(api, client_for, transport, facts)
  local reg = registry.get(api)
  local distinct, failed, failures = {}, {}, {}
  for _, op in ipairs(reg.ops) do
    local key = op.method .. " " .. op.path
    distinct[key] = true
    for _, mode in ipairs{ "minimal", "full" } do
      local tag = ("%s.%s [%s]"):format(op.resource, op.name, mode)
      local args = make_args(op, reg, mode, facts)
      local msg = check_call(client_for(op), transport, op, args, tag)
      if VERBOSE and transport.last then
        print(tag .. (msg and " REJECTED" or " ok") .. "\n" .. describe_request(transport.last.req))
      end
      if msg then
        failed[key] = true
        failures[#failures + 1] = msg
      end
    end
  end
  local n, bad = 0, 0
  for key in pairs(distinct) do
    n = n + 1
    if failed[key] then bad = bad + 1 end
  end
  return n - bad, n, failures
end

---------------------------------------------------------------------------------

describe("conformance: registry", function()
  for _, api in ipairs{ "v2", "v1" } do
    it("has every operation of openapi/airflow-" .. api .. ".json under each of its tags", function()
      local doc = json.decode(need_file(SPEC_DIR .. "/" .. SPECS[api].doc, "structure document"))
      local reg = registry.get(api)
      local problems, seen, rows = {}, {}, 0
      local function bad(fmt, ...) problems[#problems + 1] = fmt:format(...) end
      for path, item in pairs(doc.paths) do
        for verb, operation in pairs(item) do
          for _, tag in ipairs(operation.tags) do
            rows = rows + 1
            local resource = generator.resource_name(tag)
            local tag_name = resource .. "." .. operation.operationId
            local op = reg.resources[resource] and reg.resources[resource][operation.operationId]
            if not op then
              bad("%s: missing from the registry", tag_name)
            else
              seen[op] = true
              if op.method ~= verb:upper() then bad("%s: verb %s, the document says %s", tag_name, op.method, verb) end
              if op.path ~= path then bad("%s: path %s, the document says %s", tag_name, op.path, path) end
              local in_path = {}
              for name in path:gmatch("{([^}]+)}") do in_path[#in_path + 1] = name end
              if table.concat(op.path_params, ",") ~= table.concat(in_path, ",") then
                bad("%s: path params %s, the path has %s", tag_name, table.concat(op.path_params, ","),
                  table.concat(in_path, ","))
              end
              local want, got = {}, {}
              for _, p in ipairs(operation.parameters or {}) do want[#want + 1] = p["in"] .. ":" .. p.name end
              for _, p in ipairs(op.params) do got[#got + 1] = p["in"] .. ":" .. p.name end
              table.sort(want)
              table.sort(got)
              if table.concat(want, ",") ~= table.concat(got, ",") then
                bad("%s: params %s, the document has %s", tag_name, table.concat(got, ","), table.concat(want, ","))
              end
            end
          end
        end
      end
      for _, op in ipairs(reg.ops) do
        if not seen[op] then bad("%s.%s: in the registry but not in the document", op.resource, op.name) end
      end
      assert.are.equal(SPECS[api].rows, rows, "(resource, operation) pairs in " .. SPECS[api].doc)
      assert.are.equal(rows, #reg.ops, "registry entries")
      assert(#problems == 0, table.concat(problems, "\n"))
    end)
  end
end)

describe("conformance against Prism", function()
  local servers = {}
  local started_at

  lazy_setup(function()
    local t0 = core.now()
    local ok, err = pcall(function()
      local probe = io.open(PRISM, "rb")
      if not probe then
        error(("conformance: Prism is not installed (no %s): run tools/install-prism "
          .. "(or `make setup`), or set PRISM to its path"):format(PRISM), 0)
      end
      probe:close()
      for _, api in ipairs{ "v2", "v1" } do
        local path = SPEC_DIR .. "/" .. SPECS[api].doc
        SPECS[api].facts = spec_facts(json.decode(need_file(path, "structure document")))
        servers[api] = start_prism(path) -- both start at once; then wait for both
      end
      for _, api in ipairs{ "v2", "v1" } do await_prism(servers[api]) end
      started_at = core.now()
      print(("\nconformance: Prism up in %.1f s (v2 %s, v1 %s)"):format(started_at - t0, servers.v2.url,
        servers.v1.url))
    end)
    if not ok then
      for _, server in pairs(servers) do stop_prism(server) end
      servers = {}
      error(err, 0)
    end
  end)

  lazy_teardown(function()
    for _, server in pairs(servers) do stop_prism(server) end
    servers = {}
    if started_at then print(("\nconformance: calls took %.1f s"):format(core.now() - started_at)) end
  end)

  -- The checks are only worth something if they can fail: requests Prism must
  -- refuse, through each way a refusal shows (422 + sl-violations header, 401 +
  -- sl-violations, Prism's own problem+json body with a validation list).
  it("self-check: rejected requests are detected", function()
    local transport = recording_transport()
    local v2 = assert(airflow.new{ base_url = servers.v2.url, api = "v2", token = "test-token",
      transport = transport, retries = 0 })
    local v2_anonymous = assert(airflow.new{ base_url = servers.v2.url, api = "v2", transport = transport,
      retries = 0 })
    local v1 = assert(airflow.new{ base_url = servers.v1.url, api = "v1", username = "admin",
      password = "secret", transport = transport, retries = 0 })
    local v1_bearer = assert(airflow.new{ base_url = servers.v1.url, api = "v1", token = "t",
      transport = transport, retries = 0 })
    local r2, r1 = registry.get("v2").resources, registry.get("v1").resources
    local cases = {
      { v2, r2.pool.post_pool, { body = '{"name": 1}' }, "must be string" },        -- wrong body type
      { v2, r2.connection.post_connection, { body = "{}" }, "required property" },  -- missing fields
      { v2_anonymous, r2.dag.get_dags, {}, "security scheme" },                     -- no credentials
      { v1, r1.pool.post_pool, { body = '{"slots": "x"}' }, "must be integer" },    -- problem+json
      { v1_bearer, r1.dag.get_dags, {}, "security scheme" },                        -- wrong scheme
    }
    for i, case in ipairs(cases) do
      local client, op, args, word = table.unpack(case)
      local msg = check_call(client, transport, op, args, ("case %d %s.%s"):format(i, op.resource, op.name))
      assert(msg, ("case %d (%s.%s) was not flagged"):format(i, op.resource, op.name))
      assert(msg:lower():find(word, 1, true), ("case %d: %q does not mention %q"):format(i, msg, word))
    end
    transport:close()
  end)

  it("v2: every operation is accepted", function()
    local unsecured = SPECS.v2.facts.unsecured
    local transport = recording_transport()
    local url = assert(servers.v2 and servers.v2.url, "Prism v2 is not running")
    local with_token = assert(airflow.new{ base_url = url, api = "v2", token = "test-token",
      transport = transport, retries = 0 })
    local anonymous = assert(airflow.new{ base_url = url, api = "v2", transport = transport, retries = 0 })
    local accepted, total, failures = run_api("v2", function(op)
      return unsecured[op.name] and anonymous or with_token
    end, transport, SPECS.v2.facts)
    transport:close()
    print(("\nconformance v2: %d/%d operations accepted"):format(accepted, total))
    assert.are.equal(SPECS.v2.distinct, total, "distinct v2 operations")
    assert(#failures == 0, "rejected v2 calls:\n" .. table.concat(failures, "\n"))
  end)

  it("v1: every operation is accepted", function()
    local transport = recording_transport()
    local url = assert(servers.v1 and servers.v1.url, "Prism v1 is not running")
    local client = assert(airflow.new{ base_url = url, api = "v1", username = "admin", password = "s3cr3t p@ss!",
      transport = transport, retries = 0 })
    local accepted, total, failures = run_api("v1", function() return client end, transport, SPECS.v1.facts)
    transport:close()
    print(("\nconformance v1: %d/%d operations accepted"):format(accepted, total))
    assert.are.equal(SPECS.v1.distinct, total, "distinct v1 operations")
    assert(#failures == 0, "rejected v1 calls:\n" .. table.concat(failures, "\n"))
  end)
end)
