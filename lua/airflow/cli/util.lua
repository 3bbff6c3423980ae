--- Small helpers shared by the command-line modules: failures with an exit code,
-- "did you mean" suggestions, shell quoting and file reading.
-- @module airflow.cli.util
local suggest = require("airflow.suggest")

local M = {}

--- Exit codes of the command line.
M.EXIT = { ok = 0, api = 1, usage = 2, network = 3, interrupted = 130 }

local Failure = {}
Failure.__index = Failure
Failure.__tostring = function(self) return self.message end

--- Raises a failure that main() turns into a message and an exit code.
-- @param code the exit code
-- @param fmt a format string, then its arguments
function M.fail(code, fmt, ...)
  error(setmetatable({ code = code, message = fmt:format(...) }, Failure), 0)
end

--- Raises a usage failure (exit 2).
function M.usage(fmt, ...)
  M.fail(M.EXIT.usage, fmt, ...)
end

--- True when v was raised by fail().
function M.is_failure(v)
  return getmetatable(v) == Failure
end

--- " (did you mean 'x'?)" naming every candidate equally close to name, or "".
-- @param name the misspelt name
-- @param candidates an array of names or a table whose keys are names
function M.suggest(name, candidates)
  return suggest.hint(name, candidates)
end

--- The exit code for an airflow.Error: 130 when Ctrl-C ended it (as a shell reports
-- a command ended by SIGINT), 3 for network and timeouts, 1 otherwise.
function M.code_for(err)
  if type(err) == "table" and err.code == "interrupted" then return M.EXIT.interrupted end
  local kind = type(err) == "table" and err.kind
  if kind == "Timeout" or kind == "Transport" then return M.EXIT.network end
  return M.EXIT.api
end

--- Quotes a string for /bin/sh.
function M.shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

--- Reads a whole file, or stdin for "-".
-- @return the text, or nil and a message
function M.read_file(path)
  if path == "-" then return io.stdin:read("a") or "" end
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local text = f:read("a")
  f:close()
  return text
end

--- A library error's message without its "airflow: " prefix (for usage failures).
function M.library_message(msg)
  return tostring(msg):match("airflow: (.*)$") or tostring(msg)
end

--- Words taken as booleans, in arguments and in the config file.
M.BOOLEAN_WORDS = {
  ["true"] = true, ["false"] = false, yes = true, no = false, on = true, off = false, ["1"] = true, ["0"] = false,
}

--- The keys of a table, sorted.
function M.sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

return M
