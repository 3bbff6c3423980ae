-- The client option `token_store`: clients sharing a store share one v2 token, and
-- only the holder of the store's lock fetches it (inside nginx the store is the
-- lua_shared_dict one, airflow.ngx_token_store, tested in spec/openresty/).
local airflow = require("airflow")
local env = require("env")

local fake = env.need("FAKE_AIRFLOW_URL")

-- A store in a Lua table, counting what the clients asked of it.
local function memory_store()
  local s = { calls = { get = 0, set = 0, lock = 0, unlock = 0, forget = 0 } }
  function s:get() self.calls.get = self.calls.get + 1; return self.token, self.exp end
  function s:set(token, exp) self.calls.set = self.calls.set + 1; self.token, self.exp = token, exp end
  function s:lock() self.calls.lock = self.calls.lock + 1; return true end
  function s:unlock() self.calls.unlock = self.calls.unlock + 1 end
  function s:forget(token)
    self.calls.forget = self.calls.forget + 1
    if self.token == token then self.token, self.exp = nil, nil end
  end
  return s
end

describe("option token_store", function()
  before_each(function() env.fake_control("/_fake/reset") end)

  it("lets five clients share one /auth/token", function()
    local store = memory_store()
    for _ = 1, 5 do
      local c = assert(airflow.new{ base_url = fake, username = "admin", password = "admin", token_store = store })
      assert.is_table(assert(c.dag:get_dags{ limit = 1 }))
    end
    assert.equal(1, env.fake_get("/_fake/stats").token_requests)
    assert.equal(1, store.calls.set)
    assert.equal(1, store.calls.lock)
    assert.equal(1, store.calls.unlock)
    assert.is_string(store.exp and store.token)
  end)

  it("drops a refused token from the store, and one client fetches the next", function()
    local store = memory_store()
    local a = assert(airflow.new{ base_url = fake, username = "admin", password = "admin", token_store = store })
    assert(a.dag:get_dags{ limit = 1 })
    local first = store.token
    env.fake_control("/_fake/config", '{"revoke_tokens": true}')
    assert(a.dag:get_dags{ limit = 1 }) -- 401, renewed through the store, replayed
    assert.equal(1, store.calls.forget)
    assert.is_string(store.token)
    assert.not_equal(first, store.token)
    local b = assert(airflow.new{ base_url = fake, username = "admin", password = "admin", token_store = store })
    assert(b.dag:get_dags{ limit = 1 })
    assert.equal(2, env.fake_get("/_fake/stats").token_requests)
  end)

  it("reports a lock that cannot be taken as an error, without a request", function()
    local store = memory_store()
    function store.lock() return nil, "busy" end
    local c = assert(airflow.new{ base_url = fake, username = "admin", password = "admin", token_store = store,
      retries = 0 })
    local res, err = c.dag:get_dags{ limit = 1 }
    assert.is_nil(res)
    assert.equal("Unauthenticated", err.kind)
    assert.matches("busy", tostring(err), 1, true)
    assert.equal(0, env.fake_get("/_fake/stats").token_requests)
  end)

  it("names a missing lua_shared_dict clearly (outside nginx there is none)", function()
    assert.has_error(function()
      airflow.new{ base_url = fake, username = "admin", password = "admin", shared_dict = "airflow" }
    end, "airflow: option 'shared_dict': no lua_shared_dict named 'airflow' in nginx.conf "
      .. "(declare e.g. `lua_shared_dict airflow 1m;` in the http block)")
  end)
end)
