--- Help texts of the command line: the overview, resources, operations and the
-- convenience commands.
-- @module airflow.cli.help
local registry = require("airflow.registry")
local airflow_version = require("airflow.version")

local M = {}

--- The convenience commands: name -> {usage, summary, flags (a set of allowed flags)}.
M.COMMANDS = {
  trigger = {
    usage = "trigger DAG [--conf JSON|@FILE|-] [--logical-date DATE] [--run-id ID] [--wait [--timeout S] "
      .. "[--interval S]]",
    summary = "trigger a DAG run and print it; with --wait, wait for it to finish (exit 1 unless it succeeded)",
    flags = { conf = true, ["logical-date"] = true, ["run-id"] = true, wait = true, interval = true, columns = true },
  },
  pause = { usage = "pause DAG...", summary = "pause DAGs (each is reported)", flags = {} },
  unpause = { usage = "unpause DAG...", summary = "unpause DAGs (each is reported)", flags = {} },
  logs = {
    usage = "logs DAG RUN TASK [--try N] [--map-index N] [--follow [--interval S]]",
    summary = "print a task instance's log (the latest try by default); --follow keeps printing until it ends",
    flags = { try = true, ["map-index"] = true, follow = true, interval = true },
  },
  wait = {
    usage = "wait DAG RUN [--timeout S] [--interval S]",
    summary = "wait for a DAG run to finish and print it (exit 1 unless it succeeded)",
    flags = { interval = true, columns = true },
  },
  login = {
    usage = "login",
    summary = "v2: get a token with the user name and password, cache it, and check it with one call",
    flags = {},
  },
  version = { usage = "version [--client]", summary = "print the client's (and the server's) version",
    flags = { client = true } },
  operations = { usage = "operations", summary = "list every \"resource operation\" pair, one per line", flags = {} },
  api = {
    usage = "api [METHOD] PATH [NAME=VALUE ...] [--body JSON|@FILE|-] [--paginate]",
    summary = "send any request (a path the client does not know, e.g. of a newer Airflow) with the usual "
      .. "credentials; PATH is under /api/vN unless it starts with /api/ or /auth/; NAME=VALUE are query "
      .. "parameters; --paginate follows next_cursor or offsets and prints one collection",
    flags = { body = true, paginate = true, columns = true },
  },
  state = {
    usage = "state get|set|delete|list|clear (DAG RUN TASK [--map-index N] | --asset ID) [KEY [JSON]]",
    summary = "read and write a task instance's or an asset's state store (Airflow 3.3); set takes a JSON value",
    flags = { asset = true, ["map-index"] = true, columns = true },
  },
  ["test-connection"] = {
    usage = "test-connection --body JSON|@FILE|- [--timeout S] [--interval S]",
    summary = "test a connection on the server (Airflow 3.3) and print the result (exit 1 unless it succeeded)",
    flags = { body = true, interval = true },
  },
  ["clear-failed"] = {
    usage = "clear-failed DAG [RUN] [--task ID,...] [--yes]",
    summary = "clear the failed task instances of a DAG (of one run, or of all), so they run again; without "
      .. "--yes the server only lists what it would clear (a dry run, as Airflow's own clear)",
    flags = { yes = true, task = true, columns = true },
  },
  completion = { usage = "completion bash|zsh|fish", summary = "print a shell completion script", flags = {} },
}
M.COMMAND_ORDER = { "trigger", "pause", "unpause", "logs", "wait", "login", "version", "operations", "api",
  "state", "test-connection", "clear-failed", "completion" }

local function wrap(words, width, indent)
  local lines, line = {}, indent
  for _, w in ipairs(words) do
    if #line + #w + 1 > width and line ~= indent then
      lines[#lines + 1] = line
      line = indent
    end
    line = line .. (line == indent and "" or " ") .. w
  end
  if line ~= indent then lines[#lines + 1] = line end
  return table.concat(lines, "\n")
end

--- The overview (`airflow-lua --help`).
-- @param api the API whose resources are listed
function M.overview(api)
  local cmds = {}
  for _, name in ipairs(M.COMMAND_ORDER) do
    local c = M.COMMANDS[name]
    cmds[#cmds + 1] = ("  %s\n      %s"):format(c.usage, c.summary)
  end
  return table.concat({
    "airflow-lua " .. airflow_version .. " - every operation of the Apache Airflow REST API",
    "",
    "Usage:",
    "  airflow-lua RESOURCE OPERATION [NAME=VALUE ...] [--body JSON|@FILE|-] [options]",
    "  airflow-lua COMMAND [ARGUMENTS] [options]",
    "  airflow-lua RESOURCE --help             operations of a resource (verb and path)",
    "  airflow-lua RESOURCE OPERATION --help   parameters of an operation",
    "",
    "Example:",
    "  airflow-lua dag_run get_dag_runs dag_id=example_etl state=failed,queued limit=5 -o table",
    "",
    "Commands:",
    table.concat(cmds, "\n"),
    "",
    ("Resources (API %s; --api %s for the other):"):format(api, api == "v2" and "v1" or "v2"),
    wrap(registry.get(api).names, 78, "  "),
    "",
    "Parameters:",
    "  NAME=VALUE sets a path, query or header parameter; the value is converted to the",
    "  parameter's type (integer, number, boolean; null leaves a typed parameter out).",
    "  Array parameters take several values: repeat NAME=VALUE or separate with commas.",
    "  Words without '=' fill the path parameters in order. --body gives the request body",
    "  as JSON text, @FILE, or - (standard input).",
    "",
    "Output:",
    "  -o, --output FORMAT   pretty (default on a terminal), json (compact, default when",
    "                        piped), table, ndjson (one item per line), text (tab-separated)",
    "  --columns A,B,C       columns of table and text output (dotted paths allowed)",
    "  --all                 fetch every page of a collection (concurrently)",
    "  --concurrency N       pages fetched at once with --all (default 4)",
    "  --accept MEDIA        the Accept header (e.g. text/plain for logs or config)",
    "  -v, --verbose         log each request (method, URL, status, duration) on stderr",
    "",
    "Safety:",
    "  --dry-run             print the request (credentials masked) and a curl line; send nothing",
    "  --read-only           refuse every request but GET before it is sent (exit 2);",
    "                        read_only = true in a profile does the same",
    "",
    "Connection and credentials (flags, then environment, then the profile):",
    "  --url URL             AIRFLOW_URL        the server (http://host:8080)",
    "  --api v1|v2|auto      AIRFLOW_API        v2 for Airflow 3 (default), v1 for Airflow 2",
    "  --token-stdin         AIRFLOW_TOKEN      a bearer token (first line of standard input)",
    "  --token TOKEN                            (visible to other users: avoid)",
    "  --username USER       AIRFLOW_USERNAME   user for /auth/token (v2) or basic auth (v1)",
    "  --password-stdin      AIRFLOW_PASSWORD   the password (first line of standard input)",
    "  --password PASSWORD                      (visible to other users: avoid)",
    "  --ca-file FILE        AIRFLOW_CA_FILE    CA certificates to trust",
    "  --insecure                               do not verify TLS certificates",
    "  --timeout SECONDS                        per request (trigger/wait: the wait limit)",
    "  --retries N                              retries after network errors, 429, 502-504 (3)",
    "  --profile NAME        AIRFLOW_PROFILE    a profile of the config file",
    "  --config FILE         AIRFLOW_LUA_CONFIG the config file",
    "",
    "Config file ($XDG_CONFIG_HOME/airflow-lua/config, else ~/.config/airflow-lua/config):",
    "  [default]                      [profile prod]",
    "  url = http://localhost:8080    url = https://airflow.example.com",
    "  username = admin               username = ops",
    "  password_command = pass show airflow/admin",
    "  Keys: url, api, username, password, token, token_command, password_command, ca_file,",
    "  timeout, read_only. A file holding a password or token must have mode 0600 (chmod 600 FILE).",
    "  v2 tokens are cached per profile in $XDG_CACHE_HOME/airflow-lua/PROFILE.token.",
    "",
    "Exit status:",
    "  0 success, 1 API error (or a waited run that did not succeed), 2 usage error,",
    "  3 network error or timeout.",
    "",
  }, "\n")
end

local function pad(s, n)
  return s .. (" "):rep(math.max(n - #s, 0))
end

--- Help of one resource: its operations with verb and path.
function M.resource(reg, name)
  local r = reg.resources[name]
  local ops = {}
  for _, op in pairs(r) do ops[#ops + 1] = op end
  table.sort(ops, function(a, b) return a.name < b.name end)
  local width = 0
  for _, op in ipairs(ops) do width = math.max(width, #op.name) end
  local lines = { ("Resource %s (API %s)"):format(name, reg.api), "", "Operations:" }
  for _, op in ipairs(ops) do
    lines[#lines + 1] = ("  %s  %s %s"):format(pad(op.name, width), pad(op.method, 6), op.path)
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = ("Parameters of one: airflow-lua %s OPERATION --help"):format(name)
  return table.concat(lines, "\n") .. "\n"
end

local function type_of(p)
  local t = p.type
  if p.array then t = t .. "[]" end
  return t
end

local function schema_type(node, schemas, depth)
  depth = depth or 0
  if type(node) ~= "table" then return "any" end
  if node["$"] then
    local target = schemas[node["$"]]
    if target and target.e and depth < 5 then return schema_type(target, schemas, depth + 1) end
    return node["$"]
  end
  if node.e then return "one of " .. table.concat(node.e, "|") end
  local t = node.t or "any"
  if node.f then t = node.f end
  if t == "array" then t = schema_type(node.i, schemas, depth + 1) .. "[]" end
  return t
end

local function body_lines(reg, op)
  if op.body == "none" then return { "Body: none" } end
  local lines = { ("Body: %s (--body JSON|@FILE|-)"):format(op.body) }
  local ok, fields = pcall(reg.body_fields, op)
  if ok and fields then
    local schemas = reg.schemas()
    local names = {}
    for k in pairs(fields) do names[#names + 1] = k end
    table.sort(names)
    local width = 0
    for _, k in ipairs(names) do width = math.max(width, #k) end
    lines[#lines + 1] = "  Fields:"
    for _, k in ipairs(names) do
      lines[#lines + 1] = ("    %s  %s"):format(pad(k, width), schema_type(fields[k], schemas))
    end
  end
  return lines
end

--- Help of one operation: verb, path, parameters, body.
function M.operation(reg, op)
  local lines = {
    ("%s %s (API %s)"):format(op.resource, op.name, reg.api),
    ("  %s %s"):format(op.method, op.path),
  }
  if op.list_field then
    local paged = op.param_by_name.offset and "; --all fetches every page" or ""
    lines[#lines + 1] = ("  Returns a collection in '%s'%s."):format(op.list_field, paged)
  end
  lines[#lines + 1] = ""
  if #op.params == 0 then
    lines[#lines + 1] = "Parameters: none"
  else
    lines[#lines + 1] = "Parameters:"
    local w = 4
    for _, p in ipairs(op.params) do w = math.max(w, #p.name) end
    for _, p in ipairs(op.params) do
      local notes = {}
      if p.required then notes[#notes + 1] = "required" end
      if p.array then notes[#notes + 1] = "repeat or comma-separate" end
      if p.enum then notes[#notes + 1] = "one of: " .. table.concat(p.enum, ", ") end
      lines[#lines + 1] = ("  %s  %s  %s  %s"):format(pad(p.name, w), pad(p["in"], 6), pad(type_of(p), 10),
        table.concat(notes, "; ")):gsub("%s+$", "")
    end
  end
  lines[#lines + 1] = ""
  for _, l in ipairs(body_lines(reg, op)) do lines[#lines + 1] = l end
  local usage = { "airflow-lua", op.resource, op.name }
  for _, p in ipairs(op.params) do
    if p.required then usage[#usage + 1] = p.name .. "=" .. p.name:upper() end
  end
  if op.body == "required" then usage[#usage + 1] = "--body JSON" end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "Usage:"
  lines[#lines + 1] = "  " .. table.concat(usage, " ")
  return table.concat(lines, "\n") .. "\n"
end

--- Help of a convenience command.
function M.command(name, reg)
  local c = M.COMMANDS[name]
  local text = ("Usage: airflow-lua %s\n  %s\n"):format(c.usage, c.summary)
  if reg and reg.resources[name] then
    text = text .. ("\n'%s' is also a resource of the API; naming one of its operations calls it:\n\n"):format(name)
      .. M.resource(reg, name)
  end
  return text
end

return M
