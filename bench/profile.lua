--- Per-call cost of the Lua layer for the small GET of `make bench`, split into its
-- parts: CPU time per call, no I/O (the transport returns a canned response).
-- Run from the checkout: LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="lua/?.so;;" lua5.4 bench/profile.lua
local airflow = require("airflow")
local core = require("airflow.core")
local json = require("airflow.json")
local registry = require("airflow.registry")
local request = require("airflow.request")
local body = '{"version":"3.2.1","git_version":null}'
local res = { status = 200, headers = { ["content-type"] = "application/json" }, body = body }
local t = { request = function() return res end, set_auth = function() end }
local c = airflow.new{ base_url = "http://127.0.0.1:8080", token = "t", transport = t }
local op = registry.find("v2", "version.get_version")
local N = 300000
local function rate(name, fn)
  for _ = 1, 1000 do fn() end
  local best = math.huge
  for _ = 1, 3 do
    local t0 = os.clock()
    for _ = 1, N do fn() end
    best = math.min(best, (os.clock() - t0) / N)
  end
  print(("%-48s %6.2f us"):format(name, best * 1e6))
end
rate("whole call: c.version:get_version()", function() c.version:get_version() end)
rate("  core.build (URL, headers map)", function() core.build("v2", op.index, c.base_url, {}, false) end)
rate("  request.prepare (build + Accept + req table)", function() request.prepare(c, op, {}, nil, 1) end)
local req = request.prepare(c, op, {}, nil, 1)
rate("  request.one (credentials, hooks, policy)", function() request.one(c, req) end)
rate("  request.decode (media type, json.decode)", function()
  request.decode(c, res, "GET", req.url, op.response_media)
end)
rate("    json.decode alone", function() json.decode(body) end)
