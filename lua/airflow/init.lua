--- lua-airflow: a client for the Apache Airflow REST API (v2 for Airflow 3, v1 for
-- Airflow 2). Every operation is `client.<resource>:<operation_id>(args)`.
-- @module airflow
local json = require("airflow.json")
local Client = require("airflow.client")

local M = {
  _VERSION = require("airflow.version"),
  --- JSON null, for bodies and for comparing decoded values.
  null = json.null,
  --- The error type: `nil, err` results carry one.
  Error = require("airflow.error"),
  --- Update-mask helpers (`airflow.mask.diff`).
  mask = require("airflow.mask"),
}

--- Creates a client.
-- @param opts options: base_url (required), api, username/password, token,
--   token_provider, auth, timeout, connect_timeout, retries, verify_tls, ca_file, ...
-- @return the client, or nil, err
---@param opts table
---@return airflow.Client|nil client
---@return airflow.Error|nil err
function M.new(opts)
  return Client.new(opts)
end

--- Marks a table as a JSON array, so that an empty one is sent as `[]`.
M.array = json.array

return M
