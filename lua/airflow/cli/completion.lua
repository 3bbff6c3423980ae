--- Shell completion: the bash, zsh and fish scripts `airflow-lua completion SHELL`
-- prints, and the hidden `__complete` command they all call (resources, operations,
-- `name=` parameters, enum values, options and their values), so that every shell
-- completes from the same registry view.
-- @module airflow.cli.completion
local registry = require("airflow.registry")
local args = require("airflow.cli.args")
local output = require("airflow.cli.output")
local help = require("airflow.cli.help")

local M = {}

--- The completion script of each shell, by name. Each one hands the line up to the
-- cursor to `airflow-lua __complete` and offers what it prints.
M.SCRIPTS = {}

M.SCRIPTS.bash = [==[
# bash completion for airflow-lua: eval "$(airflow-lua completion bash)"
_airflow_lua_complete() {
  local IFS=$'\n' out
  out=$(AIRFLOW_LUA_COMPLETE_LINE="${COMP_LINE:0:COMP_POINT}" "${COMP_WORDS[0]}" __complete 2>/dev/null) || return 0
  COMPREPLY=($out)
  local c
  for c in "${COMPREPLY[@]}"; do
    if [[ $c == *= ]]; then compopt -o nospace 2>/dev/null; break; fi
  done
}
complete -o default -F _airflow_lua_complete airflow-lua
]==]

M.SCRIPTS.zsh = [==[
#compdef airflow-lua
# zsh completion for airflow-lua: source <(airflow-lua completion zsh) after compinit,
# or save it as _airflow-lua in a directory of $fpath.
_airflow_lua() {
  local line="${(j: :)words[1,CURRENT-1]} $PREFIX"
  local -a out eq plain
  out=("${(@f)$(AIRFLOW_LUA_COMPLETE_LINE="$line" "${words[1]}" __complete 2>/dev/null)}")
  out=(${out:#})
  [[ $PREFIX == *=* ]] && compset -P '*='
  eq=(${(M)out:#*=})
  plain=(${out:#*=})
  (( ${#plain} )) && compadd -a plain
  (( ${#eq} )) && compadd -S '' -a eq
  return 0
}
if (( $+functions[compdef] )); then compdef _airflow_lua airflow-lua; fi
]==]

M.SCRIPTS.fish = [==[
# fish completion for airflow-lua: airflow-lua completion fish | source
function __airflow_lua_complete
    set -l cmd (commandline -opc)[1]
    set -l pre (string match -r -- '^(?:--)?[A-Za-z_][A-Za-z0-9_-]*=' (commandline -ct))
    set -q pre[1]; or set pre ''
    for c in (env AIRFLOW_LUA_COMPLETE_LINE=(commandline -cp) $cmd __complete 2>/dev/null)
        echo $pre$c
    end
end
complete -c airflow-lua -f -a '(__airflow_lua_complete)'
]==]

--- The shells with a completion script, in the order help lists them.
M.SHELLS = { "bash", "zsh", "fish" }

local VALUES = {
  output = output.FORMATS,
  api = { "v1", "v2", "auto" },
}

local function split(line)
  local words = {}
  for w in line:gmatch("%S+") do words[#words + 1] = w end
  local current = ""
  if line ~= "" and not line:match("%s$") then current = table.remove(words) or "" end
  table.remove(words, 1) -- the program
  return words, current
end

-- The positional words, the --api given, and the option whose value is being typed.
local function positional(words)
  local pos, api, prev_flag = {}, nil, nil
  local i = 1
  while i <= #words do
    local w = words[i]
    local name, eq, value = w:match("^%-%-([^=]+)(=?)(.*)$")
    if w == "-o" then name, eq = "output", "" end
    if name then
      if eq == "" and args.ALL[name] then
        if i == #words then
          prev_flag = name
        else
          if name == "api" then api = words[i + 1] end
          i = i + 1
        end
      elseif name == "api" then
        api = value
      end
    elseif w:sub(1, 1) ~= "-" and not w:match("^[%a_][%w_]*=") then
      pos[#pos + 1] = w
    end
    i = i + 1
  end
  return pos, api, prev_flag
end

local function profiles(getenv)
  local config = require("airflow.cli.config")
  local path = getenv("AIRFLOW_LUA_CONFIG") or config.default_path(getenv)
  local f = path and io.open(path, "rb")
  if not f then return {} end
  local text = f:read("a")
  f:close()
  local names = {}
  for head in text:gmatch("%[%s*([^%]]-)%s*%]") do
    names[#names + 1] = head == "default" and "default" or head:match("^profile%s+(%S+)$")
  end
  return names
end

local function params_of(op, words)
  local given = {}
  for _, w in ipairs(words) do
    local n = w:match("^([%a_][%w_]*)=")
    if n then given[n] = true end
  end
  local out = {}
  for _, p in ipairs(op.params) do
    if not given[p.name] or p.array then out[#out + 1] = p.name .. "=" end
  end
  return out
end

local function values_of(op, name)
  local p = op.param_by_name[name]
  if not p then return {} end
  if p.enum then return p.enum end
  if p.type == "boolean" then return { "true", "false" } end
  return {}
end

local function first_words(reg)
  local out = {}
  for _, c in ipairs(help.COMMAND_ORDER) do out[#out + 1] = c end
  for _, r in ipairs(reg.names) do
    if not help.COMMANDS[r] then out[#out + 1] = r end
  end
  return out
end

local function flag_names()
  local out = {}
  for name in pairs(args.ALL) do out[#out + 1] = "--" .. name end
  table.sort(out)
  return out
end

-- The candidates for the word being typed (before prefix filtering).
local function candidates(words, current, getenv)
  local pos, api, prev_flag = positional(words)
  if prev_flag then
    if prev_flag == "profile" then return profiles(getenv), current end
    return VALUES[prev_flag] or {}, current
  end
  local fname, fvalue = current:match("^%-%-([^=]+)=(.*)$")
  if fname then return VALUES[fname] or {}, fvalue end
  if current:sub(1, 1) == "-" then return flag_names(), current end
  api = api or getenv("AIRFLOW_API")
  local reg = registry.get(api == "v1" and "v1" or "v2")
  if #pos == 0 then return first_words(reg), current end
  local r = reg.resources[pos[1]]
  if #pos == 1 then
    if r then
      local ops = {}
      for name in pairs(r) do ops[#ops + 1] = name end
      table.sort(ops)
      return ops, current
    end
    if pos[1] == "completion" then return M.SHELLS, current end
    if pos[1] == "api" then return { "DELETE", "GET", "PATCH", "POST", "PUT" }, current end
    if pos[1] == "state" then return { "clear", "delete", "get", "list", "set" }, current end
    return {}, current
  end
  local op = r and r[pos[2]]
  if not op then return {}, current end
  local pname, partial = current:match("^([%a_][%w_]*)=(.*)$")
  if pname then return values_of(op, pname), partial end
  return params_of(op, words), current
end

--- Prints the completion candidates for the line in AIRFLOW_LUA_COMPLETE_LINE.
-- @param getenv a function like os.getenv
-- @param out the file to write to
function M.complete(getenv, out)
  local words, current = split(getenv("AIRFLOW_LUA_COMPLETE_LINE") or "")
  local list, prefix = candidates(words, current, getenv)
  for _, c in ipairs(list) do
    if c:sub(1, #prefix) == prefix then out:write(c, "\n") end
  end
end

return M
