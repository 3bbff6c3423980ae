-- The hostile network suite: bad certificates, treacherous redirects, HTTP/2, and
-- responses that break HTTP/1.1 (spec/servers/hostile.py), through the whole client
-- and through airflow.core sessions. Each case ends in a result or `nil, err` with a
-- typed code and a readable one-line message, within a bounded time, and the client
-- stays usable. (`make valgrind` and `make asan` run this file too.)
local airflow = require("airflow")
local core = require("airflow.core")
local json = require("airflow.json")
local env = require("env")

local HOSTILE_PORT = env.need("TEST_HOSTILE_PORT")
local PLAIN = "http://127.0.0.1:" .. HOSTILE_PORT    -- plain HTTP ...
local TLS = "https://localhost:" .. HOSTILE_PORT     -- ... and HTTPS on the same port
local CA = env.need("TEST_TLS_CA")
local TEST_SERVER = env.need("TEST_SERVER_URL")
local SECRET = "secret-bearer-value"

local function noop() end

local function escape(s)
  return (s:gsub("[^%w/:.-]", function(c) return ("%%%02X"):format(c:byte()) end))
end

-- A client whose every request goes to `url` (the operation's path lands in the query).
local function client_at(url, opts)
  opts = opts or {}
  opts.base_url = url .. (url:find("?", 1, true) and "&x=" or "?x=")
  if not opts.username then opts.token = SECRET end
  opts.sleep = opts.sleep or noop
  opts.timeout = opts.timeout or 10
  if opts.retries == nil then opts.retries = 0 end
  return assert(airflow.new(opts))
end

-- Requests a hostile server saw per path since its last reset (over plain HTTP, so
-- a server with a bad certificate can be asked too).
local control = core.session{ timeout = 10 }
local function reset(port)
  assert(control:request{ method = "POST", url = "http://127.0.0.1:" .. port .. "/_stats/reset" })
end
local function seen(port, path)
  local res = assert(control:request{ url = "http://127.0.0.1:" .. port .. "/_stats" })
  local stats = json.decode(res.body)
  return path and (stats.paths[path] or 0) or stats.requests
end

-- The error is a transport failure with this code, reads as one clean line, and
-- names the failure.
local function assert_transport_error(err, code, pattern)
  assert.is_table(err)
  assert.equal(code == "timeout" and "Timeout" or "Transport", err.kind)
  assert.equal(code, err.code)
  local line = tostring(err)
  assert.is_nil(line:find("[%c\127]"), "control character in: " .. line)
  assert.is_nil(line:find(SECRET, 1, true))
  if pattern then assert.matches(pattern, line) end
end

local function still_usable(c)
  local res = assert(c.transport:request{ url = PLAIN .. "/headers" })
  assert.equal(200, res.status)
end

describe("TLS", function()
  local function refused(port_var, pattern, opts)
    local port = env.need(port_var)
    reset(port)
    local retries = 0
    opts = opts or {}
    opts.retries = 3
    opts.on_retry = function() retries = retries + 1 end
    local c = client_at("https://localhost:" .. port .. "/headers", opts)
    local v, err = c.version:get_version()
    assert.is_nil(v)
    assert_transport_error(err, "tls", pattern)
    assert.equal(0, retries)          -- a bad certificate is not a passing glitch
    assert.equal(0, seen(port))       -- and no request reached the server
  end

  it("refuses a certificate for another host name", function()
    refused("TEST_TLS_WRONG_HOST_PORT", "subject name", { ca_file = CA })
  end)

  it("refuses an expired certificate, even from the trusted CA", function()
    refused("TEST_TLS_EXPIRED_PORT", "expired", { ca_file = CA })
  end)

  it("refuses a self-signed certificate not in the trust store", function()
    refused("TEST_TLS_SELF_SIGNED_PORT", "self%-signed", { ca_file = CA })
    refused("TEST_TLS_SELF_SIGNED_PORT", "self%-signed")   -- the system's store
  end)

  it("accepts the certificate once its CA is given", function()
    local port = env.need("TEST_TLS_SELF_SIGNED_PORT")
    reset(port)
    local c = client_at("https://localhost:" .. port .. "/headers",
      { ca_file = env.need("TEST_TLS_SELF_SIGNED_CA") })
    local headers = assert(c.version:get_version())
    assert.equal("Bearer " .. SECRET, headers.authorization)
    assert.equal(1, seen(port))
  end)

  it("accepts even an expired certificate with verify_tls = false, with the warning", function()
    local warnings = {}
    local c = client_at("https://localhost:" .. env.need("TEST_TLS_EXPIRED_PORT") .. "/headers",
      { verify_tls = false, on_warning = function(m) warnings[#warnings + 1] = m end })
    assert.is_table(assert(c.version:get_version()))
    assert.equal(1, #warnings)
    assert.matches("TLS verification is off", warnings[1], 1, true)
  end)
end)

describe("redirects", function()
  local function redirect(from, to, extra)
    return from .. "/redirect?" .. (extra and extra .. "&" or "") .. "to=" .. escape(to)
  end

  it("never from https to http: refused, and nothing reaches the plain-text URL", function()
    reset(HOSTILE_PORT)
    local c = client_at(redirect(TLS, "http://localhost:" .. HOSTILE_PORT .. "/headers"), { ca_file = CA })
    local v, err = c.version:get_version()
    assert.is_nil(v)
    assert_transport_error(err, "protocol", "never from https to http")
    assert.equal(1, seen(HOSTILE_PORT, "/redirect"))
    assert.equal(0, seen(HOSTILE_PORT, "/headers"))
    -- https to https is followed, credentials included (same host and port)
    c = client_at(redirect(TLS, TLS .. "/headers"), { ca_file = CA })
    assert.equal("Bearer " .. SECRET, assert(c.version:get_version()).authorization)
  end)

  it("sends credentials to the same origin only: not to another port, scheme or host", function()
    local same = client_at(redirect(PLAIN, PLAIN .. "/headers"))
    assert.equal("Bearer " .. SECRET, assert(same.version:get_version()).authorization)
    local targets = {
      TEST_SERVER .. "/headers",                                    -- another port
      "https://127.0.0.1:" .. HOSTILE_PORT .. "/headers",           -- another scheme, same port
      "http://localhost:" .. HOSTILE_PORT .. "/headers",            -- another host name
    }
    for _, target in ipairs(targets) do
      local headers = assert(client_at(redirect(PLAIN, target), { ca_file = CA }).version:get_version())
      assert.is_table(headers)
      assert.is_nil(headers.authorization, target)
    end
    -- basic credentials (v1) likewise
    local v1 = client_at(redirect(PLAIN, TEST_SERVER .. "/headers"),
      { api = "v1", username = "admin", password = "pw-secret" })
    assert.is_nil(assert(v1.monitoring:get_version()).authorization)
    local v1_same = client_at(redirect(PLAIN, "/headers"), { api = "v1", username = "admin", password = "pw-secret" })
    assert.matches("^Basic ", assert(v1_same.monitoring:get_version()).authorization)
  end)

  it("never stores a cookie, nor sends one it was given to another host", function()
    for _, to in ipairs{ "/headers", "http://localhost:" .. HOSTILE_PORT .. "/headers" } do
      local c = client_at(redirect(PLAIN, to, "cookie=" .. escape("sid=abc; Path=/")))
      local headers = assert(c.version:get_version())
      assert.is_nil(headers.cookie, to)
      assert.is_nil(assert(c.version:get_version()).cookie)   -- nor on the next request
    end
    -- a Cookie (and Authorization) header the caller set goes to the first host only
    local s = core.session{ timeout = 10 }
    local hdrs = { "Cookie: mine=1", "Authorization: Bearer custom" }
    local res = assert(s:request{ url = redirect(PLAIN, "http://localhost:" .. HOSTILE_PORT .. "/headers"),
      headers = hdrs })
    local got = json.decode(res.body)
    assert.is_nil(got.cookie)
    assert.is_nil(got.authorization)
    got = json.decode(assert(s:request{ url = redirect(PLAIN, "/headers"), headers = hdrs }).body)
    assert.equal("mine=1", got.cookie)
    s:close()
  end)

  it("bounds a redirect loop by max_redirects", function()
    for _, max in ipairs{ 5, 2 } do
      reset(HOSTILE_PORT)
      local opts = max ~= 5 and { max_redirects = max } or {}
      local _, err = client_at(PLAIN .. "/loop", opts).version:get_version()
      assert_transport_error(err, "protocol", "redirect")
      assert.equal(max + 1, seen(HOSTILE_PORT, "/loop"))
    end
  end)

  it("refuses a Location with another scheme (file:, gopher:, dict:)", function()
    for _, to in ipairs{ "file:///etc/passwd", "gopher://127.0.0.1:70/x", "dict://127.0.0.1:2628/d" } do
      local v, err = client_at(redirect(PLAIN, to)).version:get_version()
      assert.is_nil(v)
      assert_transport_error(err, "protocol", "scheme is \"" .. to:match("^%a+") .. ":\"")
    end
  end)
end)

describe("HTTP/2 (nginx)", function()
  local H2 = env.need("TEST_H2_URL")

  local function h2_client(version, opts)
    opts = opts or {}
    opts.base_url = H2
    opts.token = SECRET
    opts.ca_file = CA
    opts.http_version = version
    opts.sleep = opts.sleep or noop
    opts.timeout = 20
    return assert(airflow.new(opts))
  end

  for _, version in ipairs{ "2", "auto" } do
    it("http_version = " .. version .. " negotiates HTTP/2 over TLS", function()
      local c = h2_client(version)
      local v = assert(c.version:get_version())
      assert.equal("HTTP/2.0", v.protocol)                 -- as nginx saw it
      assert.equal("Bearer " .. SECRET, v.authorization)
      local res = assert(c.transport:request{ url = H2 .. "/api/v2/version" })
      assert.equal(20, res.http_version)
    end)
  end

  it("http_version = 1.1 stays on HTTP/1.1", function()
    local c = h2_client("1.1")
    assert.equal("HTTP/1.1", assert(c.version:get_version()).protocol)
    assert.equal(11, assert(c.transport:request{ url = H2 .. "/api/v2/version" }).http_version)
  end)

  it("returns errors, a big gzipped body, and its limit, over HTTP/2", function()
    local c = h2_client("2")
    local _, err = c.dag:get_dag("missing")
    assert.equal("NotFound", err.kind)
    assert.equal(404, err.status)
    assert.matches("`missing` was not found", err.detail, 1, true)
    local raw = assert(c.transport:request{ url = H2 .. "/api/v2/dags" })
    assert.equal(20, raw.http_version)
    assert.equal("gzip", raw.headers["content-encoding"])
    assert.is_true(#raw.body > 5e6)
    local dags = assert(c.dag:get_dags{ limit = 100 })
    assert.equal(20000, #dags.dags)
    assert.equal("dag_19999", dags.dags[20000].dag_id)
    local small = h2_client("2", { max_body_bytes = 1000000 })
    _, err = small.dag:get_dags{}
    assert_transport_error(err, "too_large")
  end)

  it("a reset stream is a protocol error, and the connection serves the next request", function()
    local c = h2_client("2")
    local _, err = c.transport:request{ url = H2 .. "/api/v2/dags/reset" }
    assert.equal("protocol", err.code)
    assert.matches("HTTP/2 stream", err.message, 1, true)
    assert.equal(20, assert(c.transport:request{ url = H2 .. "/api/v2/version" }).http_version)
  end)

  it("retries a 503 with Retry-After, and runs requests concurrently", function()
    local waits = {}
    local c = h2_client("2", { retries = 2, sleep = function(s) waits[#waits + 1] = s end })
    local _, err = c.dag:get_dag("busy")
    assert.equal(503, err.status)
    assert.same({ 1, 1 }, waits)
    local reqs = {}
    for i = 1, 20 do reqs[i] = { url = H2 .. "/api/v2/version" } end
    local responses = c.transport:request_many(reqs, 10)
    for i = 1, 20 do assert.equal(20, responses[i].http_version) end
  end)
end)

describe("malformed responses", function()
  local CASES = {
    { "/many-headers?n=100000", "too_large", "headers exceed" },
    { "/informational?n=-1", "too_large", "headers exceed" },          -- 1xx forever
    { "/header-nul", "protocol", "[Nn]ul byte" },
    { "/header-cr", "protocol", "control character" },
    { "/status-garbage?v=letters", "protocol" },
    { "/status-garbage?v=huge", "protocol" },
    { "/status-garbage?v=negative", "protocol" },
    { "/status-garbage?v=binary", "protocol" },
    { "/status-garbage?v=noversion", "protocol" },
    { "/http09", "protocol", "HTTP/0%.9" },
    { "/cl?v=negative", "protocol", "Content%-Length" },
    -- past the default body limit libcurl reads first; with none, we refuse it
    { "/cl?v=overflow", "too_large", "exceeds the limit" },
    { "/cl?v=overflow", "protocol", "invalid Content%-Length", { max_body_bytes = false } },
    { "/cl?v=letters", "protocol", "Content%-Length" },
    { "/cl?v=double", "protocol", "conflicting Content%-Length" },
    { "/cl-and-chunked", "protocol", "both Content%-Length and Transfer%-Encoding" },
    { "/bad-gzip", "protocol" },
  }
  for _, case in ipairs(CASES) do
    local path, code, pattern, opts = case[1], case[2], case[3], case[4]
    it(path .. ": nil, err with code " .. code .. ", quickly, and the client survives", function()
      local c = client_at(PLAIN .. path, opts)
      local t0 = core.now()
      local v, err = c.version:get_version()
      assert.is_nil(v)
      assert_transport_error(err, code, pattern)
      assert.is_true(core.now() - t0 < 5)
      still_usable(c)
    end)
  end

  it("a 10 MB header line is too_large, not 'out of memory'", function()
    local _, err = client_at(TEST_SERVER .. "/huge-header?bytes=10000000").version:get_version()
    assert_transport_error(err, "too_large", "header")
  end)

  it("in concurrent batches and streams alike", function()
    local s = core.session{ timeout = 10 }
    local reqs = {}
    local cases = {}
    for _, case in ipairs(CASES) do
      if not case[4] then cases[#cases + 1] = case end
    end
    for i, case in ipairs(cases) do
      reqs[2 * i - 1] = { url = PLAIN .. case[1] }
      reqs[2 * i] = { url = PLAIN .. "/headers" }
    end
    local responses, errors = s:request_many(reqs, 4)
    for i, case in ipairs(cases) do
      assert.is_false(responses[2 * i - 1])
      assert.equal(case[2], errors[2 * i - 1].code, case[1])
      assert.equal(200, responses[2 * i].status)
    end
    local stream = assert(s:stream{ url = PLAIN .. "/cl-and-chunked" })
    local chunk, err
    repeat chunk, err = stream:next() until not chunk
    assert.is_nil(chunk)
    assert.equal("protocol", err.code)
    stream:close()
    s:close()
  end)
end)

describe("slow and stuck servers", function()
  it("a body dripping a byte at a time ends at the timeout", function()
    local c = client_at(PLAIN .. "/drip?bytes=1000&ms=50", { timeout = 1 })
    local t0 = core.now()
    local _, err = c.version:get_version()
    assert_transport_error(err, "timeout")
    local took = core.now() - t0
    assert.is_true(took >= 0.9 and took < 4, tostring(took))
  end)

  it("a server that keeps the connection open after Content-Length: the response ends at once", function()
    local c = client_at(PLAIN .. "/linger?bytes=5000", { timeout = 30 })
    local t0 = core.now()
    local v = assert(c.version:get_version())
    assert.equal(5000 - 11, #v.pad)
    assert.is_true(core.now() - t0 < 5)
  end)

  it("bytes after the body never answer the next request", function()
    local c = client_at(PLAIN .. "/excess")
    assert.is_true(assert(c.version:get_version()).real)
    local again = assert(c.transport:request{ url = PLAIN .. "/headers" })
    assert.equal("127.0.0.1:" .. HOSTILE_PORT, json.decode(again.body).host)
  end)

  it("1xx responses before the final one are skipped, their headers dropped", function()
    local c = client_at(PLAIN .. "/informational?n=1000")
    local res = assert(c.transport:request{ url = PLAIN .. "/informational?n=1000" })
    assert.equal(200, res.status)
    assert.is_nil(res.headers["x-early"])
    assert.equal(1000, assert(c.version:get_version()).after)
  end)

  it("caps any Retry-After: huge, far-future dates, non-finite, negative", function()
    local values = { "1000000000000", "1e999", "Fri, 31 Dec 9999 23:59:59 GMT", "-5", "nan", "0x7fffffff" }
    for _, ra in ipairs(values) do
      local waits = {}
      local c = client_at(TEST_SERVER .. "/status/429?retry_after=" .. escape(ra),
        { retries = 1, retry_max_wait = 7, sleep = function(s) waits[#waits + 1] = s end })
      local _, err = c.version:get_version()
      assert.equal(429, err.status)
      assert.equal(1, #waits, ra)
      assert.is_true(waits[1] >= 0 and waits[1] <= 7, ra .. " -> " .. tostring(waits[1]))
    end
  end)

  it("a 429 storm: exactly retries + 1 attempts, then the error", function()
    local key = tostring(math.random(1e9))
    local waits = {}
    local c = client_at(TEST_SERVER .. "/flaky?key=" .. key .. "&fail=1000&code=429&retry_after=1",
      { retries = 3, sleep = function(s) waits[#waits + 1] = s end })
    local _, err = c.version:get_version()
    assert.equal(429, err.status)
    assert.equal(4, json.decode(err.body).attempt)   -- the server counted four
    assert.same({ 1, 1, 1 }, waits)
  end)
end)
