--- airflow-lua, the command line: `airflow-lua RESOURCE OPERATION [name=value ...]`
-- for every operation of both API versions, plus convenience commands.
-- `require("airflow.cli").main(arg)` returns the exit code (0 success, 1 API error,
-- 2 usage error, 3 network error or timeout).
-- @module airflow.cli
local registry = require("airflow.registry")
local args = require("airflow.cli.args")
local util = require("airflow.cli.util")
local output = require("airflow.cli.output")
local help = require("airflow.cli.help")

local M = {}

local Ctx = {}
Ctx.__index = Ctx

--- Writes a warning on stderr.
function Ctx:warn(msg)
  self.err:write("airflow-lua: warning: ", msg, "\n")
end

--- True when stderr is a terminal.
function Ctx.stderr_tty(_)
  return output.isatty(2)
end

--- The API to use for offline lookups (help, registry): v1 or v2.
function Ctx:api_hint()
  return require("airflow.cli.config").api_hint(self.flags, self.getenv)
end

--- The resolved settings (flags, environment, profile), computed once.
function Ctx:settings()
  if not self._settings then
    local config = require("airflow.cli.config")
    local flags = self.flags
    if self.timeout_is_wait then
      flags = setmetatable({ timeout = false }, { __index = self.flags })
    end
    local s = config.resolve(flags, self.getenv, function(msg) self:warn(msg) end)
    s.cache_path = config.cache_path(self.getenv, s.profile)
    self._settings = s
  end
  return self._settings
end

local function progress_reporter(ctx)
  if not ctx.flags.all or not ctx:stderr_tty() then return nil end
  return function(done, total)
    ctx.progress_shown = true
    ctx.err:write(total and ("\r\27[Kairflow-lua: fetched %d of %d pages"):format(done, total)
      or ("\r\27[Kairflow-lua: fetched %d pages"):format(done)) -- cursor pages: no total
    ctx.err:flush()
  end
end

--- The client (created once). Raises failures for bad settings or transports.
-- @param extra {skip_cache = true} to ignore a cached token; {anonymous = true} for no credentials
function Ctx:client(extra)
  if self._client then return self._client, self._state end
  local session = require("airflow.cli.session")
  local s = self:settings()
  if extra and extra.anonymous then
    s = setmetatable({ auth = "none" }, { __index = s })
  end
  local ui = {
    err = self.err, out = self.out, verbose = self.flags.verbose,
    warn = function(msg) self:warn(msg) end,
  }
  local client, state = session.connect(s, ui, extra)
  if not client then self:api_fail(state) end
  self._client, self._state = client, state
  return client, state
end

--- The API version the client speaks (asks the server once for "auto").
function Ctx:api(client)
  local api, err = client:api_version()
  if not api then self:api_fail(err) end
  return api
end

--- The error worth reporting (a login failure behind a token provider failure).
function Ctx:explain(err)
  return require("airflow.cli.session").explain(self._state, err)
end

--- True when err ends a dry run (its request was printed, not sent).
function Ctx.is_dry_run(_, err)
  return require("airflow.cli.dry_run").is_end(err)
end

--- Raises the failure for an airflow.Error (exit 3 for network, 1 otherwise); the
-- end of a dry run exits 0 quietly.
function Ctx:api_fail(err)
  if self:is_dry_run(err) then util.fail(util.EXIT.ok, "") end
  err = self:explain(err)
  util.fail(util.code_for(err), "%s", tostring(err))
end

local library_message = util.library_message

--- Calls an operation: build (bad arguments are usage failures), send, decode.
-- @param client the client
-- @param op an operation or "resource.operation"
-- @param a its arguments
-- @param accept the Accept header to send (default: --accept, else the library's)
-- @return the decoded result, or nil, err
function Ctx:call(client, op, a, accept)
  if type(op) == "string" then
    local found, why = registry.find(self:api(client), op)
    if not found then util.usage("%s", why) end
    op = found
  end
  accept = accept or self.flags.accept
  local ok, result, err = pcall(client.call, client, op, a, accept and { accept = accept } or nil)
  if not ok then util.usage("%s", library_message(result)) end
  return result, err
end

--- Prints a result in the chosen format.
-- @param value the decoded result
-- @param list_field the collection field of the operation, if any
function Ctx:print(value, list_field)
  self.format = self.format or output.choose(self.flags.output)
  local text = output.render(value, { format = self.format, list_field = list_field, columns = self.columns })
  self.out:write(text)
end

-- ---------------------------------------------------------------- operations

local function check_output(flags)
  if flags.output then
    local ok = false
    for _, f in ipairs(output.FORMATS) do
      if f == flags.output then ok = true end
    end
    if not ok then
      util.usage("unknown output format '%s' (one of %s)%s", flags.output, table.concat(output.FORMATS, ", "),
        util.suggest(flags.output, output.FORMATS))
    end
  end
end

local function read_body(op, flags)
  if not flags.body then
    if op.body == "required" then
      util.usage("%s %s needs a request body: --body JSON|@FILE|- (see --help for its fields)", op.resource, op.name)
    end
    return nil
  end
  if op.body == "none" then util.usage("%s %s takes no request body", op.resource, op.name) end
  local value, text = args.json_value(flags.body, "--body")
  if type(value) == "table" then return value end
  return text
end

local function fetch_all(ctx, client, op, a)
  if not op.list_field or not op.param_by_name.offset then
    util.usage("--all: %s %s does not return a paged collection", op.resource, op.name)
  end
  local concurrency = args.number_flag(ctx.flags, "concurrency", true) or 4
  if concurrency < 1 then util.usage("--concurrency must be at least 1") end
  local ok, items, total = pcall(client.collect, client, op, a,
    { concurrency = concurrency, on_progress = progress_reporter(ctx) })
  if ctx.progress_shown then ctx.err:write("\r\27[K") end
  if not ok then util.usage("%s", library_message(items)) end
  if not items then return nil, total end
  return { [op.list_field] = items, total_entries = total or #items }
end

-- Finds the operation in the API the client speaks (it may differ under "auto").
local function resolve_op(ctx, client, op)
  local api = ctx:api(client)
  if api == op.api then return op end
  local other = registry.get(api).resources[op.resource]
  local found = other and other[op.name]
  if not found then
    util.usage("%s %s exists only in the %s API, but the server speaks %s", op.resource, op.name, op.api, api)
  end
  return found
end

local function run_operation(ctx, reg, op, parsed)
  local flags = parsed.flags
  args.check_flags(flags, { args.GLOBAL, args.OPERATION }, "API operations")
  if flags.help then
    ctx.out:write(help.operation(reg, op))
    return util.EXIT.ok
  end
  local positional = table.move(parsed.words, 3, #parsed.words, 1, {})
  args.build(op, parsed.params, positional) -- usage errors before any request
  local body = read_body(op, flags)
  local client = ctx:client()
  op = resolve_op(ctx, client, op)
  local a = args.build(op, parsed.params, positional)
  a.body = body
  local result, err
  if flags.all then
    result, err = fetch_all(ctx, client, op, a)
  else
    result, err = ctx:call(client, op, a)
  end
  if result == nil then ctx:api_fail(err) end
  ctx:print(result, op.list_field)
  return util.EXIT.ok
end

-- ---------------------------------------------------------------- dispatch

local function all_names(reg)
  local names = {}
  for _, n in ipairs(reg.names) do names[#names + 1] = n end
  for n in pairs(help.COMMANDS) do names[#names + 1] = n end
  return names
end

local function run_command(ctx, name, reg, parsed)
  local cmd = help.COMMANDS[name]
  args.check_flags(parsed.flags, { args.GLOBAL, cmd.flags }, "'" .. name .. "'")
  if parsed.flags.help then
    ctx.out:write(help.command(name, reg))
    return util.EXIT.ok
  end
  ctx.timeout_is_wait = name == "trigger" or name == "wait" or name == "test-connection"
  return require("airflow.cli.commands")[name](ctx, parsed.all_words)
end

local function find_resource(ctx, name)
  local hint = ctx:api_hint()
  local reg = registry.get(hint)
  if reg.resources[name] then return reg end
  local other = registry.get(hint == "v2" and "v1" or "v2")
  if other.resources[name] then
    local asked = ctx.flags.api or ctx.getenv("AIRFLOW_API")
    if asked == "auto" then return other end
    util.usage("'%s' is a resource of the %s API only: add --api %s", name, other.api, other.api)
  end
  return nil, reg
end

local function dispatch(ctx, parsed)
  local words, flags = parsed.words, parsed.flags
  check_output(flags)
  if flags.columns then
    ctx.columns = output.parse_columns(flags.columns)
    flags.output = flags.output or "table"
  end
  local first = words[1]
  if not first then
    local text = help.overview(ctx:api_hint())
    if flags.help then
      ctx.out:write(text)
      return util.EXIT.ok
    end
    ctx.err:write(text)
    return util.EXIT.usage
  end
  if first == "__complete" then
    require("airflow.cli.completion").complete(ctx.getenv, ctx.out)
    return util.EXIT.ok
  end
  local reg, hint_reg = find_resource(ctx, first)
  local r = reg and reg.resources[first]
  if r and words[2] and r[words[2]] then return run_operation(ctx, reg, r[words[2]], parsed) end
  if help.COMMANDS[first] then return run_command(ctx, first, reg or hint_reg, parsed) end
  if not r then
    util.usage("unknown resource or command '%s'%s (see airflow-lua --help)", first,
      util.suggest(first, all_names(hint_reg)))
  end
  if not words[2] then
    args.check_flags(flags, { args.GLOBAL }, "resource help")
    if flags.help then
      ctx.out:write(help.resource(reg, first))
      return util.EXIT.ok
    end
    ctx.err:write(help.resource(reg, first))
    return util.EXIT.usage
  end
  util.usage("resource '%s' has no operation '%s'%s (see airflow-lua %s --help)", first, words[2],
    util.suggest(words[2], r), first)
end

--- Runs the command line.
-- @param argv the arguments (the script's `arg`)
-- @param env optional {getenv = function, out = file, err = file} (for tests)
-- @return the exit code
function M.main(argv, env)
  env = env or {}
  local ctx = setmetatable({
    getenv = env.getenv or os.getenv, out = env.out or io.stdout, err = env.err or io.stderr,
  }, Ctx)
  local ok, result = xpcall(function()
    local parsed = args.parse(argv or {})
    ctx.flags = parsed.flags
    return dispatch(ctx, parsed)
  end, function(e)
    if util.is_failure(e) then return e end
    -- Ctrl-C while Lua code ran (the interpreter's own SIGINT handler raises this)
    if e == "interrupted!" or (type(e) == "string" and e:find(": interrupted!$")) then
      return { code = util.EXIT.interrupted }
    end
    if type(e) == "string" and e:find("airflow: ", 1, true) then
      return { code = util.EXIT.usage, message = library_message(e) }
    end
    return { code = util.EXIT.api, message = "internal error: " .. debug.traceback(tostring(e), 2) }
  end)
  ctx.out:flush()
  if ok then return result or util.EXIT.ok end
  if result.code == util.EXIT.interrupted then return result.code end -- quietly, as Unix tools do
  if result.code == util.EXIT.ok then return result.code end -- a dry run's end
  ctx.err:write("airflow-lua: ", result.message, "\n")
  return result.code
end

return M
