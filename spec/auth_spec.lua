-- airflow.auth: credentials from every source, checked before they reach a header,
-- fetched from the fake Airflow's /auth/token and renewed.
local airflow = require("airflow")
local Auth = require("airflow.auth")
local env = require("env")

local url = env.need("FAKE_AIRFLOW_URL")

-- base64url without padding, as in a JWT
local function b64url(s)
  local B = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    for k = 0, 1 + (b and 1 or 0) + (c and 1 or 0) do
      local idx = (n >> (18 - 6 * k)) & 63
      out[#out + 1] = B:sub(idx + 1, idx + 1)
    end
  end
  return table.concat(out)
end

before_each(function() env.fake_control("/_fake/reset") end)

describe("Auth.jwt_expiry", function()
  it("reads exp from a JWT's claims, and nothing from other tokens", function()
    local jwt = b64url('{"alg":"HS256"}') .. "." .. b64url('{"sub":"a","exp":1700000000}') .. ".sig"
    assert.equal(1700000000, Auth.jwt_expiry(jwt))
    assert.is_nil(Auth.jwt_expiry("opaque-token"))
    assert.is_nil(Auth.jwt_expiry("a.b%%.c"))
    assert.is_nil(Auth.jwt_expiry(42))
  end)

  it("takes no absurd expiry from a server: not finite, negative or beyond 2^40", function()
    for _, exp in ipairs{ "1e999", "-1e999", "-5", "1e300", '"soon"' } do
      local jwt = b64url('{"alg":"HS256"}') .. "." .. b64url('{"exp":' .. exp .. '}') .. ".sig"
      assert.is_nil(Auth.jwt_expiry(jwt), exp)
    end
    assert.is_nil(Auth.expiry(0 / 0))
    assert.equal(1700000000, Auth.expiry("1700000000"))
  end)
end)

describe("Auth.token_problem", function()
  it("accepts visible ASCII and names the position of anything else, never the bytes", function()
    assert.is_nil(Auth.token_problem("abc.DEF-123_~"))
    assert.equal("the token is empty", Auth.token_problem(""))
    local why = Auth.token_problem("ab\r\nX-Evil: 1")
    assert.equal("the token has a byte outside visible ASCII at position 3", why)
    assert.is_nil(why:find("Evil", 1, true))
  end)
end)

describe("credentials", function()
  it("a v2 login fetches one token and sends it as a bearer", function()
    local c = assert(airflow.new{ base_url = url, username = "admin", password = "admin" })
    assert(c.dag:get_dags{ limit = 1 })
    assert(c.dag:get_dags{ limit = 1 })
    local seen = env.fake_get("/_fake/requests")
    assert.equal("/auth/token", seen[1].path)
    assert.equal("Bearer", seen[2].headers.authorization)
    assert.equal(1, env.fake_get("/_fake/stats").token_requests)
  end)

  it("a wrong password is a login failure, with no secret in the error", function()
    local c = assert(airflow.new{ base_url = url, username = "admin", password = "wrong-secret" })
    local _, err = c.dag:get_dags{ limit = 1 }
    assert.equal("Unauthenticated", err.kind)
    assert.equal("login failed", err.title)
    assert.is_nil(tostring(err):find("wrong-secret", 1, true))
    assert.is_nil(err.body)
  end)

  it("a provider's unusable token fails the call and nothing is sent", function()
    local c = assert(airflow.new{ base_url = url, token_provider = function() return "bad\ntoken" end })
    local _, err = c.dag:get_dags{ limit = 1 }
    assert.equal("token_provider failed", err.title)
    assert.equal(0, env.fake_get("/_fake/stats").requests)
  end)

  it("a provider is asked again after a 401, once", function()
    local calls = 0
    local login = assert(airflow.new{ base_url = url, username = "admin", password = "admin" })
    local c = assert(airflow.new{ base_url = url, token_provider = function()
      calls = calls + 1
      return login.auth:fetch_token(login)
    end })
    assert(c.dag:get_dags{ limit = 1 })
    env.fake_control("/_fake/config", '{"revoke_tokens": true}')
    assert(c.dag:get_dags{ limit = 1 })
    assert.equal(2, calls)
  end)

  it("a static token that cannot be sent raises at airflow.new", function()
    assert.has_error(function() airflow.new{ base_url = url, token = "a b" } end,
      "airflow: option 'token': the token has a byte outside visible ASCII at position 2")
  end)
end)
