--- Command-line parsing: flags anywhere on the line, `name=value` parameters,
-- positional words; and turning parameters into an operation's typed arguments.
-- @module airflow.cli.args
local util = require("airflow.cli.util")
local cjson = require("airflow.cli.json")

local M = {}

--- Flags every command accepts: name = metavar (takes a value) or false (a switch).
M.GLOBAL = {
  url = "URL", api = "v1|v2|auto", token = "TOKEN", username = "USER", password = "PASSWORD",
  ["password-stdin"] = false, ["token-stdin"] = false, ["ca-file"] = "FILE", insecure = false, timeout = "SECONDS",
  profile = "NAME", config = "FILE", output = "FORMAT", verbose = false, help = false, retries = "N",
  ["dry-run"] = false, ["read-only"] = false,
}

--- Flags of API operations.
M.OPERATION = { body = "JSON|@FILE|-", all = false, concurrency = "N", columns = "LIST", accept = "MEDIA" }

--- Flags of the convenience commands.
M.COMMAND = {
  conf = "JSON|@FILE|-", ["logical-date"] = "DATE", ["run-id"] = "ID", wait = false, interval = "SECONDS",
  try = "N", follow = false, ["map-index"] = "N", client = false, columns = "LIST", paginate = false,
  asset = "ID", yes = false, task = "LIST",
}

local SHORT = { h = "help", o = "output", v = "verbose" }

local ALL = {}
for _, set in ipairs{ M.GLOBAL, M.OPERATION, M.COMMAND } do
  for k, v in pairs(set) do ALL[k] = v end
end
M.ALL = ALL

local function set_flag(flags, name, value)
  flags[name] = value
  flags._order[#flags._order + 1] = name
end

-- Handles one "--name[=value]" or "-x"; returns the index of the next argument.
local function parse_flag(argv, i, flags)
  local a = argv[i]
  local name, value = a:match("^%-%-([^=]+)=(.*)$")
  if not name then
    name = a:match("^%-%-(.+)$")
    if not name then
      local s = a:sub(2)
      name = SHORT[s]
      if not name then util.usage("unknown option '%s'%s", a, util.suggest(s, SHORT)) end
    end
  end
  local metavar = ALL[name]
  if metavar == nil then
    util.usage("unknown option '--%s'%s", name, util.suggest(name, ALL))
  end
  if metavar == false then
    if value ~= nil then util.usage("option '--%s' takes no value", name) end
    set_flag(flags, name, true)
    return i + 1
  end
  if value == nil then
    value = argv[i + 1]
    if value == nil then util.usage("option '--%s' needs a value (%s)", name, metavar) end
    i = i + 1
  end
  set_flag(flags, name, value)
  return i + 1
end

--- Splits the command line.
-- @param argv the arguments (arg table of the script)
-- @return {flags = {name = value, _order = {...}}, words = {...}, params = {{name, value}, ...},
--   all_words = every argument that is not an option, in order (for the convenience commands)}
function M.parse(argv)
  local flags, words, params, all_words = { _order = {} }, {}, {}, {}
  local i, n, rest = 1, #argv, false
  while i <= n do
    local a = argv[i]
    if rest then
      words[#words + 1] = a
      all_words[#all_words + 1] = a
      i = i + 1
    elseif a == "--" then
      rest = true
      i = i + 1
    elseif a:match("^%-%-?[%a]") then
      i = parse_flag(argv, i, flags)
    else
      local name, value = a:match("^([%a_][%w_]*)=(.*)$")
      if name and #words >= 2 then
        params[#params + 1] = { name, value }
      else
        words[#words + 1] = a
      end
      all_words[#all_words + 1] = a
      i = i + 1
    end
  end
  return { flags = flags, words = words, params = params, all_words = all_words }
end

--- Checks that only allowed flags were given.
-- @param flags the parsed flags
-- @param allowed a list of flag sets (tables name -> metavar)
-- @param what the command, for the message
function M.check_flags(flags, allowed, what)
  for _, name in ipairs(flags._order) do
    local ok = false
    for _, set in ipairs(allowed) do
      if set[name] ~= nil then ok = true end
    end
    if not ok then util.usage("option '--%s' does not apply to %s", name, what) end
  end
end

--- A number flag's value, or nil when absent.
function M.number_flag(flags, name, integer)
  local v = flags[name]
  if v == nil then return nil end
  local n = tonumber(v)
  if integer then n = n and math.tointeger(n) end
  if not n or n < 0 then
    util.usage("option '--%s' expects a non-negative %s, got '%s'", name, integer and "integer" or "number", v)
  end
  return n
end


local function where(op, p)
  return ("%s %s: parameter '%s'"):format(op.resource, op.name, p.name)
end

--- Converts one textual value by the parameter's type (and enum).
-- @param op the operation
-- @param p the parameter
-- @param text the value as typed
function M.convert(op, p, text)
  local t = p.type
  if text == "null" and t ~= "string" then return cjson.null end
  local v
  if t == "integer" then
    v = math.tointeger(tonumber(text))
    if not v then util.usage("%s expects an integer, got '%s'", where(op, p), text) end
  elseif t == "number" then
    v = tonumber(text)
    if not v then util.usage("%s expects a number, got '%s'", where(op, p), text) end
  elseif t == "boolean" then
    v = util.BOOLEAN_WORDS[text:lower()]
    if v == nil then util.usage("%s expects true or false, got '%s'", where(op, p), text) end
  else
    v = text
  end
  if p.enum then
    local ok = false
    for _, e in ipairs(p.enum) do
      if e == v then ok = true end
    end
    if not ok then
      util.usage("%s must be one of %s, got '%s'%s", where(op, p), table.concat(p.enum, ", "), text,
        util.suggest(text, p.enum))
    end
  end
  return v
end

local function param_candidates(op)
  local names = {}
  for _, p in ipairs(op.params) do names[#names + 1] = p.name end
  return names
end

local function add_param(args, op, name, text)
  local p = op.param_by_name[name]
  if not p then
    if name == "body" then util.usage("give the request body with --body JSON|@FILE|-, not body=") end
    util.usage("%s %s has no parameter '%s'%s (see: airflow-lua %s %s --help)", op.resource, op.name, name,
      util.suggest(name, param_candidates(op)), op.resource, op.name)
  end
  if p.array then
    local list = args[name] or cjson.array({})
    for piece in text:gmatch("[^,]+") do list[#list + 1] = M.convert(op, p, piece) end
    args[name] = list
  else
    if args[name] ~= nil then util.usage("parameter '%s' given more than once", name) end
    args[name] = M.convert(op, p, text)
  end
end

--- Builds an operation's arguments from `name=value` pairs and positional words
-- (which fill the path parameters in path order). Raises usage failures.
-- @param op the operation (from airflow.registry)
-- @param params {{name, value}, ...}
-- @param positional extra words
-- @return the arguments table
function M.build(op, params, positional)
  local args = {}
  for _, pv in ipairs(params) do add_param(args, op, pv[1], pv[2]) end
  local free = {}
  for _, name in ipairs(op.path_params) do
    if args[name] == nil then free[#free + 1] = name end
  end
  if #positional > #free then
    local extra = table.concat(positional, " ", #free + 1)
    if #op.path_params == 0 then
      util.usage("%s %s: unexpected '%s' (it has no path parameters; give others as NAME=VALUE)", op.resource,
        op.name, extra)
    end
    util.usage("%s %s: unexpected '%s' (its path parameters are %s; give others as NAME=VALUE)", op.resource,
      op.name, extra, table.concat(op.path_params, ", "))
  end
  for i, text in ipairs(positional) do
    add_param(args, op, free[i], text)
  end
  for _, p in ipairs(op.params) do
    if p.required and args[p.name] == nil then
      util.usage("%s %s needs %s=VALUE (%s parameter)", op.resource, op.name, p.name, p["in"])
    end
  end
  return args
end

--- Reads a JSON value given as text, @file or - (stdin) and decodes it.
-- @param spec the flag's value
-- @param what the flag, for messages
-- @return the decoded value and the raw text
function M.json_value(spec, what)
  local text = spec
  if spec == "-" or spec:sub(1, 1) == "@" then
    local path = spec == "-" and "-" or spec:sub(2)
    local err
    text, err = util.read_file(path)
    if not text then util.usage("%s: cannot read %s: %s", what, path, err) end
  end
  local v, why = cjson.decode(text)
  if v == nil then util.usage("%s is not valid JSON: %s", what, tostring(why)) end
  return v, text
end

return M
