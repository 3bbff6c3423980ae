-- airflow.core: the libcurl session bound to Lua, against the real test server.
local core = require("airflow.core")
local env = require("env")
local cjson = require("cjson")

local base = env.need("TEST_SERVER_URL")

local closed_port = env.closed_port

describe("airflow.core.session", function()
  it("rejects unknown options and wrong types with a clear error", function()
    assert.has_error(function() core.session{ timout = 1 } end,
      "airflow.core.session: unknown option 'timout'")
    assert.has_error(function() core.session{ timeout = "1" } end,
      "airflow.core.session: 'timeout' must be a number, got string")
    assert.has_error(function() core.session{ verify_tls = 1 } end,
      "airflow.core.session: 'verify_tls' must be a boolean, got number")
  end)

  it("never shows secrets in tostring", function()
    local s = core.session{ key_password = "hunter2" }
    s:set_auth("basic", "admin", "s3cret-pass")
    local text = tostring(s)
    assert.matches("airflow.core.session %(auth: basic%)", text)
    assert.is_nil(text:find("s3cret", 1, true))
    assert.is_nil(text:find("hunter2", 1, true))
    s:close()
  end)

  it("closes idempotently, and through __close", function()
    local s = core.session()
    s:close()
    s:close()
    assert.matches("closed", tostring(s))
    assert.has_error(function() s:request{ url = base } end, "airflow.core: session is closed")
    do
      local scoped <close> = core.session()
      assert.truthy(scoped:request{ url = base .. "/echo/close" })
    end
  end)
end)

describe("session:request", function()
  local s
  before_each(function() s = core.session{ timeout = 2 } end)
  after_each(function() s:close() end)

  it("returns status, lower-cased headers and body", function()
    local res = assert(s:request{ method = "POST", url = base .. "/echo/x",
      headers = { ["Content-Type"] = "application/json", "X-Line: 1" }, body = '{"a":1}' })
    assert.equal(200, res.status)
    assert.equal("application/json", res.headers["content-type"])
    local echo = cjson.decode(res.body)
    assert.equal("POST", echo.method)
    assert.equal('{"a":1}', echo.body)
    assert.equal("1", echo.headers["x-line"])
    assert.is_nil(echo.expect)
  end)

  it("reuses one connection for sequential requests", function()
    assert(s:request{ method = "POST", url = base .. "/_stats/reset" })
    local fresh = core.session()
    for _ = 1, 100 do assert.equal(200, fresh:request{ url = base .. "/echo/k" }.status) end
    local stats = cjson.decode(fresh:request{ url = base .. "/_stats" }.body)
    fresh:close()
    assert.equal(1, stats.connections)
  end)

  it("returns nil, err with a code for network failures, and stays usable", function()
    local res, err = s:request{ url = "http://127.0.0.1:" .. closed_port() .. "/" }
    assert.is_nil(res)
    assert.equal("connect", err.code)
    assert.is_string(err.message)

    res, err = s:request{ url = base .. "/delay/3000", timeout = 0.3 }
    assert.is_nil(res)
    assert.equal("timeout", err.code)

    res, err = s:request{ url = base .. "/reset-mid-body" }
    assert.is_nil(res)
    assert.equal("recv", err.code)

    assert.equal(200, s:request{ url = base .. "/echo/after" }.status)
  end)

  it("fails a DNS lookup with code resolve (or timeout where DNS is unreachable)", function()
    local _, err = s:request{ url = "http://no-such-host.invalid/", timeout = 3 }
    assert.truthy(err.code == "resolve" or err.code == "timeout", err.code)
  end)

  it("caps the body size", function()
    local capped = core.session{ max_body_bytes = 1000 }
    local res, err = capped:request{ url = base .. "/big?bytes=5000" }
    assert.is_nil(res)
    assert.equal("too_large", err.code)
    assert.equal(200, capped:request{ url = base .. "/big?bytes=500" }.status)
    capped:close()
  end)

  it("treats HTTP errors as responses, not failures", function()
    assert.equal(503, s:request{ url = base .. "/status/503" }.status)
    assert.equal(404, s:request{ url = base .. "/nope" }.status)
  end)

  it("refuses header injection and bad request tables", function()
    assert.has_error(function() s:request{ url = base, headers = { X = "a\r\nB: c" } } end,
      "airflow.core: request header contains a line break or NUL")
    assert.has_error(function() s:request{ url = base, bdy = "x" } end,
      "airflow.core: request: unknown option 'bdy'")
    assert.has_error(function() s:request{} end, "airflow.core: request: 'url' is required")
  end)

  it("verifies TLS by default, trusts a given CA, and does mTLS", function()
    local tls = env.need("TEST_TLS_URL")
    local _, err = s:request{ url = tls .. "/echo/tls" }
    assert.equal("tls", err.code)
    local trusting = core.session{ ca_file = env.need("TEST_TLS_CA") }
    assert.equal(200, trusting:request{ url = tls .. "/echo/tls" }.status)
    local mtls = env.need("TEST_MTLS_URL")
    local res
    res, err = trusting:request{ url = mtls .. "/echo/mtls" }
    assert.is_nil(res, "a server requiring a client certificate accepted none")
    assert.truthy(err.code == "tls" or err.code == "recv" or err.code == "send", err.code)
    local client = core.session{ ca_file = env.need("TEST_TLS_CA"), cert_file = env.need("TEST_TLS_CERT"),
      key_file = env.need("TEST_TLS_KEY") }
    assert.equal(200, client:request{ url = mtls .. "/echo/mtls" }.status)
    trusting:close()
    client:close()
  end)
end)

describe("session:request_many", function()
  it("runs requests concurrently and returns them in input order", function()
    local s = core.session()
    local reqs = {}
    for i = 1, 32 do reqs[i] = { url = base .. "/delay/100?i=" .. i } end
    local t0 = core.now()
    local res, errs = s:request_many(reqs, 8)
    local elapsed = core.now() - t0
    for i = 1, 32 do
      assert.is_nil(errs[i])
      assert.equal(200, res[i].status)
    end
    -- 32 x 100 ms one at a time is 3.2 s; 8 at once is about 0.4 s
    assert.is_true(elapsed < 1.0, ("took %.2f s"):format(elapsed))

    local order = {}
    for i = 1, 5 do order[i] = { url = base .. "/delay/" .. (6 - i) * 40 } end
    res = s:request_many(order, 5)
    for i = 1, 5 do
      assert.equal((6 - i) * 40, cjson.decode(res[i].body).delayed_ms)
    end
    s:close()
  end)

  it("reports each failure in its own slot", function()
    local s = core.session()
    local res, errs = s:request_many({
      { url = base .. "/echo/1" },
      { url = "http://127.0.0.1:" .. closed_port() .. "/" },
      { url = base .. "/echo/3" },
    }, 3)
    assert.equal(200, res[1].status)
    assert.is_false(res[2])
    assert.equal("connect", errs[2].code)
    assert.equal(200, res[3].status)
    s:close()
  end)
end)

describe("session:request_each", function()
  it("hands over each response as it finishes, while the others are in flight", function()
    local s = core.session()
    -- request i is delayed (6 - i) * 60 ms: they finish in reverse order
    local reqs = {}
    for i = 1, 5 do reqs[i] = { url = base .. "/delay/" .. (6 - i) * 60 } end
    local seen, t0 = {}, core.now()
    local first_at
    for i, res, err in s:request_each(reqs, 5) do
      assert.is_nil(err)
      assert.equal((6 - i) * 60, cjson.decode(res.body).delayed_ms)
      seen[#seen + 1] = i
      first_at = first_at or core.now() - t0
    end
    assert.same({ 5, 4, 3, 2, 1 }, seen)
    -- the first (60 ms) came long before the last (300 ms) had finished
    assert.is_true(first_at < 0.25, ("first response after %.2f s"):format(first_at))
    s:close()
  end)

  it("runs 32 requests 8 at a time, each index once, failures in their own step", function()
    local s = core.session()
    local reqs = {}
    for i = 1, 32 do reqs[i] = { url = base .. "/delay/100?i=" .. i } end
    reqs[7] = { url = "http://127.0.0.1:" .. closed_port() .. "/" }
    local count, t0 = {}, core.now()
    for i, res, err in s:request_each(reqs, 8) do
      count[i] = (count[i] or 0) + 1
      if i == 7 then
        assert.is_false(res)
        assert.equal("connect", err.code)
      else
        assert.equal(200, res.status)
      end
    end
    local elapsed = core.now() - t0
    for i = 1, 32 do assert.equal(1, count[i]) end
    assert.is_true(elapsed < 1.0, ("took %.2f s"):format(elapsed))
    s:close()
  end)

  it("keeps the request's strings even when the caller changes its tables", function()
    local s = core.session()
    local reqs = { { url = base .. "/delay/50?keep=" .. ("x"):rep(100), headers = { ["X-Keep"] = ("y"):rep(64) } } }
    local step, batch = s:request_each(reqs, 1)
    reqs[1].url, reqs[1].headers = nil, nil
    reqs[1] = nil
    collectgarbage()
    collectgarbage()
    local i, res = step(batch)
    assert.equal(1, i)
    local echo = cjson.decode(res.body)
    assert.equal(50, echo.delayed_ms)
    assert.is_nil(step(batch))
    s:close()
  end)

  it("abandons the rest on close, allows one batch at a time, and the session stays usable", function()
    local s = core.session()
    local reqs = {}
    for i = 1, 8 do reqs[i] = { url = base .. "/delay/100?i=" .. i } end
    local step, batch = s:request_each(reqs, 2)
    assert.has_error(function() s:request_each(reqs, 2) end,
      "airflow.core: request_each: the session is already running a batch (finish or close it first)")
    local i = step(batch)
    assert.is_number(i)
    batch:close()
    assert.is_nil(step(batch))
    batch:close() -- twice is fine
    local n = 0
    for _, res in s:request_each({ { url = base .. "/echo/again" } }, 1) do
      assert.equal(200, res.status)
      n = n + 1
    end
    assert.equal(1, n)
    -- closing the session ends a running batch too
    step, batch = s:request_each(reqs, 2)
    s:close()
    assert.is_nil(step(batch))
  end)
end)

describe("session:stream", function()
  it("hands chunks over as they arrive", function()
    local s = core.session()
    local st = assert(s:stream{ url = base .. "/slow-body?chunks=5&ms=50" })
    local chunks, total = 0, 0
    while true do
      local chunk, err = st:next()
      assert.is_nil(err)
      if not chunk then break end
      chunks, total = chunks + 1, total + #chunk
    end
    assert.equal(50, total)
    assert.is_true(chunks >= 3)
    assert.equal(200, st:response().status)
    st:close()
    s:close()
  end)
end)

describe("airflow.core registry", function()
  it("lists every operation of both APIs", function()
    assert.equal(130, #core.operations("v2")) -- 128 operations, two under two resources
    assert.equal(90, #core.operations("v1"))
    assert.has_error(function() core.operations("v3") end,
      "airflow.core: unknown API version 'v3' (expected \"v1\" or \"v2\")")
  end)

  it("formats date-times as RFC 3339 UTC", function()
    assert.equal("2024-01-01T00:00:00Z", core.format_datetime(1704067200))
    assert.equal("2024-01-01T00:00:00.500000Z", core.format_datetime(1704067200.5))
  end)
end)

describe("airflow.core.integers", function()
  it("turns the integral floats of a decoded value into integers, in place, at any depth", function()
    local v = cjson.decode('{"total_entries": 3, "dag_runs": [{"id": 7, "pct": 2.5, "big": 1e300,'
      .. ' "conf": {"n": [1, 2.0, -0.0]}}], "huge": 1e20}')
    assert.equal(v, core.integers(v))
    assert.equal("integer", math.type(v.total_entries))
    assert.equal("integer", math.type(v.dag_runs[1].id))
    assert.equal("integer", math.type(v.dag_runs[1].conf.n[2]))
    assert.equal(2.5, v.dag_runs[1].pct)
    assert.equal("float", math.type(v.dag_runs[1].big))   -- beyond the integer range: left alone
    assert.equal("float", math.type(v.huge))
    assert.equal("integer", math.type(core.integers(5.0)))
    assert.equal("x", core.integers("x"))
    assert.equal(cjson.null, core.integers(cjson.null))
  end)

  it("survives nesting deeper than it converts, and NaN", function()
    local deep = {}
    local t = deep
    for _ = 1, 5000 do t[1], t[2] = {}, 1.0; t = t[1] end
    assert.equal(deep, core.integers(deep))
    assert.equal("integer", math.type(deep[2]))   -- converted near the top
    local below = deep
    for _ = 1, 2000 do below = below[1] end
    assert.equal("float", math.type(below[2]))    -- past the depth limit: left as is
    local nan = core.integers(0 / 0)
    assert.is_true(nan ~= nan)
  end)
end)
