-- Shell completion in real zsh and fish processes: the scripts `airflow-lua
-- completion zsh|fish` print load, register, and complete resources, operations,
-- parameters and enum values from the registry (through `airflow-lua __complete`).
local function q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local CWD = assert(io.popen("pwd")):read("l")
local TMP = (os.getenv("LUA_AIRFLOW_TEST_TMP") or "/tmp") .. ("/completion_spec.%d"):format(math.random(1, 1e9))
assert(os.execute("mkdir -p " .. q(TMP)))

local function sh(cmd)
  local p = assert(io.popen(cmd .. " 2>&1; echo \"__rc=$?\""))
  local out = p:read("a")
  p:close()
  local text, rc = out:match("^(.-)__rc=(%d+)\n$")
  return text, tonumber(rc)
end

local read = require("reference").read

local lines = require("env").lines

-- A clean environment with bin/ on PATH, so the shells find `airflow-lua`.
local ENV = ("env -i PATH=%s HOME=%s"):format(q(CWD .. "/bin:" .. os.getenv("PATH")), q(TMP))

local function has(shell)
  return (os.execute("command -v " .. shell .. " >/dev/null"))
end

describe("airflow-lua completion", function()
  for _, shell in ipairs({ "bash", "zsh", "fish" }) do
    it("prints the " .. shell .. " script, the same as the committed copy", function()
      local out, rc = sh("bin/airflow-lua completion " .. shell)
      assert.equal(0, rc)
      local file = ({ bash = "completions/airflow-lua.bash", zsh = "completions/_airflow-lua",
        fish = "completions/airflow-lua.fish" })[shell]
      assert.equal(out, read(file), file .. " is stale: run `make regen-docs`")
    end)
  end

  it("refuses an unknown shell with exit 2, naming the shells", function()
    local out, rc = sh("bin/airflow-lua completion tcsh")
    assert.equal(2, rc)
    assert.truthy(out:find("bash, zsh, fish", 1, true), out)
  end)

  it("offers the shells after `completion`", function()
    local out = sh("AIRFLOW_LUA_COMPLETE_LINE='airflow-lua completion ' bin/airflow-lua __complete")
    assert.same({ "bash", "zsh", "fish" }, lines(out))
  end)
end)

describe("zsh completion", function()
  -- compadd and compset work only inside a completion widget, which needs a terminal:
  -- the driver replaces them with functions that print what the script offers
  -- (word and suffix), sets words/CURRENT/PREFIX as the completion system does,
  -- and calls the function compinit registered for airflow-lua.
  local DRIVER = [==[
autoload -U compinit; compinit -u -d "$HOME/zcompdump"
source <(airflow-lua completion zsh)
print -r -- "registered=$_comps[airflow-lua]"
compadd() {
  local suffix=" " arr
  while (( $# )); do
    case $1 in -S) suffix=$2; shift 2 ;; -a) arr=$2; shift 2 ;; *) shift ;; esac
  done
  local c; for c in ${(P)arr}; do print -r -- "$IPREFIX$c$suffix|"; done
}
compset() { [[ $1 == -P && $PREFIX == *=* ]] && { IPREFIX=${PREFIX%%=*}=; PREFIX=${PREFIX#*=} } }
local words=(${(z)LINE}) CURRENT PREFIX IPREFIX=""
[[ $LINE == *' ' ]] && words+=("")
CURRENT=${#words}; PREFIX=$words[CURRENT]
$_comps[airflow-lua]
]==]

  local function complete(line)
    local script = TMP .. "/driver.zsh"
    local f = assert(io.open(script, "w"))
    f:write(DRIVER)
    f:close()
    local out, rc = sh(ENV .. " LINE=" .. q(line) .. " zsh -f " .. q(script))
    assert.equal(0, rc, out)
    local got = lines(out)
    assert.equal("registered=_airflow_lua", table.remove(got, 1))
    return got
  end

  it("is installed", function()
    assert.truthy(has("zsh"), "zsh is missing: tools/setup installs it")
  end)

  it("loads under compinit and completes a resource", function()
    assert.same({ "dag_run |" }, complete("airflow-lua dag_r"))
  end)

  it("completes an operation of a resource", function()
    assert.same({ "get_dag_run |", "get_dag_runs |" }, complete("airflow-lua dag_run get_dag_r"))
  end)

  it("completes parameter names with no space after '=', and enum values", function()
    assert.same({ "limit=|" }, complete("airflow-lua dag get_dags li"))
    assert.same({ "last_dag_run_state=failed |" }, complete("airflow-lua dag get_dags last_dag_run_state=f"))
  end)
end)

describe("fish completion", function()
  local function complete(line)
    local cmd = ("%s fish --no-config -c %s"):format(ENV,
      q("airflow-lua completion fish | source; complete -C" .. q(line)))
    local out, rc = sh(cmd)
    assert.equal(0, rc, out)
    local got = {}
    for _, l in ipairs(lines(out)) do got[#got + 1] = l:match("^[^\t]*") end
    return got
  end

  it("is installed", function()
    assert.truthy(has("fish"), "fish is missing: tools/setup installs it")
  end)

  it("completes a resource", function()
    assert.same({ "dag_run" }, complete("airflow-lua dag_r"))
  end)

  it("completes an operation of a resource", function()
    assert.same({ "get_dag_run", "get_dag_runs" }, complete("airflow-lua dag_run get_dag_r"))
  end)

  it("completes parameter names and enum values after name=", function()
    assert.same({ "limit=" }, complete("airflow-lua dag get_dags li"))
    assert.same({ "last_dag_run_state=failed" }, complete("airflow-lua dag get_dags last_dag_run_state=f"))
    assert.same({ "--output=table" }, complete("airflow-lua --output=ta"))
  end)

  it("completes v1 resources when --api v1 is given", function()
    assert.same({ "dataset" }, complete("airflow-lua --api v1 datase"))
  end)
end)
