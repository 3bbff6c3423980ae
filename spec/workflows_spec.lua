-- The library as users use it, against the stateful fake Airflow: tokens, pagination,
-- waiting, logs, api = "auto".
local airflow = require("airflow")
local core = require("airflow.core")
local env = require("env")

local url = env.need("FAKE_AIRFLOW_URL")

local function client(opts)
  opts = opts or {}
  opts.base_url = opts.base_url or url
  if opts.username == nil and opts.token == nil then
    opts.username, opts.password = "admin", "admin"
  end
  return assert(airflow.new(opts))
end

local function token_requests()
  return env.fake_get("/_fake/stats").token_requests
end

before_each(function() env.fake_control("/_fake/reset") end)

describe("v2 token flow", function()
  it("logs in once and reuses the token", function()
    local c = client()
    local before = token_requests()
    for _ = 1, 5 do assert(c.dag:get_dags{ limit = 1 }) end
    assert.equal(before + 1, token_requests())
  end)

  it("renews a token that has expired, without the caller noticing", function()
    env.fake_control("/_fake/config", '{"token_ttl": 1}')
    local before = token_requests()
    local now = os.time()
    local c = client{ clock = function() return now end }
    assert(c.dag:get_dags{ limit = 1 })
    now = now + 3600 -- past the JWT's exp: renewed before the request is sent
    assert(c.dag:get_dags{ limit = 1 })
    assert.equal(2, token_requests() - before)
  end)

  it("renews once and replays when the server answers 401", function()
    local before = token_requests()
    local c = client()
    assert(c.dag:get_dags{ limit = 1 })
    env.fake_control("/_fake/config", '{"revoke_tokens": true}')
    local dags = assert(c.dag:get_dags{ limit = 1 })
    assert.is_table(dags.dags)
    assert.equal(2, token_requests() - before)
  end)

  it("treats a 403 after the token's exp like a 401", function()
    env.fake_control("/_fake/config", '{"token_ttl": 1, "expired_status": 403}')
    local c = client()
    assert(c.dag:get_dags{ limit = 1 })
    local deadline = core.now() + 5
    -- wait (on a condition) until the server considers the token expired
    while c.auth.expires_at and os.time() < c.auth.expires_at + 1 and core.now() < deadline do core.sleep(0.1) end
    c.auth.clock = os.time
    c.auth.expires_at = os.time() + 3600 -- our clock thinks it is valid; the server says 403
    local _, err = c.variable:get_variables()
    assert.equal(403, err and err.status) -- not expired by our clock: a real 403
    c.auth.expires_at = os.time() - 1     -- expired by our clock: the 403 means "renew"
    assert(c.variable:get_variables())
  end)

  it("reports bad credentials clearly and never shows the password", function()
    local c = client{ username = "admin", password = "wrong-pass-123" }
    local _, err = c.dag:get_dags()
    assert.equal("Unauthenticated", err.kind)
    assert.equal(401, err.status)
    assert.is_nil(tostring(err):find("wrong-pass-123", 1, true))
    assert.is_nil((err.body or ""):find("wrong-pass-123", 1, true))
    assert.is_nil(tostring(c):find("wrong-pass-123", 1, true))
  end)

  it("uses a token_provider, and a static token", function()
    local issued = client()
    assert(issued.dag:get_dags{ limit = 1 })
    local token = issued.auth.secret.cached
    local calls = 0
    local c = client{ token_provider = function() calls = calls + 1; return token end }
    assert(c.dag:get_dags{ limit = 1 })
    assert(c.dag:get_dags{ limit = 1 })
    assert.equal(1, calls)
    assert(client{ token = token }.dag:get_dags{ limit = 1 })
  end)

  it("answers read-only users with PermissionDenied", function()
    local c = client{ username = "viewer", password = "viewer" }
    local _, err = c.variable:post_variable{ body = { key = "x", value = "y" } }
    assert.equal("PermissionDenied", err.kind)
  end)
end)

describe("hooks", function()
  it("see the token request, concurrent pages and log streams, never a secret", function()
    env.fake_control("/_fake/seed", '{"variables": 300}')
    local seen = {}
    local c = client{ password = "admin", on_response = function(i) seen[#seen + 1] = i end }
    assert(c:collect("variable.get_variables", {}, { concurrency = 4 }))
    local run = assert(c.dag_run:trigger_dag_run{ dag_id = "example_etl" })
    assert(c:wait_dag_run("example_etl", run.dag_run_id, { interval = 0.05, timeout = 30 }))
    assert(c:follow_log({ dag_id = "example_etl", dag_run_id = run.dag_run_id, task_id = "extract", try_number = 1 },
      function() end))
    local token, pages, logs = 0, 0, 0
    for _, i in ipairs(seen) do
      if i.url:find("/auth/token", 1, true) then token = token + 1 end
      if i.url:find("/variables", 1, true) then pages = pages + 1 end
      if i.url:find("/logs/", 1, true) then logs = logs + 1 end
    end
    local secret = c.auth.secret.cached
    for _, i in ipairs(seen) do
      for _, v in pairs(i) do assert.is_nil(tostring(v):find(secret, 1, true)) end
    end
    assert.equal(1, token)
    assert.equal(3, pages) -- 300 variables, 100 a page (the limit collect asks for)
    assert.equal(1, logs)
  end)
end)

describe("v1", function()
  it("uses basic auth and reads problem documents", function()
    local c = client{ api = "v1" }
    assert.equal("2.10.0", c.monitoring:get_version().version)
    local _, err = c.dag:get_dag("no_such_dag")
    assert.equal("NotFound", err.kind)
    assert.equal(404, err.status)
  end)

  it("follows a task's log to its end", function()
    local c = client{ api = "v1" }
    local run = assert(c.dag_run:post_dag_run{ dag_id = "example_etl", body = {} })
    assert(c:wait_dag_run("example_etl", run.dag_run_id, { interval = 0.05, timeout = 30 }))
    local lines = {}
    assert(c:follow_log({ dag_id = "example_etl", dag_run_id = run.dag_run_id, task_id = "extract",
      task_try_number = 1 }, function(l) lines[#lines + 1] = l end))
    assert.is_true(#lines > 50)
    assert.matches("Marking task as SUCCESS", lines[#lines], 1, true)
  end)

  it("finds the API version by itself with api = auto", function()
    local c = client{ api = "auto" }
    assert.equal("v2", c:api_version())
    assert.is_table(c.dag:get_dags{ limit = 1 })
  end)
end)

describe("pagination", function()
  it("collects 1000 items in order, each once, past the server's page cap", function()
    env.fake_control("/_fake/seed", '{"variables": 1000}')
    local c = client()
    local items, total = assert(c:collect("variable.get_variables", { limit = 1000 }, { concurrency = 8 }))
    assert.equal(total, #items)
    assert.is_true(#items >= 1000)
    local seen = {}
    for i = 2, #items do
      assert.is_true(items[i - 1].key < items[i].key, "out of order at " .. i)
    end
    for _, v in ipairs(items) do
      assert.is_nil(seen[v.key], "duplicate " .. v.key)
      seen[v.key] = true
    end
  end)

  it("each and pages walk every item one page at a time", function()
    env.fake_control("/_fake/seed", '{"variables": 250}')
    local c = client()
    local n, pages = 0, 0
    for v, err in c:each("variable.get_variables", {}) do
      assert.is_nil(err)
      assert.is_string(v.key)
      n = n + 1
    end
    for page in c:pages("variable.get_variables", { limit = 100 }) do
      pages = pages + 1
      assert.is_true(#page.variables <= 100)
    end
    local total = c.variable:get_variables{ limit = 1 }.total_entries
    assert.equal(total, n)
    assert.equal(math.ceil(total / 100), pages)
  end)

  it("fetches pages concurrently: the server sees 8 at once with concurrency 8, 1 with 1", function()
    env.fake_control("/_fake/seed", '{"variables": 1000}')
    env.fake_control("/_fake/config", '{"max_page_size": 50, "delay": {"path_prefix": "/api/v2/variables", "ms": 20}}')
    local c = client()
    assert(c.variable:get_variables{ limit = 1 }) -- log in first
    local seq = assert(c:collect("variable.get_variables", {}, { concurrency = 1 }))
    assert.equal(1, env.fake_get("/_fake/stats").max_in_flight)
    local par = assert(c:collect("variable.get_variables", {}, { concurrency = 8 }))
    assert.same(seq, par)
    assert.equal(8, env.fake_get("/_fake/stats").max_in_flight)
  end)

  it("respects max", function()
    env.fake_control("/_fake/seed", '{"variables": 300}')
    local items = assert(client():collect("variable.get_variables", {}, { max = 120 }))
    assert.equal(120, #items)
  end)
end)

describe("waiting and logs", function()
  it("streams every log line when a piece holds several lines and part of the next", function()
    local c = assert(airflow.new{ base_url = env.need("TEST_SERVER_URL"), token = "t", airflow_version = false })
    local events = {}
    local n = assert(c:follow_log({ dag_id = "d", dag_run_id = "r", task_id = "t", try_number = 1 },
      function(l) events[#events + 1] = l.event end))
    assert.equal(5, n)
    assert.same({ "a", "bb", "cc", "d", "e" }, events)
  end)

  it("waits for a run to reach a terminal state", function()
    local c = client()
    local run = assert(c.dag_run:trigger_dag_run{ dag_id = "example_etl" })
    assert.equal("queued", run.state)
    local final = assert(c:wait_dag_run("example_etl", run.dag_run_id, { interval = 0.05, timeout = 30 }))
    assert.equal("success", final.state)
  end)

  it("times out with a Timeout error", function()
    env.fake_control("/_fake/config", '{"run_ms": 60000}')
    local c = client()
    local run = assert(c.dag_run:trigger_dag_run{ dag_id = "example_etl" })
    local _, err = c:wait_dag_run("example_etl", run.dag_run_id, { interval = 0.05, timeout = 0.3 })
    assert.equal("Timeout", err.kind)
  end)

  it("follows a log to its end, streamed or page by page, with the same lines", function()
    local c = client()
    local run = assert(c.dag_run:trigger_dag_run{ dag_id = "example_etl" })
    assert(c:wait_dag_run("example_etl", run.dag_run_id, { interval = 0.05, timeout = 30 }))
    local args = { dag_id = "example_etl", dag_run_id = run.dag_run_id, task_id = "extract", try_number = 1 }
    local streamed, paged = {}, {}
    assert(c:follow_log(args, function(l) streamed[#streamed + 1] = l.event end))
    assert(c:follow_log(args, function(l) paged[#paged + 1] = l.event end, { stream = false }))
    assert.is_true(#streamed > 50, "expected a log longer than one page, got " .. #streamed)
    assert.same(streamed, paged)
  end)
end)
