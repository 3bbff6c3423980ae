-- Every fenced Lua example of README.md and docs/ runs against the fake Airflow:
-- an example may meet an API error (`nil, err`, an airflow.Error), never raise.
-- README's `airflow-lua` shell examples that are safe to run run too.
local airflow = require("airflow")
local Error = require("airflow.error")
local env = require("env")

local FAKE = env.need("FAKE_AIRFLOW_URL")

local read = require("reference").read

-- The fenced blocks of a language in a Markdown text: {code, line, skip} each, where
-- `skip` is the reason given in an `<!-- example not run: REASON -->` line just above.
local function blocks(text, lang)
  local out, n, current, pending_skip = {}, 0, nil, nil
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    if current then
      if line:match("^```") then
        out[#out + 1] = current
        current = nil
      else
        current.lines[#current.lines + 1] = line
      end
    elseif line:match("^```" .. lang .. "%s*$") then
      current = { lines = {}, line = n, skip = pending_skip }
      pending_skip = nil
    else
      pending_skip = line:match("^<!%-%- example not run: (.-) %-%->$") or (line == "" and pending_skip) or nil
    end
  end
  for _, b in ipairs(out) do b.code = table.concat(b.lines, "\n") end
  return out
end

-- The environment of an example: the globals, `os.getenv` answering AIRFLOW_* for the
-- fake Airflow, `print` collecting what it prints, and `extra` (e.g. a `client`).
local function sandbox(vars, extra)
  local printed = {}
  local os_env = setmetatable({ getenv = function(k) return vars[k] or os.getenv(k) end }, { __index = os })
  local e = setmetatable({ os = os_env, print = function(...)
    local parts = table.pack(...)
    for i = 1, parts.n do parts[i] = tostring(parts[i]) end
    printed[#printed + 1] = table.concat(parts, "\t")
  end }, { __index = _G })
  for k, v in pairs(extra or {}) do e[k] = v end
  return e, printed
end

-- Runs an example: its results, or raises naming where it is (with the error).
local function run(code, name, e)
  local chunk = assert(load(code, "=" .. name, "t", e))
  local res = table.pack(xpcall(chunk, debug.traceback))
  if not res[1] then error(name .. " raised: " .. tostring(res[2]), 0) end
  return table.unpack(res, 2, res.n)
end

local ADMIN = { AIRFLOW_USERNAME = "admin", AIRFLOW_PASSWORD = "admin" }

before_each(function() env.fake_control("/_fake/reset") end)

describe("the docs' examples", function()
  local preamble = blocks(read("docs/README.md"), "lua")
  assert.equal(1, #preamble)

  for _, api in ipairs{ "v2", "v1" } do
    it("run every per-method example of " .. api .. ": a result or nil, airflow.Error, never a raise", function()
      local pages = io.popen("ls docs/" .. api .. "/*.md")
      local count, failures, results = 0, {}, 0
      for page in pages:lines() do
        env.fake_control("/_fake/reset") -- deletions of one page do not reach the next
        local vars = setmetatable({ AIRFLOW_URL = FAKE .. "/api/" .. api }, { __index = ADMIN })
        local client = run(preamble[1].code .. "\nreturn client", "docs/README.md:" .. preamble[1].line,
          sandbox(vars))
        assert.equal(api, client.api)
        for _, b in ipairs(blocks(read(page), "lua")) do
          count = count + 1
          local name = page .. ":" .. b.line
          local ok, why = pcall(function()
            local result, err = run(b.code .. "\nreturn result, err", name, sandbox(vars, { client = client }))
            if result == nil then
              assert(Error.is(err), name .. ": a failure that is not an airflow.Error: " .. tostring(err))
            else
              results = results + 1
            end
          end)
          if not ok then failures[#failures + 1] = tostring(why) end
        end
      end
      pages:close()
      assert.equal(api == "v2" and 130 or 90, count)
      assert.same({}, failures)
      assert.is_true(results > 0)
    end)
  end
end)

describe("README.md's Lua examples", function()
  local readme = read("README.md")
  local lua_blocks = blocks(readme, "lua")

  it("run against the fake Airflow (base_url pointed at it), except those that say why not", function()
    local ran, skipped = 0, {}
    for _, b in ipairs(lua_blocks) do
      local name = "README.md:" .. b.line
      if b.skip then
        skipped[#skipped + 1] = b.skip
      else
        env.fake_control("/_fake/reset")
        local code = b.code:gsub('"http://localhost:8080', '"' .. FAKE)
        local needs_client = not code:find("airflow.new", 1, true) and code:find("client", 1, true)
        local extra = { airflow = airflow }
        if needs_client then
          extra.client = assert(airflow.new{ base_url = FAKE, username = "admin", password = "admin" })
        end
        local e, printed = sandbox(setmetatable({ AIRFLOW_URL = FAKE }, { __index = ADMIN }), extra)
        run(code, name, e)
        b.printed = printed
        ran = ran + 1
      end
    end
    assert.same({ "it runs inside nginx: make test-openresty runs the gateway example" }, skipped)
    assert.equal(#lua_blocks - 1, ran)
    -- the first example shows what it prints
    assert.same({ "success", "nil\tNotFound\t404" }, lua_blocks[1].printed)
  end)
end)

describe("README.md's shell examples of airflow-lua", function()
  it("run and exit as the README says", function()
    local script = {}
    local open, in_block = false, false -- inside a fence; inside a plain ``` one (a terminal session)
    for line in read("README.md"):gmatch("([^\n]*)\n") do
      if line:match("^```") then
        open = not open
        in_block = open and line == "```"
      elseif in_block and line:match("^%$ airflow%-lua ") then
        script[#script + 1] = line:sub(3)
      end
    end
    assert.is_true(#script >= 6)
    local expect = 0
    for _, cmd in ipairs(script) do
      local code = tonumber(cmd:match("# exit (%d+)$")) or 0
      local argv = cmd:gsub("%s*#.*$", "")
      local sh = ("env AIRFLOW_URL=%s AIRFLOW_USERNAME=admin AIRFLOW_PASSWORD=admin XDG_CACHE_HOME=/nonexistent "
        .. "PATH=bin:$PATH sh -c '%s' >/dev/null 2>&1; echo $?"):format(FAKE, argv:gsub("'", "'\\''"))
      local p = io.popen(sh)
      local rc = tonumber(p:read("a"))
      p:close()
      assert.equal(code, rc, cmd)
      expect = expect + 1
    end
    assert.equal(#script, expect)
  end)
end)
