--- Errors returned by lua-airflow: `nil, err` where err is an `airflow.Error`.
-- Fields: `status` (HTTP status or nil), `kind`, `title`, `detail`, `body`,
-- `method`, `url`, and for transport failures `code` (timeout, connect, tls, ...).
-- `tostring(err)` gives one readable line. Secrets never appear: bodies are
-- redacted before they are kept, and URLs carry no credentials.
-- @module airflow.error
local json = require("airflow.json")

---@class airflow.Error
---@field status integer|nil HTTP status, nil for network failures
---@field kind string BadRequest, NotFound, ... (see the module comment and README)
---@field code string|nil for network failures: timeout, connect, tls, too_large, ...
---@field title string|nil
---@field detail any
---@field body string|nil the response body, secrets redacted
---@field method string|nil
---@field url string|nil
local Error = {}
Error.__index = Error
Error.__name = "airflow.Error"

local KINDS = {
  [400] = "BadRequest", [401] = "Unauthenticated", [403] = "PermissionDenied",
  [404] = "NotFound", [405] = "MethodNotAllowed", [406] = "NotAcceptable",
  [409] = "AlreadyExists", [422] = "Unprocessable",
}

--- The error kind for an HTTP status ("Unknown" for one without a name).
---@param status integer
---@return string kind
function Error.kind_for_status(status)
  return KINDS[status] or "Unknown"
end

--- Makes an error from a table of fields.
---@param fields table
---@return airflow.Error
function Error.new(fields)
  return setmetatable(fields, Error)
end

--- True when v is an airflow.Error.
---@param v any
---@return boolean
function Error.is(v)
  return getmetatable(v) == Error
end

-- Keys whose values are never kept: credentials Airflow may echo back
-- (a 422 repeats the request body; connections carry passwords and extras).
local SECRET_KEY = { "password", "passwd", "secret", "token", "key", "authorization", "extra", "cookie" }

-- JSON text for a decoded value, or nil when it cannot be written (a server's 1e999
-- decodes to an infinity, which JSON cannot carry).
local function encode(v)
  local ok, text = pcall(json.encode, v)
  return ok and text or nil
end

local function is_secret_key(k)
  k = k:lower()
  for _, s in ipairs(SECRET_KEY) do
    if k:find(s, 1, true) then return true end
  end
  return false
end

--- Replaces secret-looking values in decoded JSON (a copy; the input is untouched).
---@param v any decoded JSON
---@param depth? integer
---@return any
function Error.redact(v, depth)
  depth = depth or 0
  if type(v) ~= "table" or depth > 20 then return v end
  local out = {}
  for k, x in pairs(v) do
    if type(k) == "string" and is_secret_key(k) and x ~= json.null then
      out[k] = "***"
    else
      out[k] = Error.redact(x, depth + 1)
    end
  end
  return out
end

--- Redacts a raw body: JSON is decoded and re-encoded without secrets; any other
-- text has `"secret-key": "value"` pairs masked.
---@param text string|nil
---@return string|nil
function Error.redact_text(text)
  if type(text) ~= "string" or text == "" then return text end
  local decoded = json.decode(text)
  local redacted = type(decoded) == "table" and encode(Error.redact(decoded))
  if redacted then return redacted end -- else masked as text, below
  return (text:gsub('("([%w_%-]+)"%s*:%s*)"[^"]*"', function(prefix, key)
    if is_secret_key(key) then return prefix .. '"***"' end
  end))
end

local function strip_html(text)
  local title = text:match("<[Tt][Ii][Tt][Ll][Ee]>%s*(.-)%s*</")
  if title and title ~= "" then return title end
  local plain = text:gsub("<[^>]*>", " "):gsub("%s+", " "):gsub("^ ", ""):gsub(" $", "")
  return plain
end

-- "body.logical_date: Field required; query.limit: Input should be a valid integer"
local function validation_detail(list)
  local parts = {}
  for _, item in ipairs(list) do
    if type(item) == "table" then
      local loc = {}
      if type(item.loc) == "table" then
        for _, l in ipairs(item.loc) do loc[#loc + 1] = tostring(l) end
      end
      local msg = type(item.msg) == "string" and item.msg or "invalid"
      parts[#parts + 1] = (#loc > 0 and (table.concat(loc, ".") .. ": ") or "") .. msg
    else
      parts[#parts + 1] = tostring(item)
    end
  end
  return table.concat(parts, "; ")
end

local function describe_detail(detail)
  if type(detail) == "string" then return detail end
  if type(detail) == "table" then
    if #detail > 0 then return validation_detail(detail) end
    local redacted = Error.redact(detail)
    if type(redacted.message) == "string" then return redacted.message end
    if type(redacted.reason) == "string" then return redacted.reason end
    return encode(redacted)
  end
  return nil
end

--- Builds an error from an HTTP response that is not a success.
-- Understands v1 problem documents (RFC 7807), v2 FastAPI bodies (`detail` as text,
-- object or validation list), HTML pages from proxies, and empty bodies.
-- @param res the transport response {status, headers, body}
-- @param method the request verb
-- @param url the request URL
-- @param sensitive true when the request carried credentials in its body
---@param res airflow.core.Response
---@param method string
---@param url string
---@param sensitive? boolean
---@return airflow.Error
function Error.from_response(res, method, url, sensitive)
  local status = res.status
  local body = res.body or ""
  local ctype = (res.headers and res.headers["content-type"] or ""):lower()
  local title, detail, extra
  local decoded = (body:sub(1, 1) == "{" or body:sub(1, 1) == "[") and json.decode(body) or nil
  if type(decoded) == "table" then
    if type(decoded.title) == "string" then title = decoded.title end
    detail = describe_detail(decoded.detail)
    if not detail and type(decoded.message) == "string" then detail = decoded.message end
    if type(decoded.type) == "string" then extra = decoded.type end
  elseif ctype:find("html", 1, true) or body:find("^%s*<") then
    detail = strip_html(body):sub(1, 200)
  elseif body ~= "" then
    detail = body:sub(1, 300)
  end
  return Error.new{
    status = status,
    kind = Error.kind_for_status(status),
    title = title or ("HTTP " .. tostring(status)),
    detail = detail,
    type = extra,
    body = (not sensitive) and Error.redact_text(body) or nil,
    method = method,
    url = url,
    retry_after = res.headers and res.headers["retry-after"],
  }
end

--- Builds an error from a transport failure ({code, message} from airflow.core).
---@param e airflow.core.Error|nil
---@param method? string
---@param url? string
---@return airflow.Error
function Error.from_transport(e, method, url)
  local code = e and e.code or "other"
  return Error.new{
    kind = code == "timeout" and "Timeout" or "Transport",
    code = code,
    title = code == "timeout" and "timed out" or ("transport error (" .. code .. ")"),
    detail = e and e.message,
    method = method,
    url = url,
  }
end

-- The length of the valid UTF-8 sequence starting at byte i of s (a lead byte b),
-- or nil when it is not one (overlong forms, surrogates and code points past
-- U+10FFFF are invalid). Written out because LuaJIT has no utf8 library.
local function utf8_length(s, i, b)
  local n, min
  if b >= 0xC2 and b <= 0xDF then n, min = 2, 0x80
  elseif b >= 0xE0 and b <= 0xEF then n, min = 3, 0x800
  elseif b >= 0xF0 and b <= 0xF4 then n, min = 4, 0x10000
  else return nil end
  local cp = b % (2 ^ (7 - n))
  for k = 1, n - 1 do
    local c = s:byte(i + k)
    if not c or c < 0x80 or c > 0xBF then return nil end
    cp = cp * 64 + c % 64
  end
  if cp < min or cp > 0x10FFFF or (cp >= 0xD800 and cp <= 0xDFFF) then return nil end
  return n
end

local ESCAPES = { [9] = "\\t", [10] = "\\n", [13] = "\\r" }

--- Makes text from outside safe for one line of a log or a terminal: control
-- characters (CR, LF, ESC, ...) and bytes that are not valid UTF-8 become
-- visible escapes (`\n`, `\x1b`), so the text stays on one line and cannot move the
-- cursor or recolour a terminal. Valid UTF-8 text is kept as is.
-- @param s a string
-- @return the escaped string
---@param s string
---@return string
function Error.escape(s)
  if not s:find("[%c\128-\255]") then return s end
  local out, i, len = {}, 1, #s
  while i <= len do
    local b = s:byte(i)
    if b >= 0x80 then
      local n = utf8_length(s, i, b)
      if n then
        out[#out + 1] = s:sub(i, i + n - 1)
        i = i + n
      else
        out[#out + 1] = ("\\x%02x"):format(b)
        i = i + 1
      end
    else
      if b < 0x20 or b == 0x7F then
        out[#out + 1] = ESCAPES[b] or ("\\x%02x"):format(b)
      else
        out[#out + 1] = string.char(b)
      end
      i = i + 1
    end
  end
  return table.concat(out)
end

local EXCERPT_BYTES = 120

--- Builds an error for a response that could not be understood: invalid JSON, or
-- a success that is not what the operation returns (an SSO proxy's login page).
-- The detail names the status and the media type, with a short escaped excerpt.
---@param res airflow.core.Response
---@param method string
---@param url string
---@param why string
---@return airflow.Error
function Error.invalid_response(res, method, url, why)
  local body = res.body or ""
  local ctype = res.headers and res.headers["content-type"]
  local excerpt = Error.redact_text(body:sub(1, EXCERPT_BYTES)):gsub("%s+", " ")
  local detail = ("%s (status %s, %s)"):format(why, tostring(res.status),
    ctype and ("Content-Type " .. ctype) or "no Content-Type")
  if excerpt ~= "" and excerpt ~= " " then
    detail = detail .. ", body starts: " .. excerpt .. (#body > EXCERPT_BYTES and "..." or "")
  end
  return Error.new{
    status = res.status, kind = "InvalidResponse", title = "invalid response", detail = detail,
    body = Error.redact_text(body:sub(1, 1000)), method = method, url = url,
  }
end

--- One readable line: verb, URL, status, kind, title and detail, with anything
-- that came from outside (the server's title and detail, the URL) escaped.
function Error:__tostring()
  local head = self.method and (self.method .. " " .. Error.escape(tostring(self.url)) .. ": ") or ""
  local status = self.status and (tostring(self.status) .. " ") or ""
  local s = head .. status .. tostring(self.kind)
  if self.title and self.title ~= ("HTTP " .. tostring(self.status)) then
    s = s .. " (" .. Error.escape(tostring(self.title)) .. ")"
  end
  if self.detail and self.detail ~= "" then s = s .. ": " .. Error.escape(tostring(self.detail)) end
  return s
end

return Error
