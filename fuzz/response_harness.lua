-- Response handling as the client does it, for fuzz_response.c: decode a response
-- and, for an error status, build and print the airflow.Error. Must never raise.
local Error = require("airflow.error")
local json = require("airflow.json")
local request = require("airflow.request")

local CLIENT = { json_decode = json.decode } -- what decoding reads of a client

return function(status, headers, body)
  local lower = {}
  for k, v in pairs(headers) do lower[k:lower()] = v end
  local res = { status = status, headers = lower, body = body }
  local value, err = request.decode(CLIENT, res, "GET", "http://h/api/v2/x")
  if value == nil then
    assert(Error.is(err), "decode failed without an airflow.Error")
    assert(type(tostring(err)) == "string")
  end
  local e = Error.from_response(res, "POST", "http://h/api/v2/x", false)
  assert(type(tostring(e)) == "string")
end
