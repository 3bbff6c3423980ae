-- Each directory is checked against the Lua it runs on, so that a global or a
-- library field another Lua lacks is caught here, not in production.
max_line_length = 120
exclude_files = { "build", "node_modules", ".tools" }

-- The library runs on Lua 5.4 and on LuaJIT (inside OpenResty): only what both offer
-- ("min" is their common part); a 5.4-only field is read behind a check (json.lua).
files["lua/airflow"] = { std = "min" }
-- The OpenResty transport and the code that runs inside nginx
files["lua/airflow/transport/ngx.lua"] = { std = "min+ngx_lua" }
files["examples/openresty"] = { std = "luajit+ngx_lua" }
files["spec/openresty/calls.lua"] = { std = "luajit" }
files["spec/openresty/suite.lua"] = { std = "luajit+ngx_lua" }
-- The command line, the tools, the examples and the specs run on Lua 5.4
files["lua/airflow/cli"] = { std = "lua54" }
files["lua/airflow/cli.lua"] = { std = "lua54" }
files["bin"] = { std = "lua54" }
files["tools"] = { std = "lua54" }
files["bench"] = { std = "lua54" }
files["fuzz"] = { std = "lua54" }
files["examples"] = { std = "lua54" }
files["spec"] = { std = "lua54+busted" }
files["spec/openresty/openresty_spec.lua"] = { std = "lua54+busted" }
-- the benchmark report writes long Markdown and gnuplot lines as they are
files["bench/report.lua"] = { std = "lua54", max_line_length = 240 }
