--- Shared by the examples: a client from the environment (AIRFLOW_URL,
-- AIRFLOW_USERNAME/AIRFLOW_PASSWORD or AIRFLOW_TOKEN, AIRFLOW_API).
local airflow = require("airflow")

return function()
  return assert(airflow.new{
    base_url = os.getenv("AIRFLOW_URL") or "http://localhost:8080",
    api = os.getenv("AIRFLOW_API") or "v2",
    username = os.getenv("AIRFLOW_USERNAME") or (not os.getenv("AIRFLOW_TOKEN") and "admin" or nil),
    password = os.getenv("AIRFLOW_PASSWORD") or (not os.getenv("AIRFLOW_TOKEN") and "admin" or nil),
    token = os.getenv("AIRFLOW_TOKEN"),
  })
end
