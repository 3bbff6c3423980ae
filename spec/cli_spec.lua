-- airflow-lua, the command line, run as a real process against the fake Airflow
-- (tools/with-servers sets FAKE_AIRFLOW_URL; without it this suite fails).
local env = require("env")
local json = require("airflow.json")
local registry = require("airflow.registry")

local FAKE = env.need("FAKE_AIRFLOW_URL")
local TMP = (os.getenv("LUA_AIRFLOW_TEST_TMP") or "/tmp") .. ("/cli_spec.%d"):format(math.random(1, 1000000000))
local CONFIG_DIR = TMP .. "/config/airflow-lua"
local CACHE_DIR = TMP .. "/cache/airflow-lua"
local ERR_FILE = TMP .. "/stderr"
local ADMIN = { AIRFLOW_URL = FAKE, AIRFLOW_USERNAME = "admin", AIRFLOW_PASSWORD = "admin" }
local V1 = { AIRFLOW_URL = FAKE, AIRFLOW_USERNAME = "admin", AIRFLOW_PASSWORD = "admin", AIRFLOW_API = "v1" }

local function q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

assert(os.execute("mkdir -p " .. q(CONFIG_DIR) .. " " .. q(TMP .. "/home")))

local read = env.read

local function write(path, text, mode)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  if mode then assert(os.execute("chmod " .. mode .. " " .. q(path))) end
end

--- Runs bin/airflow-lua with a clean environment.
-- @param argv the arguments
-- @param vars extra environment variables
-- @param stdin text for standard input
-- @return stdout, stderr, exit code
local function run(argv, vars, stdin)
  local parts = { "env", "-i", "PATH=" .. q(os.getenv("PATH")), "HOME=" .. q(TMP .. "/home"),
    "XDG_CONFIG_HOME=" .. q(TMP .. "/config"), "XDG_CACHE_HOME=" .. q(TMP .. "/cache") }
  for k, v in pairs(vars or {}) do parts[#parts + 1] = k .. "=" .. q(v) end
  parts[#parts + 1] = "bin/airflow-lua"
  for _, a in ipairs(argv) do parts[#parts + 1] = q(a) end
  local cmd = table.concat(parts, " ") .. " 2>" .. q(ERR_FILE)
  if stdin then cmd = "printf '%s' " .. q(stdin) .. " | " .. cmd end
  local p = assert(io.popen(cmd .. "; echo \"__rc=$?\""))
  local out = p:read("a")
  p:close()
  local body, rc = out:match("^(.-)__rc=(%d+)\n$")
  return body, read(ERR_FILE) or "", tonumber(rc)
end

local function stats()
  return env.fake_get("/_fake/stats")
end

local function requests()
  return env.fake_get("/_fake/requests")
end

local lines = env.lines

teardown(function()
  os.execute("rm -rf " .. q(TMP))
end)

before_each(function()
  env.fake_control("/_fake/reset")
  os.execute("rm -rf " .. q(CACHE_DIR) .. " " .. q(CONFIG_DIR .. "/config"))
end)

describe("discoverability", function()
  for _, api in ipairs{ "v2", "v1" } do
    it("reaches every " .. api .. " operation by name (RES OP --help exits 0)", function()
      local reg = registry.get(api)
      local script = {}
      for _, op in ipairs(reg.ops) do
        script[#script + 1] = ("bin/airflow-lua --api %s %s %s --help >/dev/null 2>&1 || echo %s.%s"):format(
          api, op.resource, op.name, op.resource, op.name)
      end
      assert.equal(api == "v2" and 130 or 90, #script)
      local p = assert(io.popen(table.concat(script, "\n")))
      local failed = p:read("a")
      p:close()
      assert.equal("", failed)
    end)
  end

  it("lists every operation for scripts", function()
    local out, _, rc = run({ "operations" })
    assert.equal(0, rc)
    assert.equal(130, #lines(out))
    assert.truthy(out:find("dag_run get_dag_runs\n", 1, true))
    -- added in Airflow 3.3
    assert.truthy(out:find("task_state_store get_task_state_store\n", 1, true))
    assert.truthy(out:find("dag_run bulk_dag_runs\n", 1, true))
    out = run({ "--api", "v1", "operations" })
    assert.equal(90, #lines(out))
    assert.truthy(out:find("dataset get_datasets\n", 1, true))
  end)

  it("documents commands, options, environment and exit codes in --help", function()
    local out, _, rc = run({ "--help" })
    assert.equal(0, rc)
    for _, s in ipairs{ "trigger DAG", "pause DAG", "logs DAG RUN TASK", "--password-stdin", "AIRFLOW_URL",
      "AIRFLOW_LUA_CONFIG", "chmod 600", "Exit status", "3 network error", "dag_run" } do
      assert.truthy(out:find(s, 1, true), s)
    end
    local _, err, rc2 = run({})
    assert.equal(2, rc2)
    assert.truthy(err:find("Usage:", 1, true))
  end)

  it("shows a resource's operations with verb and path", function()
    local out, _, rc = run({ "dag_run", "--help" })
    assert.equal(0, rc)
    assert.matches("get_dag_runs%s+GET%s+/api/v2/dags/{dag_id}/dagRuns\n", out)
    assert.matches("trigger_dag_run%s+POST%s+/api/v2/dags/{dag_id}/dagRuns\n", out)
    out = run({ "--api", "v1", "dataset", "--help" })
    assert.matches("get_datasets%s+GET%s+/api/v1/datasets\n", out)
  end)

  it("shows an operation's parameters (in, type, required, enum) and body", function()
    local out, _, rc = run({ "dag", "get_dags", "--help" })
    assert.equal(0, rc)
    assert.matches("GET /api/v2/dags", out)
    assert.matches("limit%s+query%s+integer", out)
    assert.matches("tags%s+query%s+string%[%]%s+repeat or comma%-separate", out)
    assert.matches("last_dag_run_state%s+query%s+string%s+one of: queued, running, success, failed", out)
    assert.matches("Body: none", out)
    out = run({ "dag_run", "trigger_dag_run", "--help" })
    assert.matches("dag_id%s+path%s+%S+%s+required", out)
    assert.matches("Body: required", out)
    assert.matches("logical_date%s+date%-time", out)
  end)

  it("suggests close matches for typos, with exit 2", function()
    local _, err, rc = run({ "dga", "get_dags" })
    assert.equal(2, rc)
    assert.truthy(err:find("did you mean 'dag'", 1, true))
    _, err, rc = run({ "dag", "get_dagss" }, ADMIN)
    assert.equal(2, rc)
    assert.truthy(err:find("did you mean 'get_dags'", 1, true))
    _, err, rc = run({ "dag", "get_dags", "limt=5" }, ADMIN)
    assert.equal(2, rc)
    assert.truthy(err:find("did you mean 'limit'", 1, true))
    _, err, rc = run({ "dag", "get_dags", "--limt" }, ADMIN)
    assert.equal(2, rc)
    assert.truthy(err:find("unknown option", 1, true))
    _, err, rc = run({ "dataset", "get_datasets" }, ADMIN)
    assert.equal(2, rc)
    assert.truthy(err:find("--api v1", 1, true))
    assert.equal(0, stats().requests)
  end)

  it("prints a bash completion script and completes names", function()
    local out, _, rc = run({ "completion", "bash" })
    assert.equal(0, rc)
    assert.truthy(out:find("complete -o default -F _airflow_lua_complete airflow-lua", 1, true))
    assert.truthy(os.execute("bash -n <<'EOF'\n" .. out .. "\nEOF"))
    assert.equal(out, read("completions/airflow-lua.bash"), "completions/airflow-lua.bash is stale: regenerate it")
    out = run({ "__complete" }, { AIRFLOW_LUA_COMPLETE_LINE = "airflow-lua dag_run get_dag_r" })
    assert.same({ "get_dag_run", "get_dag_runs" }, lines(out))
    out = run({ "__complete" }, { AIRFLOW_LUA_COMPLETE_LINE = "airflow-lua dag_run get_dag_runs dag_id=x li" })
    assert.same({ "limit=" }, lines(out))
    out = run({ "__complete" }, { AIRFLOW_LUA_COMPLETE_LINE = "airflow-lua dag get_dags last_dag_run_state=f" })
    assert.same({ "failed" }, lines(out))
    out = run({ "__complete" }, { AIRFLOW_LUA_COMPLETE_LINE = "airflow-lua tri" })
    assert.same({ "trigger" }, lines(out))
    -- an Airflow 3.3 resource and its operations and parameters
    out = run({ "__complete" }, { AIRFLOW_LUA_COMPLETE_LINE = "airflow-lua asset_state_s" })
    assert.same({ "asset_state_store" }, lines(out))
    out = run({ "__complete" }, { AIRFLOW_LUA_COMPLETE_LINE = "airflow-lua asset_state_store get_" })
    assert.same({ "get_asset_state_store" }, lines(out))
    out = run({ "__complete" }, { AIRFLOW_LUA_COMPLETE_LINE = "airflow-lua dag_run get_dag_runs dag_id=x cur" })
    assert.same({ "cursor=" }, lines(out))
  end)

  it("works as installed by make install, against the fake Airflow", function()
    local root = TMP .. "/inst"
    assert(os.execute("make --no-print-directory install DESTDIR=" .. q(root) .. " PREFIX=/usr/local >/dev/null"))
    local prefix = root .. "/usr/local"
    local cwd = assert(io.popen("pwd")):read("l")
    -- from /, with only the installed tree on the paths: nothing of the checkout is found
    local cmd = ("cd / && env -i PATH=%s HOME=%s AIRFLOW_URL=%s AIRFLOW_USERNAME=admin AIRFLOW_PASSWORD=admin "
      .. "LUA_PATH=%s LUA_CPATH=%s %s dag get_dags limit=2; echo rc=$?"):format(
      q(os.getenv("PATH")), q(TMP .. "/home"), q(FAKE),
      q(prefix .. "/share/lua/5.4/?.lua;" .. prefix .. "/share/lua/5.4/?/init.lua;;"),
      q(prefix .. "/lib/lua/5.4/?.so;;"), q(prefix .. "/bin/airflow-lua"))
    local p = assert(io.popen(cmd))
    local out = p:read("a")
    p:close()
    assert.matches("rc=0\n$", out)
    local page = assert(json.decode(out:match("^(.-)rc=")))
    assert.equal(2, #page.dags)
    assert.is_true(page.total_entries > 2)
    assert.is_nil(out:find(cwd, 1, true))
  end)

  it("runs from a checkout by absolute path and installed through LUA_PATH", function()
    local cwd = assert(io.popen("pwd")):read("l")
    local p = assert(io.popen("cd / && " .. q(cwd .. "/bin/airflow-lua") .. " version --client; echo rc=$?"))
    local out = p:read("a")
    p:close()
    assert.matches("^airflow%-lua %d+%.%d+%.%d+ %(lua%-airflow", out)
    assert.matches("rc=0\n$", out)
    p = assert(io.popen("LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='lua/?.so;;' lua5.4 bin/airflow-lua "
      .. "version --client; echo rc=$?"))
    out = p:read("a")
    p:close()
    assert.matches("rc=0\n$", out)
  end)
end)

describe("operations", function()
  it("prints compact JSON with sorted keys when piped, pretty with -o pretty", function()
    local out, _, rc = run({ "variable", "get_variable", "variable_key=var_001" }, ADMIN)
    assert.equal(0, rc)
    assert.equal('{"description":"Seeded variable 1","is_encrypted":true,"key":"var_001","team_name":null,'
      .. '"value":"value_001"}\n', out)
    out = run({ "variable", "get_variable", "var_001", "-o", "pretty" }, ADMIN)
    assert.equal('{\n  "description": "Seeded variable 1",\n  "is_encrypted": true,\n  "key": "var_001",\n'
      .. '  "team_name": null,\n  "value": "value_001"\n}\n', out)
  end)

  it("keeps empty arrays as [] and empty objects as {}", function()
    local out = run({ "dag", "get_dag", "paused_dag" }, ADMIN)
    assert.truthy(out:find('"tags":[]', 1, true))
    assert.is_nil(out:find('"tags":{}', 1, true))
  end)

  it("converts typed values and sends array parameters by repetition or comma", function()
    local out, err, rc = run({ "dag_run", "get_dag_runs", "dag_id=example_etl", "state=failed,queued",
      "state=running", "limit=5", "-o", "ndjson" }, ADMIN)
    assert.equal(0, rc, err)
    assert.equal(1, #lines(out))
    assert.equal("failed", json.decode(out).state)
    local last = requests()[#requests()]
    assert.equal("limit=5&state=failed&state=queued&state=running", last.query)
    local _, err2, rc2 = run({ "dag", "get_dags", "limit=many" }, ADMIN)
    assert.equal(2, rc2)
    assert.truthy(err2:find("expects an integer", 1, true))
    _, err2, rc2 = run({ "dag", "get_dags", "paused=maybe" }, ADMIN)
    assert.equal(2, rc2)
    assert.truthy(err2:find("true or false", 1, true))
  end)

  it("joins v1 update_mask with commas", function()
    local out, err, rc = run({ "pool", "patch_pool", "pool_name=ml_pool", "update_mask=slots,description",
      "--body", '{"name": "ml_pool", "slots": 5, "description": "x", "include_deferred": true}' }, V1)
    assert.equal(0, rc, err)
    local last = requests()[#requests()]
    assert.equal("PATCH", last.method)
    assert.equal("update_mask=slots,description", (last.query:gsub("%%2C", ",")))
    local pool = json.decode(out)
    assert.same({ 5, "x", false }, { pool.slots, pool.description, pool.include_deferred })
  end)

  it("prints collections as a table with id-like columns first, or chosen columns", function()
    local out, err, rc = run({ "dag_run", "get_dag_runs", "example_etl", "-o", "table" }, ADMIN)
    assert.equal(0, rc, err)
    local rows = lines(out)
    assert.equal(4, #rows)
    assert.matches("^DAG_ID%s+DAG_RUN_ID%s+STATE", rows[1])
    assert.matches("^example_etl%s+scheduled__2025%-01%-02T00:00:00%+00:00%s+failed", rows[3])
    out = run({ "variable", "get_variables", "limit=2", "--columns", "value,key" }, ADMIN)
    assert.same({ "VALUE      KEY", "value_000  var_000", "value_001  var_001" }, lines(out))
  end)

  it("prints one item per line with -o ndjson and tab-separated text with -o text", function()
    local out = run({ "variable", "get_variables", "limit=3", "-o", "ndjson" }, ADMIN)
    local got = lines(out)
    assert.equal(3, #got)
    for i, l in ipairs(got) do assert.equal(("var_%03d"):format(i - 1), json.decode(l).key) end
    out = run({ "variable", "get_variables", "limit=2", "-o", "text", "--columns", "key,value" }, ADMIN)
    assert.equal("var_000\tvalue_000\nvar_001\tvalue_001\n", out)
  end)

  it("fetches every page with --all, concurrently", function()
    env.fake_control("/_fake/seed", '{"variables": 250}')
    local out, err, rc = run({ "variable", "get_variables", "--all", "-o", "ndjson", "limit=40",
      "--concurrency", "3" }, ADMIN)
    assert.equal(0, rc, err)
    local got = lines(out)
    assert.equal(250, #got)
    local seen = {}
    for _, l in ipairs(got) do seen[json.decode(l).key] = true end
    assert.truthy(seen.var_000 and seen.var_249)
    local pages = 0
    for _, r in ipairs(requests()) do
      if r.path == "/api/v2/variables" then pages = pages + 1 end
    end
    assert.equal(7, pages)
    out = run({ "variable", "get_variables", "--all" }, ADMIN)
    local doc = json.decode(out)
    assert.equal(250, doc.total_entries)
    assert.equal(250, #doc.variables)
    local _, err2, rc2 = run({ "dag", "get_dag", "tutorial", "--all" }, ADMIN)
    assert.equal(2, rc2)
    assert.truthy(err2:find("not return a paged collection", 1, true))
  end)

  it("sends bodies given as JSON text, @file and stdin", function()
    local _, err, rc = run({ "variable", "post_variable", "--body", '{"key": "k1", "value": "v1"}' }, ADMIN)
    assert.equal(0, rc, err)
    write(TMP .. "/body.json", '{"key": "k2", "value": "v2", "description": null}')
    _, err, rc = run({ "variable", "post_variable", "--body", "@" .. TMP .. "/body.json" }, ADMIN)
    assert.equal(0, rc, err)
    _, err, rc = run({ "variable", "post_variable", "--body", "-" }, ADMIN, '{"key": "k3", "value": "v3"}')
    assert.equal(0, rc, err)
    local out = run({ "variable", "get_variables", "variable_key_pattern=k%", "-o", "text", "--columns", "key,value" },
      ADMIN)
    assert.equal("k1\tv1\nk2\tv2\nk3\tv3\n", out)
    _, err, rc = run({ "variable", "post_variable", "--body", "{nope" }, ADMIN)
    assert.equal(2, rc)
    assert.truthy(err:find("not valid JSON", 1, true))
    _, err, rc = run({ "variable", "post_variable" }, ADMIN)
    assert.equal(2, rc)
    assert.truthy(err:find("--body", 1, true))
  end)

  it("prints text responses raw", function()
    local out, err, rc = run({ "config", "get_config", "accept=text/plain" }, ADMIN)
    assert.equal(0, rc, err)
    assert.matches("^%[core%]\n", out)
    out, err, rc = run({ "--api", "v1", "config", "get_config", "--accept", "text/plain" }, V1)
    assert.equal(0, rc, err)
    assert.matches("^%[core%]\n", out)
  end)
end)

describe("exit codes", function()
  it("is 0 on success, 1 for API errors, 2 for usage errors, 3 for network errors", function()
    local _, _, rc = run({ "version", "get_version" }, { AIRFLOW_URL = FAKE })
    assert.equal(0, rc)
    local _, err
    _, err, rc = run({ "dag", "get_dag", "no_such_dag" }, ADMIN)
    assert.equal(1, rc)
    assert.matches("404 NotFound", err)
    _, err, rc = run({ "dag_run", "get_dag_runs" }, ADMIN)
    assert.equal(2, rc)
    assert.truthy(err:find("needs dag_id=", 1, true))
    _, err, rc = run({ "dag", "get_dags" }, {})
    assert.equal(2, rc)
    assert.truthy(err:find("no Airflow URL", 1, true))
    _, err, rc = run({ "dag", "get_dags" }, { AIRFLOW_URL = "http://127.0.0.1:1" })
    assert.equal(3, rc)
    assert.truthy(err:find("connect", 1, true))
    _, err, rc = run({ "--timeout", "0.3", "dag", "get_dags" }, ADMIN)
    assert.equal(0, rc, err)
    env.fake_control("/_fake/config", '{"delay": {"path_prefix": "/api/v2/dags", "ms": 1500}}')
    _, err, rc = run({ "--timeout", "0.3", "--retries", "0", "dag", "get_dags" }, ADMIN)
    assert.equal(3, rc)
    assert.truthy(err:lower():find("timed out", 1, true))
  end)
end)

describe("secrets", function()
  local SECRET = "Sup3r-S3cret-PW"

  local function create_user()
    local _, err, rc = run({ "user", "post_user", "--body", json.encode({ username = "carol", password = SECRET,
      email = "c@example.com", first_name = "C", last_name = "L", roles = { { name = "Admin" } } }) }, V1)
    assert.equal(0, rc, err)
  end

  it("never prints passwords or tokens, even with --verbose", function()
    create_user()
    local outputs = {}
    local function collect(argv, vars, stdin)
      local out, err = run(argv, vars, stdin)
      outputs[#outputs + 1] = out .. err
    end
    local user = { AIRFLOW_URL = FAKE, AIRFLOW_USERNAME = "carol" }
    collect({ "--verbose", "--password-stdin", "dag", "get_dags", "limit=1" }, user, SECRET .. "\n")
    collect({ "--verbose", "--password", SECRET, "dag", "get_dags", "limit=1" }, user)
    collect({ "--verbose", "--password", SECRET .. "x", "dag", "get_dags" }, { AIRFLOW_URL = FAKE,
      AIRFLOW_USERNAME = "nobody" })
    collect({ "--verbose", "--api", "v1", "--password", SECRET .. "x", "dag", "get_dags" }, user)
    collect({ "--verbose", "--token", "tok-" .. SECRET, "dag", "get_dags" }, { AIRFLOW_URL = FAKE })
    collect({ "--verbose", "--token", "tok-" .. SECRET, "--url", "http://127.0.0.1:1", "dag", "get_dags" }, {})
    collect({ "--verbose", "login" }, user, nil)
    collect({ "--verbose", "--password", SECRET, "login" }, user)
    local cached = json.decode(assert(read(CACHE_DIR .. "/default.token")))
    assert.is_string(cached.token)
    collect({ "--verbose", "dag", "get_dags", "limit=1" }, { AIRFLOW_URL = FAKE, AIRFLOW_USERNAME = "carol",
      AIRFLOW_PASSWORD = SECRET })
    collect({ "--verbose", "--password", SECRET, "--help" }, user)
    collect({ "--verbose", "--password", SECRET, "dag", "get_dags", "--help" }, user)
    local all = table.concat(outputs, "\n")
    assert.truthy(all:find("GET " .. FAKE .. "/api/v2/dags?limit=1 -> 200", 1, true))
    assert.truthy(all:find("POST " .. FAKE .. "/auth/token -> 201", 1, true))
    assert.truthy(all:find("visible to other users", 1, true))
    assert.is_nil(all:find(SECRET, 1, true))
    assert.is_nil(all:find(cached.token, 1, true))
    assert.is_nil(all:find(cached.token:sub(1, 40), 1, true))
  end)
end)

describe("config file and profiles", function()
  local path = CONFIG_DIR .. "/config"

  it("refuses a secret in a file others can read, with a chmod hint", function()
    write(path, "[default]\nurl = " .. FAKE .. "\nusername = admin\npassword = admin\n", "644")
    local _, err, rc = run({ "dag", "get_dags", "limit=1" })
    assert.equal(2, rc)
    assert.truthy(err:find("chmod 600 " .. path, 1, true))
    assert.is_nil(err:find("password = admin", 1, true))
    assert.equal(0, stats().requests)
    os.execute("chmod 600 " .. q(path))
    _, err, rc = run({ "dag", "get_dags", "limit=1" })
    assert.equal(0, rc, err)
    assert.equal("", err)
  end)

  it("only warns about a loose mode when the file holds no secret", function()
    write(path, "[default]\nurl = " .. FAKE .. "\n[profile ops]\nurl = " .. FAKE .. "\nusername = admin\n"
      .. "password_command = echo admin\n", "644")
    local out, err, rc = run({ "--profile", "ops", "variable", "get_variable", "var_007" })
    assert.equal(0, rc, err)
    assert.truthy(err:find("warning", 1, true))
    assert.truthy(err:find("chmod 600", 1, true))
    assert.equal("value_007", json.decode(out).value)
  end)

  it("selects profiles by --profile and AIRFLOW_PROFILE, flags and environment first", function()
    write(path, "[default]\nurl = http://127.0.0.1:1\n[profile v1]\nurl = " .. FAKE .. "\napi = v1\n"
      .. "username = admin\npassword = admin\n[profile tok]\nurl = " .. FAKE .. "\ntoken_command = printf bad\n",
      "600")
    local _, err, rc = run({ "dag", "get_dags" })
    assert.equal(3, rc, err)
    _, err, rc = run({ "dag", "get_dags" }, { AIRFLOW_URL = FAKE, AIRFLOW_USERNAME = "admin",
      AIRFLOW_PASSWORD = "admin" })
    assert.equal(0, rc, err)
    local out
    out, err, rc = run({ "--profile", "v1", "dag", "get_dag", "tutorial" })
    assert.equal(0, rc, err)
    assert.equal("/api/v1/dags/tutorial", requests()[#requests()].path)
    assert.equal("tutorial", json.decode(out).dag_id)
    _, err, rc = run({ "dag", "get_dag", "tutorial" }, { AIRFLOW_PROFILE = "tok" })
    assert.equal(1, rc)
    assert.matches("401", err)
    _, err, rc = run({ "--profile", "prod", "dag", "get_dags" })
    assert.equal(2, rc)
    assert.truthy(err:find("no profile 'prod'", 1, true))
  end)
end)

describe("token cache", function()
  it("reuses the cached v2 token until it expires, and login checks it", function()
    local _
    local out, err, rc = run({ "login" }, ADMIN)
    assert.equal(0, rc, err)
    assert.truthy(out:find("Logged in", 1, true))
    local file = CACHE_DIR .. "/default.token"
    local p = assert(io.popen("stat -c %a " .. q(file) .. " " .. q(CACHE_DIR)))
    assert.equal("600\n700\n", p:read("a"))
    p:close()
    assert.equal(1, stats().token_requests)
    _, err, rc = run({ "dag", "get_dags", "limit=1" }, ADMIN)
    assert.equal(0, rc, err)
    _, err, rc = run({ "variable", "get_variables", "limit=1" }, ADMIN)
    assert.equal(0, rc, err)
    assert.equal(1, stats().token_requests)
    -- another user or server does not get this token
    _, err, rc = run({ "dag", "get_dags", "limit=1" }, { AIRFLOW_URL = FAKE, AIRFLOW_USERNAME = "viewer",
      AIRFLOW_PASSWORD = "viewer" })
    assert.equal(0, rc, err)
    assert.equal(2, stats().token_requests)
    -- a revoked token is renewed once
    env.fake_control("/_fake/config", '{"revoke_tokens": true}')
    _, err, rc = run({ "dag", "get_dags", "limit=1" }, ADMIN)
    assert.equal(0, rc, err)
    assert.equal(3, stats().token_requests)
  end)

  it("lets later commands use the token login cached, with no password", function()
    local user = { AIRFLOW_URL = FAKE, AIRFLOW_USERNAME = "admin" }
    local _, err, rc = run({ "login", "--password-stdin" }, user, "admin\n")
    assert.equal(0, rc, err)
    local out
    out, err, rc = run({ "variable", "get_variable", "var_003" }, user)
    assert.equal(0, rc, err)
    assert.equal("value_003", json.decode(out).value)
    assert.equal(1, stats().token_requests)
    env.fake_control("/_fake/config", '{"revoke_tokens": true}')
    _, err, rc = run({ "variable", "get_variable", "var_003" }, user)
    assert.equal(2, rc)
    assert.truthy(err:find("run `airflow-lua login`", 1, true))
    _, err, rc = run({ "--api", "v1", "variable", "get_variable", "var_003" }, user)
    assert.equal(2, rc)
    assert.truthy(err:find("no password for user admin", 1, true))
  end)

  it("fails a login whose credentials do not work, caching nothing", function()
    local _, err, rc = run({ "login" }, { AIRFLOW_URL = FAKE, AIRFLOW_USERNAME = "admin", AIRFLOW_PASSWORD = "nope" })
    assert.equal(1, rc)
    assert.truthy(err:find("login failed", 1, true))
    assert.is_nil(read(CACHE_DIR .. "/default.token"))
    _, err, rc = run({ "login" }, { AIRFLOW_URL = FAKE })
    assert.equal(2, rc)
    assert.truthy(err:find("needs credentials", 1, true))
  end)
end)

describe("convenience commands", function()
  it("triggers a run and waits for it", function()
    local _
    local out, err, rc = run({ "trigger", "tutorial", "--conf", '{"note": "cli"}', "--run-id", "cli_run_1" }, ADMIN)
    assert.equal(0, rc, err)
    local run1 = json.decode(out)
    assert.equal("cli_run_1", run1.dag_run_id)
    assert.equal("cli", run1.conf.note)
    out, err, rc = run({ "trigger", "tutorial", "--wait", "--interval", "0.2", "--timeout", "20" }, ADMIN)
    assert.equal(0, rc, err)
    assert.equal("success", json.decode(out).state)
    out, err, rc = run({ "trigger", "example_etl", "--conf", '{"fail": true}', "--wait", "--interval", "0.2" },
      ADMIN)
    assert.equal(1, rc)
    assert.equal("failed", json.decode(out).state)
    assert.truthy(err:find("ended failed", 1, true))
    out, err, rc = run({ "wait", "tutorial", "cli_run_1", "--interval", "0.2", "-o", "text", "--columns", "state" },
      ADMIN)
    assert.equal(0, rc, err)
    assert.equal("state\tsuccess\n", out)
    _, err, rc = run({ "--api", "v1", "trigger", "tutorial", "--wait", "--interval", "0.2" }, V1)
    assert.equal(0, rc, err)
    _, err, rc = run({ "trigger", "tutorial", "--conf", "[1]" }, ADMIN)
    assert.equal(2, rc)
    assert.truthy(err:find("JSON object", 1, true))
  end)

  it("pauses and unpauses DAGs, reporting each", function()
    local _
    local out, err, rc = run({ "pause", "tutorial", "example_etl" }, ADMIN)
    assert.equal(0, rc, err)
    assert.equal("paused tutorial\npaused example_etl\n", out)
    out = run({ "dag", "get_dags", "paused=true", "-o", "text", "--columns", "dag_id" }, ADMIN)
    assert.equal("example_etl\npaused_dag\ntutorial\n", out)
    out, err, rc = run({ "unpause", "tutorial", "no_such_dag" }, ADMIN)
    assert.equal(1, rc)
    assert.equal("unpaused tutorial\n", out)
    assert.truthy(err:find("no_such_dag", 1, true))
    assert.equal("is_paused", requests()[#requests()].query:match("update_mask=([%w_]+)"))
    _, err, rc = run({ "--api", "v1", "unpause", "example_etl" }, V1)
    assert.equal(0, rc, err)
    assert.equal("false", run({ "dag", "get_dag", "example_etl", "-o", "text", "--columns", "is_paused" }, ADMIN)
      :match("is_paused\t(%a+)"))
  end)

  it("prints task logs (v2 events, v1 text), following a running task", function()
    local run_id = "scheduled__2025-01-01T00:00:00+00:00"
    local out, err, rc = run({ "logs", "example_etl", run_id, "extract" }, ADMIN)
    assert.equal(0, rc, err)
    assert.truthy(out:find("Executing <Task(PythonOperator): extract> on run " .. run_id, 1, true))
    assert.is_nil(out:find('"event"', 1, true))
    out, err, rc = run({ "logs", "example_etl", run_id, "extract", "--try", "1", "-o", "ndjson" }, ADMIN)
    assert.equal(0, rc, err)
    assert.equal("table", type(json.decode(lines(out)[1])))
    out, err, rc = run({ "--api", "v1", "logs", "example_etl", run_id, "extract" }, V1)
    assert.equal(0, rc, err)
    assert.truthy(out:find("INFO - Executing <Task(PythonOperator): extract>", 1, true))
    env.fake_control("/_fake/config", '{"run_ms": 1500}')
    local _
    _, err, rc = run({ "trigger", "tutorial", "--run-id", "follow_me" }, ADMIN)
    assert.equal(0, rc, err)
    out, err, rc = run({ "logs", "tutorial", "follow_me", "print_date", "--follow", "--interval", "0.2" }, ADMIN)
    assert.equal(0, rc, err)
    local got = lines(out)
    assert.truthy(out:find("Executing <Task(BashOperator): print_date>", 1, true))
    assert.truthy(got[#got]:find("Marking task as SUCCESS", 1, true))
    local seen = {}
    for _, l in ipairs(got) do
      assert.is_nil(seen[l], "printed twice: " .. l)
      seen[l] = true
    end
    _, err, rc = run({ "logs", "example_etl", run_id }, ADMIN)
    assert.equal(2, rc)
    assert.truthy(err:find("usage: airflow-lua logs", 1, true))
  end)

  it("prints the client and server versions", function()
    local out, err, rc = run({ "version" }, { AIRFLOW_URL = FAKE })
    assert.equal(0, rc, err)
    assert.matches("^airflow%-lua %S+ %(lua%-airflow %S+, Lua 5%.4, libcurl/[%d.]+%)\n"
      .. "server: Airflow %S+ %(API v2, ", out)
    out = run({ "version", "--client" }, { AIRFLOW_URL = "http://127.0.0.1:1" })
    assert.equal(1, #lines(out))
  end)
end)

describe("--dry-run", function()
  local SECRET = "Dry-S3cret-PW"

  -- The printed curl line (the last line of the output), and a check that sh parses it.
  local function curl_line(out)
    local last = out:match("([^\n]+)\n$")
    assert.truthy(last and last:find("^curl %-X "), out)
    assert.is_true(os.execute("sh -n -c " .. q(last)) == true, last)
    return last
  end

  it("prints the request and a curl line, sends nothing (not even /auth/token) and shows no secret", function()
    local cases = {
      { argv = { "trigger", "example_etl", "--conf", '{"day": "2024-01-01"}' },
        vars = { AIRFLOW_URL = FAKE, AIRFLOW_USERNAME = "admin", AIRFLOW_PASSWORD = SECRET },
        head = "POST " .. FAKE .. "/api/v2/dags/example_etl/dagRuns", auth = "Authorization: Bearer <token>",
        body = '"day":"2024-01-01"', curl = '-H "Authorization: Bearer $AIRFLOW_TOKEN"' },
      { argv = { "--token-stdin", "variable", "post_variable", "--body", '{"key": "k", "value": "v"}' },
        vars = { AIRFLOW_URL = FAKE }, stdin = "tok-" .. SECRET .. "\n",
        head = "POST " .. FAKE .. "/api/v2/variables", auth = "Authorization: Bearer <token>",
        body = '"key":"k"', curl = '-H "Authorization: Bearer $AIRFLOW_TOKEN"' },
      { argv = { "--api", "v1", "pause", "example_etl", "tutorial" },
        vars = { AIRFLOW_URL = FAKE, AIRFLOW_USERNAME = "admin", AIRFLOW_PASSWORD = SECRET },
        head = "PATCH " .. FAKE .. "/api/v1/dags/tutorial?update_mask=is_paused",
        auth = "Authorization: Basic <base64 of admin:password>", body = '{"is_paused":true}',
        curl = [[-u 'admin'":$AIRFLOW_PASSWORD"]] },
      { argv = { "--verbose", "dag", "get_dags", "tags=etl", "--all" },
        vars = { AIRFLOW_URL = FAKE, AIRFLOW_TOKEN = "tok-" .. SECRET },
        head = "GET " .. FAKE .. "/api/v2/dags?limit=100&offset=0&tags=etl", auth = "Authorization: Bearer <token>" },
      { argv = { "login" }, vars = { AIRFLOW_URL = FAKE, AIRFLOW_USERNAME = "admin", AIRFLOW_PASSWORD = SECRET },
        head = "GET " .. FAKE .. "/api/v2/dags?limit=1", auth = "Authorization: Bearer <token>" },
    }
    for _, c in ipairs(cases) do
      local argv = { "--dry-run" }
      for _, a in ipairs(c.argv) do argv[#argv + 1] = a end
      local out, err, rc = run(argv, c.vars, c.stdin)
      local what = table.concat(c.argv, " ")
      assert.equal(0, rc, what .. ": " .. err)
      assert.truthy(out:find(c.head .. "\n", 1, true), what .. ": " .. out)
      assert.truthy(out:find("\n" .. c.auth .. "\n", 1, true), what .. ": " .. out)
      assert.truthy(out:find("Accept: application/json\n", 1, true), what)
      if c.body then
        assert.truthy(out:find("Content-Type: application/json\n", 1, true), what)
        assert.truthy(out:find(c.body, 1, true), what)
      end
      local curl = curl_line(out)
      local method, url = c.head:match("^(%S+) (%S+)$")
      assert.truthy(curl:find("curl -X " .. method .. " " .. q(url), 1, true), curl)
      if c.curl then assert.truthy(curl:find(c.curl, 1, true), curl) end
      if c.body then assert.truthy(curl:find("--data-binary '", 1, true), curl) end
      assert.is_nil((out .. err):find(SECRET, 1, true), what)
      assert.is_nil(out:find("Logged in", 1, true))
      assert.same({ requests = 0, token_requests = 0 }, { requests = stats().requests,
        token_requests = stats().token_requests }, what)
    end
    assert.is_nil(read(CACHE_DIR .. "/default.token")) -- nothing fetched, nothing cached
  end)

  it("prints a curl line that sends the same request once the credential is set", function()
    local token = json.decode(io.popen("curl -s -X POST -H 'Content-Type: application/json' -d "
      .. q('{"username":"admin","password":"admin"}') .. " " .. q(FAKE .. "/auth/token")):read("a")).access_token
    assert.is_string(token)
    env.fake_control("/_fake/reset")
    local out = run({ "--dry-run", "variable", "post_variable", "--body", '{"key": "from curl", "value": "it\'s"}' },
      ADMIN)
    local p = io.popen("AIRFLOW_TOKEN=" .. q(token) .. " sh -c "
      .. q(curl_line(out) .. " -s -o /dev/null -w '%{http_code}'"))
    assert.equal("201", p:read("a"))
    p:close()
    out = run({ "--dry-run", "--api", "v1", "variable", "get_variable", "from curl" }, V1)
    p = io.popen("AIRFLOW_PASSWORD=admin sh -c " .. q(curl_line(out) .. " -s"))
    local got = json.decode(p:read("a"))
    p:close()
    assert.same({ key = "from curl", value = "it's" }, { key = got.key, value = got.value })
    assert.equal(2, stats().requests) -- the two curl processes, nothing from airflow-lua
  end)
end)

describe("--read-only", function()
  local path = CONFIG_DIR .. "/config"

  local function refuses(argv, vars)
    local out, err, rc = run(argv, vars)
    assert.equal(2, rc, err)
    assert.equal("", out)
    assert.truthy(err:find("refused: the client is read-only", 1, true), err)
    assert.equal(0, stats().requests, table.concat(argv, " "))
  end

  it("refuses every request but GET before it is sent (exit 2), and allows GETs", function()
    refuses({ "--read-only", "trigger", "example_etl" }, ADMIN)
    refuses({ "--read-only", "variable", "post_variable", "--body", '{"key": "k", "value": "v"}' }, ADMIN)
    refuses({ "--read-only", "pause", "tutorial" }, V1)
    refuses({ "--read-only", "dag", "patch_dag", "tutorial", "--body", '{"is_paused": true}' }, ADMIN)
    local out, err, rc = run({ "--read-only", "variable", "get_variable", "var_007" }, ADMIN)
    assert.equal(0, rc, err)
    assert.equal("value_007", json.decode(out).value)
  end)

  it("is also a profile setting, and a bad value is a usage error", function()
    write(path, "[default]\nurl = " .. FAKE .. "\nusername = admin\npassword = admin\nread_only = true\n"
      .. "[profile rw]\nurl = " .. FAKE .. "\nusername = admin\npassword = admin\n"
      .. "[profile odd]\nurl = " .. FAKE .. "\nread_only = maybe\n", "600")
    refuses({ "trigger", "example_etl" })
    refuses({ "dag_run", "trigger_dag_run", "example_etl", "--body", "{}" })
    local out, err, rc, _ = run({ "dag", "get_dag", "tutorial" })
    assert.equal(0, rc, err)
    assert.equal("tutorial", json.decode(out).dag_id)
    _, err, rc = run({ "--profile", "rw", "trigger", "example_etl" })
    assert.equal(0, rc, err)
    env.fake_control("/_fake/reset")
    refuses({ "--profile", "rw", "--read-only", "trigger", "example_etl" })
    _, err, rc = run({ "--profile", "odd", "dag", "get_dags" })
    assert.equal(2, rc)
    assert.truthy(err:find("read_only in profile 'odd' must be true or false, got 'maybe'", 1, true), err)
  end)
end)
