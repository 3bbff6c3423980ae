-- luacheck: globals ngx
--- The transport inside nginx (OpenResty / lua-nginx-module), the default there:
-- cosockets (`ngx.socket.tcp`), so a request yields to nginx's event loop instead
-- of blocking the worker, and nothing is needed in nginx.conf.
--
-- It works wherever cosockets do: the rewrite, access and content phases and
-- `ngx.timer.at` timers (so background work started from init_worker_by_lua runs
-- in a timer); elsewhere (init_worker itself, header/body filters, log) a request
-- raises an error saying so. lua-resty-http is not packaged in Debian, so the
-- HTTP/1.1 framing is ours, and in C like everywhere else: airflow.core's
-- `http_request` writes the request bytes and its `http_parser` is fed what the
-- socket receives (status line, headers, Content-Length, chunked, size limits);
-- only the socket calls, which yield, are here.
--
-- Per request: the client's `timeout` bounds the whole exchange (a stream: each
-- wait for data), `connect_timeout` the connection. Connections are kept alive in
-- nginx's per-worker pool, one pool per scheme, host and port (options
-- `pool_size`, `keepalive_timeout`). https verifies the server's certificate and
-- name by default against nginx's `lua_ssl_trusted_certificate` (SNI is sent).
-- Many requests at once run in `ngx.thread`s. Not offered here: `ca_file` and
-- client certificates (nginx.conf owns TLS trust), proxies, gzip, redirects (a 3xx
-- comes back as the response) and Kerberos.
-- @module airflow.transport.ngx

local core = require("airflow.core")

local M = {}
M.__index = M

--- The client options this transport reads (name -> Lua type).
M.OPTIONS = {
  timeout = "number", connect_timeout = "number", verify_tls = "boolean",
  max_body_bytes = "number", user_agent = "string", pool_size = "number", keepalive_timeout = "number",
}

-- Client options that cannot be honoured here: refused rather than ignored, since
-- ignoring ca_file or proxy would silently change where or how trust goes.
local REFUSED = {
  ca_file = "set lua_ssl_trusted_certificate in nginx.conf instead",
  ca_path = "set lua_ssl_trusted_certificate in nginx.conf instead",
  cert_file = "client certificates are not supported by the ngx transport",
  key_file = "client certificates are not supported by the ngx transport",
  proxy = "proxies are not supported by the ngx transport",
}

local DEFAULTS = { timeout = 30, connect_timeout = 10, max_body_bytes = 256 * 1024 * 1024, pool_size = 32,
  keepalive_timeout = 60 }
local READ_SIZE = 65536

-- The phases where cosockets exist.
local COSOCKET_PHASES = { rewrite = true, access = true, content = true, timer = true,
  ssl_cert = true, ssl_session_fetch = true, ssl_client_hello = true }

local function in_nginx()
  return type(ngx) == "table" and type(ngx.socket) == "table" and type(ngx.get_phase) == "function"
end

local function check_phase()
  local phase = ngx.get_phase()
  if not COSOCKET_PHASES[phase] then
    error(("airflow: cannot make requests in nginx phase '%s': cosockets are not available there; "
      .. "run the call from a timer (ngx.timer.at(0, function() ... end)) or a request handler")
      :format(tostring(phase)), 0)
  end
end

local function fail(code, fmt, ...)
  return nil, { code = code, message = fmt:format(...) }
end

local function opt_number(opts, name, max)
  local v = opts[name]
  if v == nil then return DEFAULTS[name] end
  if type(v) ~= "number" or v ~= v or v < 0 or v > max then
    error(("airflow: option '%s' must be a number from 0 to %d"):format(name, max), 4)
  end
  return v
end

--- Creates a transport from the client options (M.OPTIONS are read; REFUSED ones raise).
-- @return the transport, or nil, err outside nginx
function M.new(opts)
  opts = opts or {}
  if not in_nginx() then
    return fail("other", "the ngx transport runs only inside nginx with lua-nginx-module (OpenResty)")
  end
  for name, why in pairs(REFUSED) do
    if opts[name] ~= nil then error(("airflow: option '%s' is not used inside nginx: %s"):format(name, why), 3) end
  end
  if opts.compressed then error("airflow: option 'compressed' is not supported by the ngx transport", 3) end
  local max_body = opts.max_body_bytes
  if max_body == false then max_body = 0 else max_body = opt_number(opts, "max_body_bytes", 2 ^ 53) end
  local self = setmetatable({
    name = "ngx",
    timeout_ms = opt_number(opts, "timeout", 2147483) * 1000,
    connect_ms = opt_number(opts, "connect_timeout", 2147483) * 1000,
    verify = opts.verify_tls ~= false,
    max_body = max_body,
    pool_size = opt_number(opts, "pool_size", 100000),
    keepalive_ms = opt_number(opts, "keepalive_timeout", 86400) * 1000,
    lines = {}, -- extra header lines: User-Agent, then Authorization when set
    pools = {}, -- connect options per pool
    parsers = {}, -- idle response parsers, reused
  }, M)
  self.parse_opts = { max_body = self.max_body }
  if self.timeout_ms == 0 then self.timeout_ms = 2147483000 end
  if self.connect_ms == 0 then self.connect_ms = self.timeout_ms end
  self.ua_line = "User-Agent: " .. (opts.user_agent or "lua-airflow")
  return self
end

--- Applies credentials: {kind = "none"|"basic"|"bearer"|"negotiate", user, secret}.
function M:set_auth(auth)
  if auth == self.applied then return end
  self.applied = auth
  local kind = auth and auth.kind or "none"
  self.unsupported_auth = nil
  self.auth_line = nil
  if kind == "basic" then
    self.auth_line = "Authorization: Basic " .. ngx.encode_base64((auth.user or "") .. ":" .. (auth.secret or ""))
  elseif kind == "bearer" then
    self.auth_line = "Authorization: Bearer " .. (auth.secret or "")
  elseif kind ~= "none" then
    self.unsupported_auth = kind
  end
end

-- The extra header lines of a request (the array is reused: core copies the lines).
function M:extra_lines(no_auth)
  local lines = self.lines
  lines[1] = self.ua_line
  lines[2] = (not no_auth) and self.auth_line or nil
  return lines
end

-- nginx's cosocket error text -> transport error code.
local function code_of(err, default)
  if err == "timeout" then return "timeout" end
  if err:find("resolve", 1, true) or err:find("resolver", 1, true) then return "resolve" end
  return default
end

local function tls_message(err, host, verify)
  local msg = ("TLS handshake with %s failed: %s"):format(host, err)
  if verify and (err:find("issuer", 1, true) or err:find("self.signed") or err:find("verify", 1, true)) then
    msg = msg .. " (the certificate is verified against nginx's lua_ssl_trusted_certificate: set it "
      .. "to the CA bundle that signed Airflow's certificate, and lua_ssl_verify_depth for chains)"
  end
  return msg
end

-- Where to connect for a URL's host: IPv6 literals in brackets, and "localhost" as
-- the loopback address (RFC 6761), since nginx's resolver does not read /etc/hosts.
-- TLS still checks the certificate against the URL's own host name.
local function connect_address(host)
  if host:find(":", 1, true) then return "[" .. host .. "]" end
  if host:lower() == "localhost" then return "127.0.0.1" end
  return host
end

-- The connect options of a scheme, host and port: {pool =, pool_size =, address =}
-- (nginx copies what it needs). The last one is kept at hand, so a client talking
-- to one Airflow builds no key string per request.
function M:pool(host, port, tls)
  local last = self.last_pool
  if last and last.host == host and last.port == port and last.tls == tls then return last end
  local key = (tls and (self.verify and "https:" or "https-noverify:") or "http:") .. host .. ":" .. port
  local pool = self.pools[key]
  if not pool then
    pool = { pool = key, pool_size = self.pool_size, host = host, port = port, tls = tls,
      address = connect_address(host) }
    self.pools[key] = pool
  end
  self.last_pool = pool
  return pool
end

-- The read timeout (ms) of a connection's first wait: `stream_timeout` seconds
-- (a stream), else the time left until `deadline`; at least 1.
local function first_read_ms(deadline, stream_timeout)
  local left = stream_timeout and stream_timeout * 1000 or (deadline - ngx.now()) * 1000
  return left < 1 and 1 or left
end

-- Opens (or takes from the pool) a connection, its read timeout set for the first
-- wait for the response (first_read_ms); returns sock, reused or nil, err.
function M:connect(host, port, tls, deadline, stream_timeout)
  local sock = ngx.socket.tcp()
  local left = first_read_ms(deadline, stream_timeout)
  local cleft = first_read_ms(deadline)
  sock:settimeouts(cleft < self.connect_ms and cleft or self.connect_ms, self.timeout_ms, left)
  local pool = self:pool(host, port, tls)
  local ok, err = sock:connect(pool.address, port, pool)
  if not ok then
    local code = code_of(err, "connect")
    return fail(code, "cannot connect to %s:%d: %s%s", host, port, err,
      code == "resolve" and " (nginx resolves names with its `resolver` directive, not /etc/hosts)" or "")
  end
  local reused = sock:getreusedtimes() > 0
  if tls and not reused then
    local session, herr = sock:sslhandshake(nil, host, self.verify)
    if not session then
      sock:close()
      if herr == "timeout" then return fail("timeout", "TLS handshake with %s timed out", host) end
      return fail("tls", "%s", tls_message(herr, host, self.verify))
    end
  end
  if not reused then -- connecting took time: the first wait gets what is left
    sock:settimeouts(self.connect_ms, self.timeout_ms, first_read_ms(deadline, stream_timeout))
  end
  return sock, reused
end

-- Waits for the next data on sock, with the time left until `deadline` (nil: the
-- read timeout already set); returns data or nil, err.
local function receive(sock, deadline)
  if deadline then
    local left = (deadline - ngx.now()) * 1000
    if left <= 0 then return nil, "timeout" end
    sock:settimeout(left < 1 and 1 or left)
  end
  return sock:receiveany(READ_SIZE)
end

-- A failed read, as a transport error (the parser decides what a close means).
local function read_error(parser, err, host)
  if err == "closed" then
    local _, perr = parser:eof()
    return nil, perr
  end
  if err == "timeout" then return fail("timeout", "no answer from %s in time", host) end
  return fail("recv", "reading the response from %s failed: %s", host, err)
end

local RETRY = {} -- a pooled connection was found closed: try once more on a new one

-- Sends the request on `sock` and reads up to the response head (streaming) or its
-- end. `may_retry`: a pooled connection, so a close before any answer is RETRY.
-- The first read waits as long as connect set; each next one until `deadline`, or
-- (streaming) `timeout` seconds from its start.
-- @return sock (false once the response is complete and the connection released),
--   parser, the first body bytes | nil, err | RETRY
local function try_once(self, sock, may_retry, bytes, parser, host, deadline, timeout, streaming)
  local ok, serr = sock:send(bytes)
  if not ok then
    sock:close()
    if may_retry then return RETRY end
    return fail(code_of(serr, "send"), "sending the request to %s failed: %s", host, serr)
  end
  local got = false
  while true do
    local data, err = receive(sock, got and (streaming and ngx.now() + timeout or deadline) or nil)
    if not data then
      sock:close()
      if err == "closed" and not got and may_retry then return RETRY end
      return read_error(parser, err, host)
    end
    got = true
    local chunk, done = parser:feed(data)
    if not chunk then
      sock:close()
      return nil, done
    end
    if done then
      self:release(sock, parser)
      return false, parser, chunk
    end
    if streaming and parser:response() then return sock, parser, chunk end
  end
end

-- Connects (or takes a pooled connection), sends the request and reads the
-- response head (a stream) or the whole response. The client's timeout bounds the
-- whole exchange; for a stream, each wait for data.
-- @return as try_once, never RETRY
function M:exchange(req, streaming)
  check_phase()
  if self.unsupported_auth and not req.no_auth then
    return fail("other", "'%s' authentication (Kerberos) is not supported by the ngx transport; "
      .. "use transport = \"curl\" (blocking) for it", self.unsupported_auth)
  end
  local bytes, host, port, tls = core.http_request(req, self:extra_lines(req.no_auth))
  local timeout = req.timeout or self.timeout_ms / 1000
  local deadline = ngx.now() + timeout
  for attempt = 1, 2 do
    local sock, reused = self:connect(host, port, tls, deadline, streaming and timeout)
    if not sock then return nil, reused end
    local parser = self:parser(streaming, req.method == "HEAD")
    local r1, r2, r3 = try_once(self, sock, reused and attempt == 1, bytes, parser, host, deadline,
      timeout, streaming)
    if r1 ~= RETRY then return r1, r2, r3 end
  end
  return fail("recv", "the connection to %s closed before the response", host)
end

-- A response parser for one exchange: an idle one restarted, or a new one.
function M:parser(streaming, head)
  local opts = self.parse_opts
  if streaming or head then opts = { max_body = streaming and 0 or self.max_body, head = head, stream = streaming } end
  local parser = table.remove(self.parsers)
  if parser then return parser:reset(opts) end
  return core.http_parser(opts)
end

-- Gives a connection back to the pool when the response left it clean, else closes it.
function M:release(sock, parser)
  if parser:keepalive() then
    sock:setkeepalive(self.keepalive_ms, self.pool_size)
  else
    sock:close()
  end
end

--- Performs one request (yields; the worker goes on serving others).
-- @return {status, headers, body, http_version} or nil, err
function M:request(req)
  local sock, parser = self:exchange(req, false)
  if sock == nil then return nil, parser end
  local res = parser:response()
  local idle = self.parsers
  if #idle < 16 then idle[#idle + 1] = parser end
  return res
end

-- Runs `concurrency` light threads, each taking the next request when it is done
-- and handing (i, response, err) to `deliver`. A Lua error in one (a malformed
-- request: a programming mistake) is raised here once all have stopped.
local function run_threads(self, reqs, concurrency, deliver)
  local n = #reqs
  local next_index = 0
  local function worker()
    while true do
      next_index = next_index + 1
      local i = next_index
      if i > n then return end
      local res, err = self:request(reqs[i])
      deliver(i, res or false, err)
    end
  end
  concurrency = math.max(1, math.min(math.floor(tonumber(concurrency) or 4), n))
  local threads = {}
  for k = 1, concurrency do threads[k] = ngx.thread.spawn(worker) end
  return threads
end

local function wait_all(threads)
  local failure
  for k = 1, #threads do
    local done, why = ngx.thread.wait(threads[k])
    if not done and not failure then failure = why end
  end
  if failure then error(failure, 0) end
end

--- Performs many requests, at most `concurrency` at once (ngx.threads); results in
-- input order.
-- @return responses (response or false each), errors (err or nil each)
function M:request_many(reqs, concurrency)
  check_phase()
  local responses, errors = {}, {}
  if #reqs == 0 then return responses, errors end
  wait_all(run_threads(self, reqs, concurrency, function(i, res, err)
    responses[i], errors[i] = res, err
  end))
  return responses, errors
end

local Batch = {}
Batch.__index = Batch

--- Abandons the requests still running (their threads are killed and their
-- connections closed).
function Batch:close()
  if self.threads then
    for _, t in ipairs(self.threads) do ngx.thread.kill(t) end
    self.threads = nil
  end
end
Batch.__close = Batch.close

local function step(b)
  while b.first > b.last do
    if b.taken == b.total or not b.threads then
      if b.threads then
        local threads = b.threads
        b.threads = nil
        wait_all(threads)
      end
      return nil
    end
    b.ready:wait(60) -- (seconds; the C side takes milliseconds in an int)
  end
  local item = b.queue[b.first]
  b.queue[b.first] = nil
  b.first = b.first + 1
  b.taken = b.taken + 1
  return item[1], item[2], item[3]
end

--- Performs many requests, at most `concurrency` at once, handing each response
-- over as soon as it finishes: `for i, res, err in t:request_each(reqs, n)`.
-- @return the iterator, its state, nil, and the batch (to close early)
function M:request_each(reqs, concurrency)
  check_phase()
  local semaphore = require("ngx.semaphore")
  local b = setmetatable({ queue = {}, first = 1, last = 0, taken = 0, total = #reqs,
    ready = semaphore.new() }, Batch)
  if #reqs > 0 then
    b.threads = run_threads(self, reqs, concurrency, function(i, res, err)
      b.last = b.last + 1
      b.queue[b.last] = { i, res, err }
      b.ready:post(1)
    end)
  end
  return step, b, nil, b
end

local Stream = {}
Stream.__index = Stream

--- The next piece of the body: chunk | false (complete) | nil, err.
function Stream:next()
  if self.pending then
    local chunk = self.pending
    self.pending = nil
    if chunk ~= "" then return chunk end
  end
  if self.done then return false end
  if not self.sock then return nil, { code = "other", message = "the stream is closed" } end
  while true do
    local data, err = receive(self.sock, ngx.now() + self.idle_ms / 1000)
    if not data then
      self.sock:close()
      self.sock = nil
      if err == "closed" then
        local ok, perr = self.parser:eof()
        if ok then
          self.done = true
          return false
        end
        return nil, perr
      end
      return read_error(self.parser, err, self.host)
    end
    local chunk, done = self.parser:feed(data)
    if not chunk then
      self.sock:close()
      self.sock = nil
      return nil, done
    end
    if done then
      self.done = true
      self.transport:release(self.sock, self.parser)
      self.sock = nil
      if chunk ~= "" then return chunk end
      return false
    end
    if chunk ~= "" then return chunk end
  end
end

--- The response head {status, headers, http_version}, once it arrived.
function Stream:response()
  return self.parser:response()
end

--- Stops reading; the connection is closed unless the response was complete.
function Stream:close()
  if self.sock then
    self.sock:close()
    self.sock = nil
  end
  self.done = true
end

--- Opens a streamed request: the head is read before this returns; then
-- stream:next() hands over the body as it arrives. `timeout` bounds each wait.
-- @return the stream, or nil, err
function M:stream(req)
  local sock, parser, chunk = self:exchange(req, true)
  if sock == nil then return nil, parser end
  local host = req.url:match("^%a+://([^/?#]+)") or "?"
  return setmetatable({ transport = self, sock = sock or nil, parser = parser, pending = chunk,
    done = sock == false, host = host,
    idle_ms = req.timeout and req.timeout * 1000 or self.timeout_ms }, Stream)
end

--- Sleeps without blocking the worker (the client's retries and waits use it).
function M.sleep(seconds)
  ngx.sleep(seconds)
end

local monotonic
do
  local ok, t = pcall(require, "resty.core.time")
  if ok and type(t) == "table" and type(t.monotonic_time) == "function" then monotonic = t.monotonic_time end
end

--- Seconds from a monotonic clock (nginx's), for durations and deadlines.
function M.now()
  if monotonic then return monotonic() end
  ngx.update_time()
  return ngx.now()
end

--- Nothing to release: connections go back to nginx's pool as each response ends.
function M.close() end

return M
