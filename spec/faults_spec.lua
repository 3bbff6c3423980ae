-- Fault injection through the whole client: each fault gives a clear error or a
-- correct retry within its timeout, and the client stays usable afterwards.
-- (`make valgrind` runs this file too: nothing leaks on any of these paths.)
local airflow = require("airflow")
local core = require("airflow.core")
local env = require("env")

local base = env.need("TEST_SERVER_URL")

-- A client whose requests all go to one test-server path.
local function at(path, opts)
  opts = opts or {}
  opts.base_url = base .. path .. (path:find("?", 1, true) and "&x=" or "?x=")
  opts.token = "t"
  opts.sleep = opts.sleep or function() end
  opts.timeout = opts.timeout or 2
  return assert(airflow.new(opts))
end

local function still_usable(c)
  local echo = assert(c.transport:request{ method = "GET", url = base .. "/echo/after" })
  assert.equal(200, echo.status)
end

local closed_port = env.closed_port

describe("faults", function()
  it("refused connection: Transport/connect, retried for GET, quickly", function()
    local retries = 0
    local c = assert(airflow.new{ base_url = "http://127.0.0.1:" .. closed_port(), token = "t", retries = 2,
      sleep = function() end, on_retry = function() retries = retries + 1 end })
    local t0 = core.now()
    local _, err = c.version:get_version()
    assert.equal("Transport", err.kind)
    assert.equal("connect", err.code)
    assert.equal(2, retries)
    assert.is_true(core.now() - t0 < 2)
  end)

  it("connection reset mid-body: Transport/recv", function()
    local c = at("/reset-mid-body", { retries = 0 })
    local _, err = c.version:get_version()
    assert.equal("recv", err.code)
    still_usable(c)
  end)

  it("truncated chunked body: an error, not a short success", function()
    local c = at("/truncated-chunked", { retries = 0 })
    local v, err = c.version:get_version()
    assert.is_nil(v)
    assert.equal("Transport", err.kind)
    still_usable(c)
  end)

  it("server closes after the headers: an error", function()
    local c = at("/close-after-headers", { retries = 0 })
    local v, err = c.version:get_version()
    assert.is_nil(v)
    assert.equal("Transport", err.kind)
  end)

  it("slow-loris headers: Timeout within the configured time", function()
    local c = at("/stall-headers?ms=5000", { retries = 0, timeout = 0.5 })
    local t0 = core.now()
    local _, err = c.version:get_version()
    assert.equal("Timeout", err.kind)
    assert.is_true(core.now() - t0 < 1.5)
    still_usable(c)
  end)

  it("a 10 MB header line: an error, and the client survives", function()
    local c = at("/huge-header?bytes=10000000", { retries = 0 })
    local v, err = c.version:get_version()
    assert.is_nil(v)
    assert.is_string(tostring(err))
    still_usable(c)
  end)

  it("a body over max_body_bytes: Transport/too_large", function()
    local c = at("/big?bytes=3000000", { retries = 0, max_body_bytes = 1000000 })
    local _, err = c.version:get_version()
    assert.equal("too_large", err.code)
    still_usable(c)
  end)

  it("invalid JSON: an Unknown 'invalid response' error", function()
    local _, err = at("/invalid-json").version:get_version()
    assert.equal("invalid response", err.title)
    assert.matches("invalid JSON", err.detail, 1, true)
  end)

  it("a wrong content type for a JSON operation: InvalidResponse, not the text", function()
    local v, err = at("/status/200?ctype=text/plain&body=hello").version:get_version()
    assert.is_nil(v)
    assert.equal("InvalidResponse", err.kind)
    assert.matches("expected JSON, got text/plain", err.detail, 1, true)
  end)

  it("gzip bodies are decoded", function()
    local v = assert(at("/gzip").version:get_version())
    assert.is_true(v.gzipped)
  end)

  it("a 503 storm: retried with backoff up to `retries`, then a clear error", function()
    local waits = {}
    local c = at("/status/503", { retries = 4, sleep = function(s) waits[#waits + 1] = s end })
    local _, err = c.version:get_version()
    assert.equal(503, err.status)
    assert.equal(4, #waits)
    for i = 2, #waits do assert.is_true(waits[i] <= c.retry_max_wait) end
  end)

  it("429 with Retry-After: waits what the server asked, then succeeds", function()
    local key = tostring(math.random(1e9))
    local waits = {}
    local c = at("/flaky?key=" .. key .. "&fail=1&code=429&retry_after=2",
      { sleep = function(s) waits[#waits + 1] = s end })
    assert(c.version:get_version())
    assert.same({ 2 }, waits)
  end)

  it("an HTML error page from a proxy: a readable error", function()
    local _, err = at("/html-error", { retries = 0 }).version:get_version()
    assert.equal(502, err.status)
    assert.is_nil(tostring(err):find("<", 1, true))
  end)
end)
