-- Export every variable to a JSON file, then import it back (create or update).
-- usage: lua5.4 examples/variables_export_import.lua [file]
local json = require("airflow.json")
local client = require("examples.connect")()
local file = arg[1] or os.tmpname()

local vars = assert(client:collect("variable.get_variables", {}, { concurrency = 4 }))
local out = {}
for _, v in ipairs(vars) do out[#out + 1] = { key = v.key, value = v.value, description = v.description } end
local f = assert(io.open(file, "w"))
f:write(json.encode(out))
f:close()
print(("exported %d variables to %s"):format(#out, file))

f = assert(io.open(file))
local loaded = assert(json.decode(f:read("a")))
f:close()
local created, updated = 0, 0
for _, v in ipairs(loaded) do
  local _, err = client.variable:post_variable{ body = v }
  if err and err.kind == "AlreadyExists" then
    assert(client.variable:patch_variable{ variable_key = v.key, body = v })
    updated = updated + 1
  else
    assert(not err, tostring(err))
    created = created + 1
  end
end
print(("imported: %d created, %d updated"):format(created, updated))
