--- The convenience commands: trigger, pause, unpause, logs, wait, login, version,
-- operations, api, state, test-connection, clear-failed, completion. Each takes the context (see airflow.cli) and the
-- positional words, and returns an exit code.
-- @module airflow.cli.commands
local core = require("airflow.core")
local registry = require("airflow.registry")
local airflow_version = require("airflow.version")
local args = require("airflow.cli.args")
local cjson = require("airflow.cli.json")
local util = require("airflow.cli.util")
local completion = require("airflow.cli.completion")
local help = require("airflow.cli.help")

local M = {}

local TERMINAL_TI = { success = true, failed = true, skipped = true, upstream_failed = true, removed = true }
local NOT_STARTED = { none = true, scheduled = true, queued = true, deferred = true, up_for_reschedule = true }

-- A command's usage line, as its help gives it.
local function usage_of(name)
  return help.COMMANDS[name].usage
end

local function need_words(words, n, usage)
  if #words - 1 < n then util.usage("usage: airflow-lua %s", usage) end
  if #words - 1 > n and n >= 0 then
    util.usage("unexpected argument '%s' (usage: airflow-lua %s)", words[n + 2], usage)
  end
end

-- A status line on stderr, only when stderr is a terminal.
local function status(ctx, text)
  if not ctx:stderr_tty() then return end
  ctx.err:write("\r\27[K", text or "")
  ctx.err:flush()
end

-- Waits for a run; prints it; the exit code (1 unless it succeeded).
local function wait_and_report(ctx, client, dag_id, run_id)
  local flags = ctx.flags
  local run, err = client:wait_dag_run(dag_id, run_id, {
    timeout = args.number_flag(flags, "timeout"),
    interval = args.number_flag(flags, "interval"),
    on_poll = function(r)
      status(ctx, ("airflow-lua: %s of %s is %s"):format(run_id, dag_id, tostring(r.state)))
    end,
  })
  status(ctx)
  if not run then ctx:api_fail(err) end
  ctx:print(run)
  if run.state ~= "success" then
    ctx.err:write(("airflow-lua: run %s of %s ended %s\n"):format(run_id, dag_id, tostring(run.state)))
    return util.EXIT.api
  end
  return util.EXIT.ok
end

--- `trigger DAG [--conf JSON] [--logical-date DATE] [--run-id ID] [--wait]`.
function M.trigger(ctx, words)
  need_words(words, 1, usage_of("trigger"))
  local flags = ctx.flags
  local body = {}
  if flags.conf then
    local conf = args.json_value(flags.conf, "--conf")
    if type(conf) ~= "table" or cjson.is_array(conf) then util.usage("--conf must be a JSON object") end
    body.conf = conf
  end
  body.logical_date = flags["logical-date"]
  body.dag_run_id = flags["run-id"]
  local client = ctx:client()
  local api = ctx:api(client)
  local ref = api == "v1" and "dag_run.post_dag_run" or "dag_run.trigger_dag_run"
  local run, err = ctx:call(client, ref, { dag_id = words[2], body = body })
  if not run then ctx:api_fail(err) end
  if not flags.wait then
    ctx:print(run)
    return util.EXIT.ok
  end
  return wait_and_report(ctx, client, words[2], run.dag_run_id)
end

--- `wait DAG RUN`.
function M.wait(ctx, words)
  need_words(words, 2, usage_of("wait"))
  local client = ctx:client()
  return wait_and_report(ctx, client, words[2], words[3])
end

local function set_paused(ctx, words, paused)
  local verb = paused and "pause" or "unpause"
  if #words < 2 then util.usage("usage: airflow-lua %s DAG...", verb) end
  local client = ctx:client()
  local code = util.EXIT.ok
  for i = 2, #words do
    local dag = words[i]
    local res, err = ctx:call(client, "dag.patch_dag",
      { dag_id = dag, update_mask = { "is_paused" }, body = { is_paused = paused } })
    if res then
      ctx.out:write(verb, "d ", dag, "\n")
      ctx.out:flush()
    elseif not ctx:is_dry_run(err) then
      err = ctx:explain(err)
      ctx.err:write(("airflow-lua: %s %s: %s\n"):format(verb, dag, tostring(err)))
      code = math.max(code, util.code_for(err))
    end
  end
  return code
end

--- `pause DAG...`.
function M.pause(ctx, words) return set_paused(ctx, words, true) end
--- `unpause DAG...`.
function M.unpause(ctx, words) return set_paused(ctx, words, false) end

-- The task instance (mapped when map_index is given).
local function task_instance(ctx, client, a)
  local ti_args = { dag_id = a.dag_id, dag_run_id = a.dag_run_id, task_id = a.task_id }
  local ref = "task_instance.get_task_instance"
  if a.map_index then
    ref = "task_instance.get_mapped_task_instance"
    ti_args.map_index = a.map_index
  end
  local ti, err = ctx:call(client, ref, ti_args)
  if not ti then ctx:api_fail(err) end
  return ti
end

local function log_printer(ctx)
  local raw = ctx.flags.output == "json" or ctx.flags.output == "ndjson"
  return function(entry)
    if type(entry) == "table" then
      local event = entry.event
      if raw or type(event) ~= "string" then
        ctx.out:write(cjson.encode(entry), "\n")
      else
        ctx.out:write(event, "\n")
      end
    else
      ctx.out:write(tostring(entry), "\n")
    end
  end
end

-- Hands each log line to on_line: v2 through client:follow_log (NDJSON stream);
-- v1 as one text/plain response (follow_log's v1 path sends an `accept` parameter
-- that v1's get_log does not have).
local function read_log(ctx, client, api, op, a, on_line)
  if api == "v2" then
    local n, err = client:follow_log(a, on_line)
    if not n then ctx:api_fail(err) end
    return
  end
  local v1 = { full_content = true }
  for k, v in pairs(a) do v1[k] = v end
  local text, err = ctx:call(client, op, v1, "text/plain")
  if not text then ctx:api_fail(err) end
  if type(text) == "table" then text = text.content end
  if type(text) ~= "string" then return end
  for line in text:gmatch("([^\n]*)\n?") do
    if line ~= "" then on_line(line) end
  end
end

-- Prints the lines after the first `printed` ones; returns how many are printed now.
local function print_new(ctx, client, api, op, a, emit, printed)
  local seen = 0
  read_log(ctx, client, api, op, a, function(entry)
    seen = seen + 1
    if seen > printed then emit(entry) end
  end)
  ctx.out:flush()
  return math.max(seen, printed)
end

local function not_started(ti)
  return ti.state == nil or ti.state == cjson.null or NOT_STARTED[ti.state]
end

--- `logs DAG RUN TASK [--try N] [--map-index N] [--follow]`: the latest try unless
-- --try; --follow polls the task instance and prints new lines until it is done.
function M.logs(ctx, words)
  need_words(words, 3, usage_of("logs"))
  local flags = ctx.flags
  local client = ctx:client()
  local api = ctx:api(client)
  local op = assert(registry.find(api, "task_instance.get_log"))
  local try_param = op.param_by_name.try_number and "try_number" or "task_try_number"
  local a = { dag_id = words[2], dag_run_id = words[3], task_id = words[4],
    map_index = args.number_flag(flags, "map-index", true) }
  local try = args.number_flag(flags, "try", true)
  local emit = log_printer(ctx)
  local printed = 0
  while true do
    local ti
    if not try or flags.follow then ti = task_instance(ctx, client, a) end
    local latest = ti and math.max(math.tointeger(ti.try_number) or 1, 1)
    if not flags.try and latest and latest ~= try then
      try, printed = latest, 0
    end
    a[try_param] = try
    if not (flags.follow and ti and not_started(ti)) then
      printed = print_new(ctx, client, api, op, a, emit, printed)
    end
    if not flags.follow or (ti and TERMINAL_TI[ti.state]) then break end
    core.sleep(args.number_flag(flags, "interval") or 1)
  end
  return util.EXIT.ok
end

--- `login`: v2 gets a token, caches it, and checks it with one call.
function M.login(ctx, words)
  need_words(words, 0, usage_of("login"))
  local s = ctx:settings()
  if s.auth == "none" or (s.auth == "password" and not s.password) then
    util.usage("login needs credentials: --username USER with --password-stdin (or AIRFLOW_USERNAME and "
      .. "AIRFLOW_PASSWORD, or a profile)")
  end
  local client, state = ctx:client({ skip_cache = true })
  local api = ctx:api(client)
  local res, err = ctx:call(client, "dag.get_dags", { limit = 1 })
  if not res and ctx:is_dry_run(err) then ctx:api_fail(err) end
  if not res then
    if state.cache_written then
      require("airflow.cli.config").remove_token(s.cache_path)
    end
    ctx.err:write("airflow-lua: login failed\n")
    ctx:api_fail(err)
  end
  local who = s.username and (" as " .. s.username) or " with the token"
  if api == "v2" and s.auth == "password" then
    local until_text = state.token_exp and os.date("!%Y-%m-%d %H:%M:%S UTC", state.token_exp) or "its expiry"
    local where = state.cache_written and ("cached in " .. s.cache_path) or "not cached"
    ctx.out:write(("Logged in to %s%s (API v2); token %s until %s.\n"):format(client.base_url, who, where,
      until_text))
  else
    ctx.out:write(("Credentials work on %s%s (API %s); nothing to cache.\n"):format(client.base_url, who, api))
  end
  return util.EXIT.ok
end

--- `version [--client]`: the client's versions, and the server's when a URL is set.
function M.version(ctx, words)
  need_words(words, 0, usage_of("version"))
  ctx.out:write(("airflow-lua %s (lua-airflow %s, %s, %s)\n"):format(airflow_version, airflow_version, _VERSION,
    (core.curl_version():match("^(%S+)")) or "libcurl"))
  if ctx.flags.client then return util.EXIT.ok end
  local s = ctx:settings()
  if not s.url then return util.EXIT.ok end
  local client = ctx:client({ anonymous = true })
  local api = ctx:api(client)
  local ref = api == "v1" and "monitoring.get_version" or "version.get_version"
  local v, err = ctx:call(client, ref, {})
  if not v then ctx:api_fail(err) end
  ctx.out:write(("server: Airflow %s (API %s, %s)\n"):format(tostring(v.version), api, client.base_url))
  return util.EXIT.ok
end

--- `operations`: every "resource operation" pair of the API, one per line.
function M.operations(ctx, words)
  need_words(words, 0, usage_of("operations"))
  local reg = registry.get(ctx:api_hint())
  local lines = {}
  for _, op in ipairs(reg.ops) do lines[#lines + 1] = op.resource .. " " .. op.name end
  table.sort(lines)
  ctx.out:write(table.concat(lines, "\n"), "\n")
  return util.EXIT.ok
end

-- Where `api` sends PATH: as is under /api/ or /auth/, else under the API in use.
local function api_path(ctx, client, path)
  if path:find("^/api/") or path:find("^/auth/") then return path end
  return "/api/" .. ctx:api(client) .. (path:sub(1, 1) == "/" and "" or "/") .. path
end

--- `api [METHOD] PATH [NAME=VALUE ...] [--body JSON|@FILE|-] [--paginate]`: any request
-- on the server, with the client's credentials, retries and errors (the shape of
-- `gh api`); NAME=VALUE pairs are query parameters (repeat a name for several values).
function M.api(ctx, words)
  local usage = usage_of("api")
  local i, method = 2, "GET"
  if words[2] and words[2]:match("^%a+$") and words[3] then
    method, i = words[2]:upper(), 3
  end
  local path = words[i]
  if not path or path:find("^[%a_][%w_]*=") then util.usage("usage: airflow-lua %s", usage) end
  local query = {}
  for j = i + 1, #words do
    local name, value = words[j]:match("^([%a_][%w_]*)=(.*)$")
    if not name then util.usage("unexpected argument '%s' (usage: airflow-lua %s)", words[j], usage) end
    local list = query[name] or {}
    list[#list + 1] = value
    query[name] = list
  end
  local client = ctx:client()
  local spec = { method = method, path = api_path(ctx, client, path), query = query }
  if ctx.flags.body then -- checked as JSON, sent as given
    local _, text = args.json_value(ctx.flags.body, "--body")
    spec.body, spec.headers = text, { ["Content-Type"] = "application/json" }
  end
  local ok, result, err = pcall(ctx.flags.paginate and client.collect_request or client.request, client, spec)
  if not ok then util.usage("%s", util.library_message(result)) end
  if result == nil then ctx:api_fail(err) end
  if type(result) == "string" then
    ctx.out:write(result, result:sub(-1) == "\n" and "" or "\n")
  elseif result ~= true then
    ctx:print(result)
  end
  return util.EXIT.ok
end

local STATE_USAGE = usage_of("state")
-- How many words after the scope each action takes.
local STATE_WORDS = { get = 1, set = 2, delete = 1, list = 0, clear = 0 }

--- `state ACTION (DAG RUN TASK | --asset ID) [KEY [JSON]]`: a task instance's or an
-- asset's state store (Airflow 3.3). `get` prints the value; `list` the entries.
function M.state(ctx, words)
  local action = words[2]
  local want = STATE_WORDS[action or ""]
  if not want then util.usage("usage: airflow-lua %s", STATE_USAGE) end
  local flags = ctx.flags
  local scope, first
  if flags.asset then
    scope, first = { asset_id = args.number_flag(flags, "asset", true) }, 3
  else
    scope = { dag_id = words[3], dag_run_id = words[4], task_id = words[5],
      map_index = args.number_flag(flags, "map-index", true) }
    first = 6
  end
  need_words(words, first - 2 + want, STATE_USAGE)
  local key, value = words[first], nil
  if action == "set" then value = args.json_value(words[first + 1], "the value") end
  local store = ctx:client():state_store(scope)
  -- each action is the store's method of that name (list and clear take no key)
  local res, err = store[action](store, key, value)
  if res == nil then ctx:api_fail(err) end
  if action == "get" or action == "list" then ctx:print(res) end
  return util.EXIT.ok
end

--- `test-connection --body JSON|@FILE|- [--timeout S] [--interval S]`: tests a connection
-- on the server (Airflow 3.3) and prints the result; exit 1 unless it succeeded.
function M.test_connection(ctx, words)
  local usage = usage_of("test-connection")
  need_words(words, 0, usage)
  if not ctx.flags.body then util.usage("usage: airflow-lua %s", usage) end
  local body = args.json_value(ctx.flags.body, "--body")
  if type(body) ~= "table" or cjson.is_array(body) then util.usage("--body must be a JSON object") end
  local test, err = ctx:client():test_connection(body, {
    timeout = args.number_flag(ctx.flags, "timeout"),
    interval = args.number_flag(ctx.flags, "interval"),
    on_poll = function(t) status(ctx, ("airflow-lua: the test is %s"):format(tostring(t.state))) end,
  })
  status(ctx)
  if not test then ctx:api_fail(err) end
  ctx:print(test)
  if test.state ~= "success" then return util.EXIT.api end
  return util.EXIT.ok
end
M["test-connection"] = M.test_connection

--- `clear-failed DAG [RUN] [--task ID,...] [--yes]`: the failed task instances of a DAG
-- (of one run, or of all) cleared so they run again; without --yes a dry run on the
-- server lists them and nothing changes.
function M.clear_failed(ctx, words)
  local usage = usage_of("clear-failed")
  if #words < 2 then util.usage("usage: airflow-lua %s", usage) end
  need_words(words, #words == 3 and 2 or 1, usage)
  local flags = ctx.flags
  local task_ids
  if flags.task then
    task_ids = {}
    for id in tostring(flags.task):gmatch("[^,]+") do task_ids[#task_ids + 1] = id end
  end
  local really = flags.yes == true
  local cleared, err = ctx:client():clear_failed(words[2],
    { dag_run_id = words[3], task_ids = task_ids, dry_run = not really })
  if not cleared then ctx:api_fail(err) end
  ctx:print(cleared)
  ctx.err:write(("airflow-lua: %d failed task instance(s) %s\n"):format(#cleared,
    really and "cleared" or "would be cleared (a dry run: add --yes to clear them)"))
  return util.EXIT.ok
end
M["clear-failed"] = M.clear_failed

--- `completion bash|zsh|fish`.
function M.completion(ctx, words)
  need_words(words, 1, usage_of("completion"))
  local script = completion.SCRIPTS[words[2]]
  if not script then
    util.usage("no completion for '%s': choose %s", tostring(words[2]), table.concat(completion.SHELLS, ", "))
  end
  ctx.out:write(script)
  return util.EXIT.ok
end

return M
