--- bench/report.lua RAW_TSV OUT_DIR: turns bench/run's raw measurements into the
-- table (stdout), OUT_DIR/results.tsv, OUT_DIR/RESULTS.md and the gnuplot script and
-- data of OUT_DIR/bench.png. Machine facts come from BENCH_* environment variables.
local raw_path, out = ...
assert(raw_path and out, "usage: report.lua RAW_TSV OUT_DIR")
local env = function(k, d) return os.getenv("BENCH_" .. k) or d end

-- ------------------------------------------------------------------ reading
local samples = {} -- samples[scenario][contender] = { {n=, secs=, ...}, ... }
for line in io.lines(raw_path) do
  local sc, who, kv = line:match("^([^\t]+)\t([^\t]+)\t(.*)$")
  if sc then
    local t = {}
    for k, v in kv:gmatch("([%w_]+)=(%S+)") do t[k] = tonumber(v) or v end
    samples[sc] = samples[sc] or {}
    samples[sc][who] = samples[sc][who] or {}
    table.insert(samples[sc][who], t)
  end
end

local function ok_samples(sc, who)
  local list = samples[sc] and samples[sc][who]
  if not list then return nil end
  local good = {}
  for _, s in ipairs(list) do
    if not s.failed and s.n and s.secs and s.secs > 0 then good[#good + 1] = s end
  end
  return #good > 0 and good or nil
end

local function failed(sc, who)
  local list = samples[sc] and samples[sc][who]
  if not list then return false end
  for _, s in ipairs(list) do if s.failed then return true end end
  return false
end

-- best rate over rounds (requests per second)
local function rate(sc, who)
  local good = ok_samples(sc, who)
  if not good then return nil end
  local best
  for _, s in ipairs(good) do
    local r = s.n / s.secs
    if not best or r > best then best = r end
  end
  return best
end

local function median(list)
  table.sort(list)
  local n = #list
  if n == 0 then return nil end
  if n % 2 == 1 then return list[(n + 1) / 2] end
  return (list[n / 2] + list[n / 2 + 1]) / 2
end

local function med(sc, who, key)
  local good = ok_samples(sc, who)
  if not good then return nil end
  local v = {}
  for _, s in ipairs(good) do if s[key] then v[#v + 1] = s[key] end end
  return median(v)
end

local function first(sc, who, key)
  local good = ok_samples(sc, who)
  return good and good[1][key] or nil
end

-- ------------------------------------------------------------------ rows
local rows = {} -- {scenario, contender, label, value, unit, ratio, ref, lib(bool)}
local function row(t) rows[#rows + 1] = t; return t end

local function fmt_num(v, digits)
  if not v then return "-" end
  if v >= 1000 then
    local s = ("%.0f"):format(v)
    local out_s = s:reverse():gsub("(%d%d%d)", "%1,"):reverse()
    return (out_s:gsub("^,", ""))
  end
  return ("%." .. (digits or 1) .. "f"):format(v)
end

local function fmt_ratio(r)
  if not r then return "-" end
  if r < 0.01 then return ("%.4f×"):format(r) end
  if r < 0.1 then return ("%.3f×"):format(r) end
  return ("%.2f×"):format(r)
end

local A_LABELS = {
  ceiling = "C libcurl, one reused easy handle (ceiling)",
  ceiling_lib = "C libcurl with airflow.core's per-request setup",
  core = "airflow.core session:request, raw (no decode)",
  lib = "lua-airflow version:get_version (decoded)",
  py_json = "Python urllib3 + json.loads (stand-in)",
  py_pydantic = "Python, official-client style (stand-in)",
  luasocket = "LuaSocket socket.http + cjson (reconnects)",
  curl_proc = "curl, one process per request",
}
local SCENARIO_TITLES = {
  a_http = "a. small GET, HTTP, req/s",
  a_https = "a. small GET, HTTPS, req/s",
  b = "b. 100-run page (fetch+decode), req/s",
  c = "c. 20,000-run page, one call",
  d = "d. collect",
  e = "e. start-up, one call",
  f = "f. OpenResty gateway, req/s (wrk)",
  f_cpu = "f. OpenResty gateway, CPU of the nginx worker per request",
}

for _, proto in ipairs{ "a_http", "a_https" } do
  local ref = rate(proto, "ceiling")
  for _, who in ipairs{ "ceiling", "ceiling_lib", "core", "lib", "py_json", "py_pydantic", "luasocket", "curl_proc" } do
    if samples[proto] and samples[proto][who] then
      local r = rate(proto, who)
      local label = A_LABELS[who]
      if who == "luasocket" and proto == "a_https" then
        label = "LuaSec ssl.https + cjson (handshake per request)"
      end
      row{ scenario = proto, contender = who, label = label, value = r, unit = "req/s",
        ratio = (r and ref) and r / ref or nil, ref = "C ceiling", lib = who == "lib", failed = failed(proto, who) }
    end
  end
end

-- Rows of a req/s scenario: each contender measured, as a ratio to `ref` (a rate).
local function rate_rows(sc, order, labels, ref, ref_name, lib_who)
  for _, who in ipairs(order) do
    if samples[sc] and samples[sc][who] then
      local r = rate(sc, who)
      row{ scenario = sc, contender = who, label = labels[who], value = r, unit = "req/s",
        ratio = (r and ref) and r / ref or nil, ref = ref_name, lib = who == lib_who, failed = failed(sc, who) }
    end
  end
end

do
  local ref = rate("b", "floor")
  local labels = {
    ceiling = "C libcurl fetch only, no decode",
    floor = "airflow.core raw + cjson.decode (floor)",
    lib = "lua-airflow get_dag_runs (decoded)",
    luasocket = "LuaSocket socket.http + cjson (reconnects)",
    py_json = "Python urllib3 + json.loads (stand-in)",
    py_pydantic = "Python, official-client style (stand-in)",
  }
  rate_rows("b", { "ceiling", "floor", "lib", "luasocket", "py_json", "py_pydantic" }, labels, ref, "floor", "lib")
end

local c_floor_t, c_floor_m = med("c", "floor", "secs"), med("c", "floor", "rss_kb")
local c_lib_t, c_lib_m = med("c", "lib", "secs"), med("c", "lib", "rss_kb")
do
  local labels = { floor = "airflow.core raw + cjson.decode (floor)", lib = "lua-airflow get_dag_runs (decoded)" }
  for _, who in ipairs{ "floor", "lib" } do
    local t, m = med("c", who, "secs"), med("c", who, "rss_kb")
    row{ scenario = "c_time", contender = who, label = labels[who] .. ", time", value = t and t * 1000,
      unit = "ms", ratio = (t and c_floor_t) and t / c_floor_t or nil, ref = "floor", lib = who == "lib",
      failed = failed("c", who) }
    row{ scenario = "c_rss", contender = who, label = labels[who] .. ", peak RSS", value = m and m / 1024,
      unit = "MiB", ratio = (m and c_floor_m) and m / c_floor_m or nil, ref = "floor", lib = who == "lib",
      failed = failed("c", who) }
  end
end

local d_secs = {}
do
  local items = env("COLLECT_ITEMS", "?")
  for _, conc in ipairs{ 1, 4, 8 } do
    local who = "c" .. conc
    local t = first("d", who, "secs")
    d_secs[conc] = t
    row{ scenario = "d", contender = who,
      label = ("collect %s items, concurrency %d"):format(fmt_num(tonumber(items)), conc),
      value = t, unit = "s", ratio = (t and d_secs[1]) and d_secs[1] / t or nil, ref = "speed-up vs 1",
      lib = conc == 8, failed = failed("d", who), rss = first("d", who, "rss_kb") }
  end
end

local startup_kind = env("STARTUP_KIND", "cli")
local e_lib, e_curl = first("e", startup_kind, "secs"), first("e", "curl", "secs")
row{ scenario = "e", contender = startup_kind,
  label = startup_kind == "cli" and "bin/airflow-lua version get_version (one process)"
    or "lua5.4 -e 'require(\"airflow\")... one call' (no CLI yet)",
  value = e_lib and e_lib * 1000, unit = "ms", ratio = (e_lib and e_curl) and e_lib / e_curl or nil,
  ref = "× curl", lib = true, failed = failed("e", startup_kind) }
row{ scenario = "e", contender = "curl", label = "curl (one process)", value = e_curl and e_curl * 1000,
  unit = "ms", ratio = e_curl and 1 or nil, ref = "× curl", failed = failed("e", "curl") }

do
  local ref = rate("f", "proxy_pass")
  local labels = { proxy_pass = "nginx proxy_pass (keep-alive upstream)",
    gateway = "gateway example: lua-airflow over cosockets" }
  rate_rows("f", { "proxy_pass", "gateway" }, labels, ref, "proxy_pass", "gateway")
end

-- f by CPU: the worker's CPU time per request (median over rounds), as proxy_pass's
-- share of it (what req/s would give on a core of its own); floors for a Lua handler.
local function us(who) return med("f", who, "us") end
do
  local labels = { proxy_pass = "nginx proxy_pass (keep-alive upstream)",
    raw = "floor: minimal Lua cosocket exchange, no parsing",
    noop = "floor: Lua handler making no request",
    gateway = "gateway example: lua-airflow over cosockets" }
  local ref = us("proxy_pass")
  for _, who in ipairs{ "proxy_pass", "raw", "noop", "gateway" } do
    local v = us(who)
    if v then
      row{ scenario = "f_cpu", contender = who, label = labels[who], value = v, unit = "µs/req",
        ratio = ref and ref / v or nil, ref = "proxy_pass", lib = who == "gateway", failed = failed("f", who) }
    end
  end
end

-- ------------------------------------------------------------------ targets
local function ratio_of(a, b) return (a and b) and a / b or nil end
local targets = {}
local function target(t)
  if t.value == nil then t.verdict = "n/a"
  elseif t.dir == ">=" then t.verdict = t.value >= t.goal and "PASS" or "MISS"
  else t.verdict = t.value <= t.goal and "PASS" or "MISS" end
  targets[#targets + 1] = t
end
target{ id = "a_http", label = "a. small GET, HTTP: lua-airflow ≥ 0.9× C ceiling", short = "a HTTP\\n× ceiling",
  value = ratio_of(rate("a_http", "lib"), rate("a_http", "ceiling")), dir = ">=", goal = 0.9 }
target{ id = "a_https", label = "a. small GET, HTTPS: lua-airflow ≥ 0.9× C ceiling", short = "a HTTPS\\n× ceiling",
  value = ratio_of(rate("a_https", "lib"), rate("a_https", "ceiling")), dir = ">=", goal = 0.9 }
target{ id = "b_socket", label = "b. 100-run page: lua-airflow ≥ 1× LuaSocket+cjson", short = "b\\n× LuaSocket",
  value = ratio_of(rate("b", "lib"), rate("b", "luasocket")), dir = ">=", goal = 1.0 }
target{ id = "b_python", label = "b. 100-run page: lua-airflow ≥ 2.5× Python (official-client-style stand-in)",
  short = "b\\n× Python", value = ratio_of(rate("b", "lib"), rate("b", "py_pydantic")), dir = ">=", goal = 2.5 }
target{ id = "c_time", label = "c. 20,000-run page: time ≤ 1.3× floor", short = "c time\\n× floor",
  value = ratio_of(c_lib_t, c_floor_t), dir = "<=", goal = 1.3 }
target{ id = "c_rss", label = "c. 20,000-run page: peak RSS ≤ 2× floor", short = "c RSS\\n× floor",
  value = ratio_of(c_lib_m, c_floor_m), dir = "<=", goal = 2.0 }
target{ id = "d", label = "d. collect: concurrency 8 ≥ 6× sequential", short = "d\\nspeed-up",
  value = ratio_of(d_secs[1], d_secs[8]), dir = ">=", goal = 6.0 }
target{ id = "e", label = "e. start-up: one " .. (startup_kind == "cli" and "CLI call" or "one-liner call") .. " ≤ 3× curl",
  short = "e start-up\\n× curl", value = ratio_of(e_lib, e_curl), dir = "<=", goal = 3.0 }

target{ id = "f", label = "f. OpenResty gateway ≥ 0.9× nginx proxy_pass", short = "f gateway\\n× proxy_pass",
  value = ratio_of(rate("f", "gateway"), rate("f", "proxy_pass")), dir = ">=", goal = 0.9 }
target{ id = "f_cpu", label = "f. OpenResty gateway ≥ 0.9× nginx proxy_pass, by CPU per request",
  short = "f gateway CPU\\n× proxy_pass", value = ratio_of(us("proxy_pass"), us("gateway")), dir = ">=", goal = 0.9 }

-- informational ratios (no target)
local info = {
  b_pyjson = ratio_of(rate("b", "lib"), rate("b", "py_json")),
  a_http_core = ratio_of(rate("a_http", "core"), rate("a_http", "ceiling")),
  a_https_core = ratio_of(rate("a_https", "core"), rate("a_https", "ceiling")),
}

-- ------------------------------------------------------------------ machine
local machine = {
  ("%s × %s"):format(env("NPROC", "?"), env("CPU", "?")),
  env("KERNEL", "?"),
  env("CURL", "libcurl ?"),
  env("LUA", "Lua ?"),
  env("NGINX", "nginx ?"),
  env("PY", "Python ?"),
}
local load = env("LOAD", nil)

-- ------------------------------------------------------------------ stdout table
local function pad(s, n)
  s = tostring(s)
  -- count UTF-8 characters, not bytes
  local len = select(2, s:gsub("[^\128-\191]", ""))
  return s .. (" "):rep(math.max(0, n - len))
end
local function lpad(s, n)
  s = tostring(s)
  local len = select(2, s:gsub("[^\128-\191]", ""))
  return (" "):rep(math.max(0, n - len)) .. s
end

local function result_text(r)
  if r.failed and not r.value then return "FAILED" end
  if not r.value then return "-" end
  local digits = (r.unit == "s" or r.unit == "ms") and 2 or 1
  if r.unit == "MiB" then digits = 1 end
  return fmt_num(r.value, digits) .. " " .. r.unit
end

local lines = {}
local function p(s) lines[#lines + 1] = s or "" end
p(("lua-airflow benchmark, %s"):format(env("DATE", os.date("!%Y-%m-%d %H:%M UTC"))))
p("machine: " .. table.concat(machine, "; "))
if load then p("load average at start: " .. load) end
p(("a/b: best of %s rounds of ≤ %s s each; c: median of %s processes each; d: %s items, pages of 100, %s ms per page; e: median of %s runs"):format(
  env("ROUNDS", "?"), env("SECS", "?"), env("BIG_RUNS", "?"), env("COLLECT_ITEMS", "?"), env("DELAY_MS", "?"),
  env("STARTUP_RUNS", "?")))
p(("pages: 100 runs = %s bytes, 20,000 runs = %s bytes; server: nginx on loopback, 1 worker, keep-alive"):format(
  fmt_num(tonumber(env("SIZE100", "0"))), fmt_num(tonumber(env("SIZE20000", "0")))))
p()
local W1, W2, W3, W4 = 40, 52, 16, 10
p(pad("scenario", W1) .. pad("contender", W2) .. lpad("result", W3) .. lpad("ratio", W4) .. "  reference")
p(("-"):rep(W1 + W2 + W3 + W4 + 14))
local last_sc
for _, r in ipairs(rows) do
  local sc_title = r.scenario:match("^c_") and SCENARIO_TITLES.c or SCENARIO_TITLES[r.scenario]
  local shown = sc_title ~= last_sc and sc_title or ""
  last_sc = sc_title
  p(pad(shown, W1) .. pad((r.lib and "▶ " or "  ") .. r.label, W2) .. lpad(result_text(r), W3) ..
    lpad(fmt_ratio(r.ratio), W4) .. "  " .. (r.ref or ""))
end
p()
p("targets:")
for _, t in ipairs(targets) do
  p(("  %-4s %-72s measured %s"):format(t.verdict, t.label, t.value and fmt_ratio(t.value) or "-"))
end
p()
p(("info: b. lua-airflow vs bare urllib3 + json.loads: %s; a. airflow.core raw request vs C ceiling: %s (HTTP), %s (HTTPS)"):format(
  fmt_ratio(info.b_pyjson), fmt_ratio(info.a_http_core), fmt_ratio(info.a_https_core)))
local text = table.concat(lines, "\n")
print(text)

-- ------------------------------------------------------------------ results.tsv
do
  local f = assert(io.open(out .. "/results.tsv", "w"))
  f:write("scenario\tcontender\tlabel\tvalue\tunit\tratio\treference\n")
  for _, r in ipairs(rows) do
    f:write(("%s\t%s\t%s\t%s\t%s\t%s\t%s\n"):format(r.scenario, r.contender, r.label,
      r.value and ("%.6g"):format(r.value) or (r.failed and "FAILED" or ""), r.unit,
      r.ratio and ("%.4f"):format(r.ratio) or "", r.ref or ""))
  end
  for _, t in ipairs(targets) do
    f:write(("target\t%s\t%s\t%s\tratio\t%s\t%s %s\n"):format(t.id, t.label,
      t.value and ("%.4f"):format(t.value) or "", t.value and ("%.4f"):format(t.value) or "", t.dir, t.goal))
  end
  f:write(("machine\t-\t%s\t\t\t\t\n"):format(table.concat(machine, "; ")))
  f:close()
end

-- ------------------------------------------------------------------ chart
do
  -- panel 1: every contender of a and b, as × its scenario's reference (log scale)
  local f = assert(io.open(out .. "/bench_contenders.dat", "w"))
  local x = 0
  local groups = {
    { "a_http", "a. HTTP (× C ceiling)" }, { "a_https", "a. HTTPS (× C ceiling)" },
    { "b", "b. 100 runs (× floor)" }, { "c_time", "c. time (× floor)" }, { "c_rss", "c. RSS (× floor)" },
  }
  local SHORT = {
    ceiling = "C ceiling", ceiling_lib = "C, lib's setup", core = "core raw", lib = "lua-airflow", py_json = "Py json",
    py_pydantic = "Py client-style", luasocket = "LuaSocket", curl_proc = "curl/req", floor = "floor",
  }
  local group_mid = {}
  for gi, g in ipairs(groups) do
    local start = x
    for _, r in ipairs(rows) do
      if r.scenario == g[1] and r.ratio then
        local color = r.lib and 1 or ((r.contender == "ceiling" or r.contender == "floor") and 2 or 3)
        local name = SHORT[r.contender] or r.contender
        if g[1] == "a_https" and r.contender == "luasocket" then name = "LuaSec" end
        f:write(("%d\t%.6g\t%d\t\"%s\"\n"):format(x, r.ratio, color, name))
        x = x + 1
      end
    end
    group_mid[gi] = { (start + x - 1) / 2, g[2] }
    x = x + 1
  end
  f:close()

  local t = assert(io.open(out .. "/bench_targets.dat", "w"))
  for i, tg in ipairs(targets) do
    local color = tg.verdict == "PASS" and 4 or 5
    t:write(("%d\t%.6g\t%.6g\t%d\t\"%s\"\t\"%s %s\"\n"):format(i - 1, tg.value or 0, tg.goal, color, tg.short,
      tg.dir == ">=" and "≥" or "≤", tostring(tg.goal)))
  end
  t:close()

  local ymax = 1
  for _, tg in ipairs(targets) do ymax = math.max(ymax, tg.value or 0, tg.goal) end
  ymax = ymax * 1.15
  local labels = {}
  for _, gm in ipairs(group_mid) do
    labels[#labels + 1] = ("set label \"%s\" at %.1f, graph 1.04 center font \",10\""):format(gm[2], gm[1])
  end
  local gp = assert(io.open(out .. "/bench.gp", "w"))
  gp:write(([[
set terminal pngcairo size 1400,1000 font "DejaVu Sans,10"
set output "bench.png"
set multiplot layout 2,1 title "lua-airflow benchmark — %s — %s" font ",12"
set style fill solid 0.85 border -1
set boxwidth 0.8
set grid ytics
set key off
set linetype 1 lc rgb "#1f77b4"
set linetype 2 lc rgb "#555555"
set linetype 3 lc rgb "#bbbbbb"
set linetype 4 lc rgb "#2ca02c"
set linetype 5 lc rgb "#d62728"
set title "every contender as × its scenario's reference (C ceiling in a, fetch+cjson floor in b and c; blue = lua-airflow; log scale)" offset 0,1.2
set logscale y
set yrange [0.0003:60]
set ylabel "× reference"
set xtics rotate by -40 font ",9" nomirror
set tmargin 4
%s
plot "bench_contenders.dat" using 1:2:3:xtic(4) with boxes lc variable, \
     "" using 1:2:($2 < 0.1 ? sprintf("%%.2g", $2) : sprintf("%%.2f", $2)) with labels offset 0,0.7 font ",8", \
     1 with lines lc rgb "#000000" dt 2
unset label
unset logscale y
set title "lua-airflow against each target (green PASS, red MISS; dashes = target)" offset 0,0
set yrange [0:%.2f]
set ylabel "ratio"
set xtics norotate font ",9"
set xrange [-0.6:%d]
set tmargin 2
set bmargin 4
plot "bench_targets.dat" using 1:2:4:xtic(5) with boxes lc variable, \
     "" using ($1-0.45):3:(0.9):(0) with vectors nohead lc rgb "#000000" lw 2 dt (6,4), \
     "" using 1:($2 > $3 ? $2 : $3):(sprintf("%%.2f× (target %%s)", $2, stringcolumn(6))) with labels offset 0,1 font ",9"
unset multiplot
]]):format(env("DATE", ""), machine[1], table.concat(labels, "\n"), ymax, #targets - 0.4 > 0 and #targets or 1))
  gp:close()
end

-- ------------------------------------------------------------------ RESULTS.md
do
  local md = {}
  local function m(s) md[#md + 1] = s or "" end
  m("# lua-airflow benchmark results")
  m()
  m("Produced by `make bench` (bench/run); every number below comes from one run, side by side.")
  m()
  m("- date: " .. env("DATE", "?"))
  m("- machine: " .. machine[1] .. "; " .. machine[2])
  m("- software: " .. table.concat({ machine[3], machine[4], machine[5], machine[6] }, "; "))
  if load then m("- load average at start: " .. load .. " (the machine is shared: other jobs add noise)") end
  m(("- method: a/b best of %s rounds of ≤ %s s each (after one warm-up request); c median of %s processes each; d one run per concurrency on %s items (pages of 100, %s ms each); e median of %s runs each")
    :format(env("ROUNDS", "?"), env("SECS", "?"), env("BIG_RUNS", "?"), fmt_num(tonumber(env("COLLECT_ITEMS", "0"))),
      env("DELAY_MS", "?"), env("STARTUP_RUNS", "?")))
  m(("- server: local nginx (1 worker) on 127.0.0.1, HTTP and HTTPS (RSA-2048 certificate from a throwaway CA, TLS 1.3), keep-alive; canned v2 responses: 100-run page %s bytes, 20,000-run page %s bytes, no compression")
    :format(fmt_num(tonumber(env("SIZE100", "0"))), fmt_num(tonumber(env("SIZE20000", "0")))))
  m()
  m("![chart](bench.png)")
  m()
  m("| scenario | contender | result | ratio | reference |")
  m("|---|---|---:|---:|---|")
  local last
  for _, r in ipairs(rows) do
    local sc_title = r.scenario:match("^c_") and SCENARIO_TITLES.c or SCENARIO_TITLES[r.scenario]
    local shown = sc_title ~= last and sc_title or ""
    last = sc_title
    local label = r.lib and ("**" .. r.label .. "**") or r.label
    m(("| %s | %s | %s | %s | %s |"):format(shown, label, result_text(r), fmt_ratio(r.ratio), r.ref or ""))
  end
  m()
  m("## Targets")
  m()
  m("| target | measured | verdict |")
  m("|---|---:|---|")
  for _, t in ipairs(targets) do
    m(("| %s | %s | **%s** |"):format(t.label, t.value and fmt_ratio(t.value) or "-", t.verdict))
  end
  m()
  m("## Notes")
  m()
  m("- **Python** rows are stand-ins: the official `apache-airflow-client` is not installable here (PyPI is")
  m("  unreachable). *urllib3 + json.loads* is its transport and parser; *official-client style* adds what the")
  m("  generated client does per call (`@validate_call` on the arguments, `Model.from_dict` into pydantic v2")
  m("  models written for this bench after the generator's pattern). Its ApiClient/ApiResponse layers are left")
  m("  out, so the real client is likely slower still. Target b is read against the client-style stand-in;")
  m(("  against bare urllib3 + json.loads lua-airflow is %s (CPython's C json parser beats lua-cjson on this")
    :format(fmt_ratio(info.b_pyjson)))
  m("  string-heavy page).")
  m("- **LuaSocket** `socket.http` opens a new connection per request (no keep-alive); LuaSec `ssl.https` also")
  m("  builds a TLS context and does a full handshake per request.")
  m("- lua-airflow decodes with lua-cjson, then turns integral floats into Lua integers (Lua 5.4); the floor")
  m("  (`airflow.core` raw request + `cjson.decode`) does not. Measured as is.")
  local lib_a, ceil_a, core_a = rate("a_http", "lib"), rate("a_http", "ceiling"), rate("a_http", "core")
  if lib_a and ceil_a then
    m(("- a. per request (HTTP): C ceiling %.1f µs, airflow.core raw %s µs, lua-airflow %.1f µs. The client's own")
      :format(1e6 / ceil_a, core_a and ("%.1f"):format(1e6 / core_a) or "-", 1e6 / lib_a))
    m(("  work (%.1f µs over the ceiling) is what separates it from a loopback round trip that nginx answers")
      :format(1e6 / lib_a - 1e6 / ceil_a))
    m("  from memory; against a real Airflow (milliseconds per call) it is noise.")
  end
  local lib_b, floor_b = rate("b", "lib"), rate("b", "floor")
  if lib_b and floor_b then
    m(("- b. per page: floor %.0f µs, lua-airflow %.0f µs (+%.0f µs: the Lua integer fix-up walk over the decoded")
      :format(1e6 / floor_b, 1e6 / lib_b, 1e6 / lib_b - 1e6 / floor_b))
    m("  page, plus the request pipeline).")
  end
  local c1 = first("d", "c1", "rss_kb")
  if c1 then
    m(("- d. peak RSS of the collect processes: %.0f / %.0f / %.0f MiB (concurrency 1 / 4 / 8).")
      :format(c1 / 1024, (first("d", "c4", "rss_kb") or 0) / 1024, (first("d", "c8", "rss_kb") or 0) / 1024))
  end
  m("- Misses never fail `make bench`; it exits non-zero only when a contender or the server crashed.")
  m()
  m("Plain-text table as printed by the run:")
  m()
  m("```")
  m(text)
  m("```")
  local f = assert(io.open(out .. "/RESULTS.md", "w"))
  f:write(table.concat(md, "\n"), "\n")
  f:close()
end
