-- Hostile servers and bad input (issue 11's audit): each case here failed before its
-- fix. Servers are real processes (spec/servers/testserver.py's /hostile/ answers, the
-- fake Airflow); the CLI runs as a real process. `make valgrind` runs this file too.
local airflow = require("airflow")
local core = require("airflow.core")
local json = require("airflow.json")
local env = require("env")

local base = env.need("TEST_SERVER_URL")
local TMP = env.need("LUA_AIRFLOW_TEST_TMP") .. "/hostile"
assert(os.execute("mkdir -p '" .. TMP .. "'"))

local function stats()
  local s = core.session()
  local res = assert(s:request{ url = base .. "/_stats" })
  s:close()
  return json.decode(res.body)
end

local function reset_stats()
  local s = core.session()
  assert(s:request{ method = "POST", url = base .. "/_stats/reset" })
  s:close()
end

-- A client whose operations all land on one test-server path (the operation's own
-- path becomes a query string).
local function at(path, opts)
  opts = opts or {}
  opts.base_url = base .. path .. (path:find("?", 1, true) and "&x=" or "?x=")
  if opts.token == nil and not opts.token_provider and not opts.username then opts.token = "t" end
  opts.retries = opts.retries or 0
  opts.timeout = opts.timeout or 5
  return assert(airflow.new(opts))
end

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local read = env.read

-- Waits (bounded) until pred() holds; polling, not a fixed sleep.
local function wait_until(pred, seconds, what)
  local deadline = core.now() + (seconds or 10)
  while core.now() < deadline do
    if pred() then return true end
    core.sleep(0.02)
  end
  error("timed out waiting for " .. (what or "a condition"), 2)
end

-- Runs a shell command in the background; returns its pid and the files holding its
-- stdout, stderr and (once it ended) exit status.
local function spawn(cmd, name)
  local dir = TMP .. "/" .. name
  assert(os.execute("rm -rf " .. q(dir) .. " && mkdir -p " .. q(dir)))
  -- a simple command, so that $! is the pid of the program itself (env and exec replace
  -- themselves, never fork)
  local script = ("%s >%s/out 2>%s/err & echo $! >%s/pid; wait $!; echo $? >%s/rc.tmp; mv %s/rc.tmp %s/rc")
    :format(cmd, dir, dir, dir, dir, dir, dir)
  assert(os.execute("sh -c " .. q(script) .. " </dev/null >/dev/null 2>&1 &"))
  wait_until(function() return (read(dir .. "/pid") or ""):match("%d+\n") end, 10, name .. " to start")
  return {
    pid = tonumber(read(dir .. "/pid")),
    rc = function() local r = read(dir .. "/rc"); return r and tonumber(r) end,
    out = function() return read(dir .. "/out") or "" end,
    err = function() return read(dir .. "/err") or "" end,
  }
end

local LUA_ENV = "LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='lua/?.so;;'"

describe("hostile input", function()
  describe("credentials never reach a header with a line break (1)", function()
    it("a static token with CR/LF is refused at airflow.new, naming the option", function()
      local ok, err = pcall(airflow.new, { base_url = base, token = "abc\r\nX-Evil: 1" })
      assert.is_false(ok)
      assert.matches("option 'token': the token has a byte outside visible ASCII at position 4", err, 1, true)
      assert.is_nil(err:find("X-Evil", 1, true)) -- the secret is not echoed
      ok, err = pcall(airflow.new, { base_url = base, token = "abc def" })
      assert.is_false(ok)
      assert.matches("position 4", err, 1, true)
    end)

    it("basic credentials with control characters, or ':' in the user, are refused", function()
      local ok, err = pcall(airflow.new, { base_url = base, api = "v1", username = "ad:min", password = "x" })
      assert.is_false(ok)
      assert.matches("user name has a control character or ':' at position 3", err, 1, true)
      ok, err = pcall(airflow.new, { base_url = base, api = "v1", username = "admin", password = "pw\r\nX: 1" })
      assert.is_false(ok)
      assert.matches("password has a control character at position 3", err, 1, true)
      -- a space or a non-ASCII letter in a password is fine: basic auth encodes it
      assert.truthy(airflow.new{ base_url = base, api = "v1", username = "admin", password = "pass wört" })
    end)

    it("a token_provider's token with CR/LF fails the call with nil, err and sends nothing", function()
      reset_stats()
      local c = at("/echo", { token_provider = function() return "abc\r\nX-Evil: 1" end })
      local v, err = c.version:get_version()
      assert.is_nil(v)
      assert.equal("Unauthenticated", err.kind)
      assert.equal("token_provider failed", err.title)
      assert.matches("outside visible ASCII", err.detail, 1, true)
      assert.is_nil(tostring(err):find("X-Evil", 1, true))
      assert.equal(0, stats().requests)
    end)

    it("a token from /auth/token with CR/LF is refused: no API request is sent with it", function()
      reset_stats()
      local c = assert(airflow.new{ base_url = base .. "/hostile", username = "admin", password = "admin",
        retries = 0, timeout = 5 })
      local v, err = c.dag:get_dags()
      assert.is_nil(v)
      assert.equal("InvalidResponse", err.kind)
      assert.matches("unusable access_token from /auth/token", tostring(err), 1, true)
      assert.is_nil(tostring(err):find("X-Evil", 1, true))
      assert.equal(1, stats().requests) -- the login only
    end)

    it("airflow.core refuses such credentials itself, as the last line of defence", function()
      local s = core.session()
      local ok, err = pcall(s.set_auth, s, "bearer", nil, "abc\r\nX-Evil: 1")
      assert.is_false(ok)
      assert.matches("bearer token has a byte outside visible ASCII at position 4", err, 1, true)
      ok = pcall(s.set_auth, s, "bearer", nil, "")
      assert.is_false(ok)
      ok = pcall(s.set_auth, s, "basic", "a\nb", "pw")
      assert.is_false(ok)
      -- nothing was applied: the request goes out without credentials
      local res = assert(s:request{ url = base .. "/echo/x" })
      local seen = json.decode(res.body).headers
      assert.is_nil(seen.authorization)
      assert.is_nil(seen["x-evil"])
      s:close()
    end)

    it("the CLI refuses a token with a line break from the environment (exit 2, nothing sent)", function()
      reset_stats()
      local p = io.popen("env -i PATH=\"$PATH\" HOME=" .. q(TMP) .. " AIRFLOW_URL=" .. q(base .. "/hostile")
        .. " AIRFLOW_TOKEN=\"$(printf 'abc\\r\\nX-Evil: 1')\" bin/airflow-lua dag get_dags 2>&1; echo \"rc=$?\"")
      local out = p:read("a")
      p:close()
      assert.matches("rc=2\n$", out)
      assert.matches("outside visible ASCII", out, 1, true)
      assert.equal(0, stats().requests)
    end)
  end)

  describe("non-finite and out-of-range numbers raise, naming the option (2)", function()
    local bad = { 0 / 0, 1 / 0, -1 / 0, 1e300, -1 }
    for _, key in ipairs{ "timeout", "connect_timeout", "max_body_bytes", "max_redirects" } do
      it("core.session{" .. key .. " = ...}", function()
        for _, v in ipairs(bad) do
          local ok, err = pcall(core.session, { [key] = v })
          assert.is_false(ok, key .. " = " .. tostring(v))
          assert.matches("'" .. key .. "' must be a", err, 1, true)
        end
      end)
    end

    it("airflow.new's timeouts, retry settings and body limit", function()
      for _, key in ipairs{ "timeout", "connect_timeout", "retries", "retry_backoff", "retry_max_wait",
          "max_body_bytes", "max_redirects" } do
        for _, v in ipairs(bad) do
          local ok, err = pcall(airflow.new, { base_url = base, [key] = v })
          assert.is_false(ok, key .. " = " .. tostring(v))
          assert.matches("airflow: option '" .. key .. "' must be a", err, 1, true)
        end
      end
      local ok, err = pcall(airflow.new, { base_url = base, retries = 1.5 })
      assert.is_false(ok)
      assert.matches("whole number", err, 1, true)
    end)

    it("a per-request timeout and core.sleep", function()
      local s = core.session()
      -- /hang-body would hold the request for 30 s had the NaN reached libcurl
      local ok, err = pcall(s.request, s, { url = base .. "/hang-body", timeout = 0 / 0 })
      assert.is_false(ok)
      assert.matches("'timeout' must be a finite number", err, 1, true)
      ok, err = pcall(core.sleep, 0 / 0)
      assert.is_false(ok)
      assert.matches("finite", err, 1, true)
      assert.is_false(pcall(core.sleep, 1 / 0))
      assert.is_true(core.sleep(-1)) -- a negative wait is no wait
      s:close()
    end)
  end)

  describe("decompression bombs (3)", function()
    -- Fetches a 1 GiB gzip bomb in a process of its own, with the default limit, as
    -- one request or as a stream; returns the error code, message and peak RSS (kB).
    local function bomb(mode)
      local script = TMP .. "/bomb.lua"
      local f = assert(io.open(script, "w"))
      f:write([[
        local core = require("airflow.core")
        local s = core.session{ timeout = 60 }
        local req = { url = arg[1] .. "/hostile/bomb?mib=1024" }
        local res, err
        if arg[2] == "stream" then
          local st = assert(s:stream(req))
          repeat res, err = st:next() until not res
        else
          res, err = s:request(req)
        end
        local hwm = io.open("/proc/self/status"):read("a"):match("VmHWM:%s*(%d+)")
        print(res and "ok" or err.code, err and err.message or "", hwm)
      ]])
      f:close()
      -- a plain process (no sanitizer preloaded by `make asan`): RSS is what is measured
      local p = io.popen("env -u LD_PRELOAD " .. LUA_ENV .. " lua5.4 " .. q(script) .. " " .. q(base) .. " "
        .. mode .. " 2>&1")
      local out = p:read("a")
      p:close()
      local code, msg, hwm_kb = out:match("^(%S+)%s+(.-)%s+(%d+)\n$")
      assert.truthy(code, out)
      return code, msg, tonumber(hwm_kb)
    end

    it("the default limit refuses 1 GiB inflated from 1 MB, with a bounded peak RSS", function()
      local code, msg, hwm_kb = bomb("request")
      assert.equal("too_large", code)
      assert.matches("268435456 bytes", msg, 1, true)
      -- the body stops at 256 MiB; before the limit this run peaked at about 2 GB
      assert.is_true(hwm_kb < 400 * 1024, "peak RSS " .. tostring(hwm_kb) .. " kB")
      print(("\n  gzip bomb (1 GiB from ~1 MB), one request, default limit: peak RSS %.0f MiB"):format(hwm_kb / 1024))
    end)

    it("a stream is bounded too: the limit applies to what arrives between two reads", function()
      local code, msg, hwm_kb = bomb("stream")
      assert.equal("too_large", code)
      assert.matches("between two reads of the stream", msg, 1, true)
      -- one chunk of up to 256 MiB and its Lua copy; before, the whole GiB at once (2 GB)
      assert.is_true(hwm_kb < 700 * 1024, "peak RSS " .. tostring(hwm_kb) .. " kB")
      print(("\n  gzip bomb as a stream, default limit: peak RSS %.0f MiB"):format(hwm_kb / 1024))
    end)

    it("the limit counts decoded bytes; false lifts it explicitly", function()
      local c = at("/hostile/bomb?mib=8", { max_body_bytes = 4 * 1024 * 1024 })
      local v, err = c.version:get_version()
      assert.is_nil(v)
      assert.equal("too_large", err.code)
      local s = core.session{ max_body_bytes = false }
      local res = assert(s:request{ url = base .. "/hostile/bomb?mib=8" })
      assert.equal(8 * 1024 * 1024, #res.body)
      s:close()
    end)
  end)

  describe("a 200 that is not the operation's JSON (4)", function()
    it("an SSO proxy's login page is InvalidResponse, not a string", function()
      local c = at("/hostile/html-200")
      local dag, err = c.dag:get_dag("etl")
      assert.is_nil(dag)
      assert.equal("InvalidResponse", err.kind)
      assert.equal(200, err.status)
      local line = tostring(err)
      assert.matches("text/html", line, 1, true)
      assert.matches("Sign in - Corporate SSO", line, 1, true)
      assert.is_nil(line:find("\n", 1, true))
    end)

    it("also without a Content-Type", function()
      local c = at("/hostile/html-200?untyped=1")
      local dag, err = c.dag:get_dag("etl")
      assert.is_nil(dag)
      assert.equal("InvalidResponse", err.kind)
      assert.matches("no Content-Type", tostring(err), 1, true)
    end)

    it("an operation that also answers text/plain still returns text", function()
      local c = at("/hostile/html-200")
      -- get_config lists text/plain besides JSON: any text is its answer
      local text = assert(c.config:get_config{ accept = "text/plain" })
      assert.is_string(text)
    end)
  end)

  describe("Ctrl-C in the command line ends quietly with exit 130 (5)", function()
    local fake = env.need("FAKE_AIRFLOW_URL")
    local cli_env = "env -i PATH=\"$PATH\" HOME=" .. q(TMP) .. " XDG_CACHE_HOME=" .. q(TMP .. "/cache")
      .. " AIRFLOW_URL=" .. q(fake) .. " AIRFLOW_USERNAME=admin AIRFLOW_PASSWORD=admin "

    local function requests_since(seq, pred)
      for _, r in ipairs(env.fake_get("/_fake/requests?since=" .. seq)) do
        if pred(r) then return true end
      end
      return false
    end

    local function interrupt(name, argv, waiting_for)
      local seq = env.fake_get("/_fake/stats").seq
      local p = spawn(cli_env .. "bin/airflow-lua " .. argv, name)
      wait_until(function() return requests_since(seq, waiting_for) end, 15, name .. " to be waiting")
      local t0 = core.now()
      assert(os.execute("kill -INT " .. p.pid))
      wait_until(function() return p.rc() ~= nil end, 10, name .. " to exit")
      local took = core.now() - t0
      assert.equal(130, p.rc())
      assert.is_nil(p.err():find("internal error", 1, true), p.err())
      assert.is_nil(p.err():find("traceback", 1, true), p.err())
      -- it ended at the signal, not at the end of the 30 s poll interval
      assert.is_true(took < 5, ("took %.1f s"):format(took))
    end

    it("trigger --wait", function()
      env.fake_control("/_fake/reset")
      -- runs of a paused DAG stay queued: the wait never ends by itself
      interrupt("trigger", "trigger paused_dag --wait --interval 30", function(r)
        return r.method == "GET" and r.path:find("/dags/paused_dag/dagRuns/", 1, true) ~= nil
      end)
    end)

    it("wait", function()
      env.fake_control("/_fake/reset")
      local c = assert(airflow.new{ base_url = fake, username = "admin", password = "admin" })
      local run = assert(c.dag_run:trigger_dag_run{ dag_id = "paused_dag", body = {} })
      interrupt("wait", "wait paused_dag " .. q(run.dag_run_id) .. " --interval 30", function(r)
        return r.method == "GET" and r.path:find("/dagRuns/", 1, true) ~= nil
      end)
    end)

    it("logs --follow", function()
      env.fake_control("/_fake/reset")
      local c = assert(airflow.new{ base_url = fake, username = "admin", password = "admin" })
      local run = assert(c.dag_run:trigger_dag_run{ dag_id = "paused_dag", body = {} })
      interrupt("logs", "logs paused_dag " .. q(run.dag_run_id) .. " noop --follow --interval 30", function(r)
        return r.method == "GET" and r.path:find("/taskInstances/noop", 1, true) ~= nil
      end)
    end)

    it("a stream that waits on a silent server, in airflow.core", function()
      local script = TMP .. "/stream.lua"
      local f = assert(io.open(script, "w"))
      f:write([[
        local core = require("airflow.core")
        assert(core.trap_interrupt())
        local s = core.session()
        local st = assert(s:stream{ url = arg[1] .. "/hang-body?secs=60" })
        assert(st:next()) -- the first bytes; then the server goes silent
        io.stdout:write("waiting\n"); io.stdout:flush()
        local chunk, err = st:next()
        print(chunk, err and err.code)
        st:close(); s:close()
      ]])
      f:close()
      local p = spawn("env " .. LUA_ENV .. " lua5.4 " .. q(script) .. " " .. q(base), "stream")
      wait_until(function() return p.out():find("waiting", 1, true) end, 10, "the stream to wait")
      assert(os.execute("kill -INT " .. p.pid))
      wait_until(function() return p.rc() ~= nil end, 10, "the script to exit")
      assert.equal(0, p.rc(), p.err())
      assert.matches("nil\tinterrupted", p.out(), 1, true)
    end)
  end)

  describe("server text in errors is escaped in the one-line form (6)", function()
    it("CR/LF, ESC and invalid UTF-8 in a detail", function()
      local c = at("/hostile/detail")
      local _, err = c.dag:get_dag("x")
      assert.equal(400, err.status)
      local line = tostring(err)
      assert.is_nil(line:find("[\r\n\27]"), line)
      assert.matches("bad dag\\r\\nINFO forged line \\x1b[31mred\\x1b[0m \\xff\\xfe end", line, 1, true)
      assert.truthy(utf8.len(line), "valid UTF-8")
      -- the raw text is kept for whoever wants it
      assert.matches("\r\nINFO forged", err.detail, 1, true)
      assert.matches("forged", err.body, 1, true)
    end)

    it("in the CLI's stderr", function()
      local p = io.popen("env -i PATH=\"$PATH\" HOME=" .. q(TMP) .. " AIRFLOW_URL=" .. q(base .. "/hostile/detail?x=")
        .. " AIRFLOW_TOKEN=t bin/airflow-lua dag get_dag x 2>&1 >/dev/null")
      local out = p:read("a")
      p:close()
      assert.matches("forged line", out, 1, true)
      assert.is_nil(out:sub(1, -2):find("[\r\n\27]"), out)
    end)
  end)

  describe("sessions, batches and streams collected in any order free everything (7)", function()
    it("a session closed or collected while its stream is open", function()
      local s = core.session()
      local st = assert(s:stream{ url = base .. "/hang-body?secs=5" })
      assert(st:next())
      s:close() -- ends the stream's transfer and frees the share (valgrind checks)
      local chunk, err = st:next()
      assert.is_nil(chunk)
      assert.matches("session was closed", err.message, 1, true)
      st:close()

      -- the same through the collector, session first, stream afterwards
      s = core.session()
      st = assert(s:stream{ url = base .. "/hang-body?secs=5" })
      assert(st:next())
      s = nil -- luacheck: ignore 311
      collectgarbage()
      collectgarbage()
      st:close()
      -- and the stream first
      s = core.session()
      st = assert(s:stream{ url = base .. "/hang-body?secs=5" }) -- luacheck: ignore 311
      st = nil -- luacheck: ignore 311
      collectgarbage()
      s:close()
    end)

    it("a batch abandoned while its session goes away", function()
      local s = core.session()
      local reqs = {}
      for i = 1, 4 do reqs[i] = { url = base .. "/delay/50?i=" .. i } end
      local step, state = s:request_each(reqs, 2)
      assert(step(state))
      s:close()
      assert.is_nil(step(state))
    end)
  end)

  describe("--token is as visible as --password, and has --token-stdin (8)", function()
    local fake = env.need("FAKE_AIRFLOW_URL")

    local function login_token()
      local s = core.session()
      local res = assert(s:request{ method = "POST", url = fake .. "/auth/token",
        headers = { ["Content-Type"] = "application/json" }, body = '{"username":"admin","password":"admin"}' })
      s:close()
      return json.decode(res.body).access_token
    end

    local function cli(args, stdin)
      local cmd = "env -i PATH=\"$PATH\" HOME=" .. q(TMP) .. " AIRFLOW_URL=" .. q(fake)
        .. " bin/airflow-lua " .. args .. " 2>" .. q(TMP .. "/stderr") .. "; echo \"rc=$?\""
      if stdin then cmd = "printf '%s\\n' " .. q(stdin) .. " | " .. cmd end
      local p = io.popen(cmd)
      local out = p:read("a")
      p:close()
      return out, read(TMP .. "/stderr") or ""
    end

    it("--token warns, like --password", function()
      local out, err = cli("dag get_dag example_etl --token " .. q(login_token()))
      assert.matches("rc=0\n$", out)
      assert.matches("a token on the command line is visible to other users", err, 1, true)
      assert.matches("--token-stdin", err, 1, true)
    end)

    it("--token-stdin reads the token from standard input, and says nothing", function()
      local token = login_token()
      local seq = env.fake_get("/_fake/stats").seq
      local out, err = cli("dag get_dag example_etl --token-stdin", token)
      assert.matches("rc=0\n$", out)
      assert.matches('"dag_id"', out, 1, true)
      assert.equal("", err)
      assert.is_nil(out:find(token, 1, true))
      local seen = env.fake_get("/_fake/requests?since=" .. seq)
      assert.equal("Bearer", seen[#seen].headers.authorization)
      out = cli("dag get_dag example_etl --token-stdin --token x", token)
      assert.matches("rc=2\n$", out)
    end)
  end)
end)
