-- The HTTP/1.1 framing airflow.core gives the OpenResty cosocket transport:
-- core.http_request (request bytes) and core.http_parser (incremental response
-- parser). Pure computation: no server needed; the real exchanges are tested in
-- nginx by spec/openresty/openresty_spec.lua.
local core = require("airflow.core")

-- Feeds text to a parser in pieces of `step` bytes; returns body pieces, done, err.
local function feed(parser, text, step)
  local pieces, done = {}, false
  for i = 1, #text, step do
    local chunk, d = parser:feed(text:sub(i, i + step - 1))
    if not chunk then return pieces, false, d end
    pieces[#pieces + 1] = chunk
    done = d
    if done then break end
  end
  return pieces, done
end

describe("core.http_request", function()
  it("writes the request line, Host, our headers, the request's, Content-Length and the body", function()
    local bytes, host, port, tls = core.http_request({ method = "PATCH",
      url = "https://airflow.example:8443/api/v2/dags/a%2Fb?update_mask=x#frag",
      headers = { "Content-Type: application/json", "Content-Length: 999", "Host: evil" }, body = "{}" },
      { "User-Agent: t", "Authorization: Bearer tok" })
    assert.equal("PATCH /api/v2/dags/a%2Fb?update_mask=x HTTP/1.1\r\nHost: airflow.example:8443\r\n"
      .. "User-Agent: t\r\nAuthorization: Bearer tok\r\nContent-Type: application/json\r\n"
      .. "Content-Length: 2\r\nConnection: keep-alive\r\n\r\n{}", bytes)
    assert.same({ "airflow.example", 8443, true }, { host, port, tls })
  end)

  it("raises, before any I/O, on a line break in a header and on an unusable URL", function()
    assert.has_error(function()
      core.http_request({ url = "http://h/", headers = { ["X-A"] = "1\r\nX-Evil: 1" } })
    end)
    assert.has_error(function() core.http_request({ url = "http://h/" }, { "X: 1\nY: 2" }) end)
    for _, url in ipairs{ "ftp://h/", "http://user:pw@h/", "http://h:0/", "http:///x" } do
      assert.has_error(function() core.http_request({ url = url }) end, nil, url)
    end
  end)

  it("gives each request exactly its own bytes, after a large one and after a refused one", function()
    local big = ("x"):rep(300 * 1024)
    local bytes = core.http_request({ method = "POST", url = "http://h/big", body = big })
    assert.equal("POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: 307200\r\nConnection: keep-alive\r\n\r\n"
      .. big, bytes)
    assert.has_error(function() core.http_request({ url = "http://h/", headers = { ["X-A"] = "1\nX: 2" } }) end)
    for _ = 1, 2 do
      assert.equal("GET /s HTTP/1.1\r\nHost: h:81\r\nConnection: keep-alive\r\n\r\n",
        (core.http_request({ url = "http://h:81/s" })))
    end
  end)
end)

describe("core.http_parser", function()
  local chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n"
    .. "4\r\n{\"a\"\r\n3\r\n: 1\r\n1\r\n}\r\n0\r\n\r\n"

  it("gives the same response whatever the pieces the socket hands over", function()
    for _, step in ipairs{ 1, 2, 5, #chunked } do
      local p = core.http_parser()
      local _, done, err = feed(p, chunked, step)
      assert.is_nil(err)
      assert.is_true(done)
      local res = p:response()
      assert.equal(200, res.status)
      assert.equal('{"a": 1}', res.body)
      assert.equal("application/json", res.headers["content-type"])
      assert.is_true(p:keepalive())
    end
  end)

  it("hands the body out piece by piece in stream mode, and can be reused after reset", function()
    local p = core.http_parser{ stream = true }
    local pieces, done = feed(p, chunked, 16)
    assert.is_true(done)
    assert.equal('{"a": 1}', table.concat(pieces))
    assert.is_nil(p:response().body)
    p:reset{ max_body = 4 }
    local _, d2, err = feed(p, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 100)
    assert.is_false(d2)
    assert.equal("too_large", err.code)
  end)

  it("types its failures: truncated (eof), malformed, too large", function()
    local p = core.http_parser()
    feed(p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", 100)
    local ok, err = p:eof()
    assert.is_nil(ok)
    assert.equal("recv", err.code)
    p = core.http_parser{ max_head = 100 }
    local _, _, e2 = feed(p, "HTTP/1.1 200 OK\r\nX-Huge: " .. ("h"):rep(200) .. "\r\n\r\n", 7)
    assert.equal("too_large", e2.code)
    p = core.http_parser()
    local _, _, e3 = feed(p, "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", 3)
    assert.equal("protocol", e3.code)
    assert.has_error(function() core.http_parser{ max_body = -1 } end)
    assert.has_error(function() core.http_parser{ bogus = 1 } end)
  end)
end)
