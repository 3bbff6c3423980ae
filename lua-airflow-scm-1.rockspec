package = "lua-airflow"
version = "scm-1"
source = {
  url = "git+https://github.com/lua-airflow/lua-airflow.git",
}
description = {
  summary = "Apache Airflow REST API client (v2 and v1) over libcurl, with a CLI and OpenResty support",
  detailed = [[
Every operation of the Airflow 3 API (/api/v2) and of the Airflow 2 stable API
(/api/v1), with the official Python client's names; token renewal, retries,
pagination, update masks, waiting and log streaming; the airflow-lua command line;
non-blocking use inside OpenResty.
]],
  homepage = "https://github.com/lua-airflow/lua-airflow",
  license = "Apache-2.0",
}
dependencies = {
  "lua >= 5.1",
  "lua-cjson >= 2.1.0",
}
-- Only the library is checked: Debian keeps curl/curl.h under a multiarch
-- directory that LuaRocks' header check does not search.
external_dependencies = {
  CURL = { library = "curl" },
}
build = {
  type = "make",
  build_variables = {
    CFLAGS = "$(CFLAGS)",
    LUA_CFLAGS = "-I$(LUA_INCDIR)",
    CURL_LIBS = "-L$(CURL_LIBDIR) -lcurl",
  },
  install_variables = {
    PREFIX = "$(PREFIX)",
    LUA_LIBDIR = "$(LIBDIR)",
    LUA_DIR = "$(LUADIR)",
    BINDIR = "$(BINDIR)",
  },
  copy_directories = { "examples", "docs", "types", "completions" },
}
