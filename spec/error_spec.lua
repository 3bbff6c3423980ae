-- airflow.error: errors from responses and transports, redaction and escaping.
local Error = require("airflow.error")
local json = require("airflow.json")

local function res(status, body, ctype)
  return { status = status, body = body, headers = { ["content-type"] = ctype or "application/json" } }
end

describe("Error.from_response", function()
  it("reads a v2 validation list into one detail line", function()
    local e = Error.from_response(res(422, json.encode{ detail = {
      { loc = { "body", "logical_date" }, msg = "Field required" },
      { loc = { "query", "limit" }, msg = "Input should be a valid integer" } } }), "POST", "http://h/x")
    assert.equal("Unprocessable", e.kind)
    assert.equal("body.logical_date: Field required; query.limit: Input should be a valid integer", e.detail)
  end)

  it("reads a v1 problem document", function()
    local e = Error.from_response(res(404, json.encode{ title = "DAG not found", detail = "no x", status = 404,
      type = "about:blank" }, "application/problem+json"), "GET", "http://h/x")
    assert.equal("NotFound", e.kind)
    assert.equal("DAG not found", e.title)
    assert.equal("no x", e.detail)
  end)

  it("redacts secret-looking fields from the body it keeps", function()
    local e = Error.from_response(res(422, json.encode{ detail = "bad", input = { password = "hunter2",
      extra = "{\"k\": 1}", login = "me" } }), "POST", "http://h/x")
    assert.is_nil(e.body:find("hunter2", 1, true))
    local kept = json.decode(e.body)
    assert.equal("***", kept.input.password)
    assert.equal("***", kept.input.extra)
    assert.equal("me", kept.input.login)
  end)

  it("keeps no body at all for a sensitive request", function()
    assert.is_nil(Error.from_response(res(401, '{"detail": "x"}'), "POST", "u", true).body)
  end)

  it("takes an HTML page's title as the detail", function()
    local e = Error.from_response(res(502, "<html><title>Bad Gateway</title><body>x</body></html>", "text/html"),
      "GET", "u")
    assert.equal("Bad Gateway", e.detail)
    assert.equal("Unknown", e.kind)
  end)
end)

describe("tostring(err)", function()
  it("is one line, with text from outside escaped", function()
    local e = Error.from_response(res(400, json.encode{ detail = "line1\r\nX-Forged: 1\27[31m" }), "GET",
      "http://h/a\nb")
    local line = tostring(e)
    assert.is_nil(line:find("[\r\n\27]"))
    assert.equal("GET http://h/a\\nb: 400 BadRequest: line1\\r\\nX-Forged: 1\\x1b[31m", line)
  end)
end)

describe("Error.from_transport", function()
  it("names the code, with kind Timeout for a timeout", function()
    local e = Error.from_transport({ code = "timeout", message = "took too long" }, "GET", "u")
    assert.equal("Timeout", e.kind)
    local c = Error.from_transport({ code = "connect", message = "refused" }, "GET", "u")
    assert.equal("Transport", c.kind)
    assert.equal("connect", c.code)
    assert.is_true(Error.is(c))
  end)
end)

describe("Error.redact_text", function()
  it("masks secrets even in JSON it cannot write back (a number out of range)", function()
    local kept = Error.redact_text('{"password": "hunter2", "n": 1e999}')
    assert.is_nil(kept:find("hunter2", 1, true))
    assert.matches('"password": "***"', kept, 1, true)
  end)
end)
