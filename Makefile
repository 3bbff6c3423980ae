# lua-airflow build. `make` builds lua/airflow/core.so for Lua 5.4 in place;
# `make luajit` builds build/luajit/airflow/core.so for LuaJIT/OpenResty;
# `make LUA=luajit` builds the LuaJIT flavour in place instead.
# See README.md for every target.

LUA        ?= lua5.4
PREFIX     ?= /usr/local
CC         ?= cc
LUA_PC     := $(if $(filter luajit,$(LUA)),luajit,lua5.4)
LUA_CFLAGS ?= $(shell pkg-config --cflags $(LUA_PC) 2>/dev/null || echo -I/usr/include/$(if $(filter luajit,$(LUA)),luajit-2.1,lua5.4))

CURL_CFLAGS ?= $(shell curl-config --cflags 2>/dev/null)
CURL_LIBS  ?= $(shell curl-config --libs 2>/dev/null || echo -lcurl)
# LuaRocks installs pass LUA_VERSION; the default layout is Debian's.
LUA_VERSION ?= $(if $(filter luajit,$(LUA)),5.1,5.4)
LUA_LIBDIR ?= $(PREFIX)/lib/lua/$(LUA_VERSION)
LUA_DIR    ?= $(PREFIX)/share/lua/$(LUA_VERSION)
BINDIR     ?= $(PREFIX)/bin

WARN       := -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror
OPT        ?= -O2 -g
SAN        ?=
CFLAGS_ALL  = $(WARN) $(OPT) $(SAN) -fPIC $(CURL_CFLAGS) $(CFLAGS)
LIBS        = $(CURL_LIBS) -lpthread -lm

BUILD      ?= build/$(LUA)
CORE_SRC   := csrc/strbuf.c csrc/errors.c csrc/interrupt.c csrc/session.c csrc/transfer.c csrc/batch.c csrc/stream.c \
              csrc/builder.c csrc/headers.c csrc/registry.c csrc/registry_v1.c csrc/registry_v2.c \
              csrc/http_request.c csrc/http_response.c
CORE_OBJ    = $(CORE_SRC:csrc/%.c=$(BUILD)/%.o)
# The Lua binding (airflow.core): the only C that includes the Lua headers.
LUA_SRC    := $(wildcard csrc/lua/*.c)
LUA_OBJ     = $(LUA_SRC:csrc/%.c=$(BUILD)/%.o)
HEADERS    := $(wildcard csrc/*.h csrc/lua/*.h)
MODULE     ?= lua/airflow/core.so

BUSTED     ?= $(LUA) /usr/bin/busted
SPECS      ?= spec

.PHONY: all luajit test test-c test-lua test-conformance test-openresty lint fuzz-build fuzz-short \
        valgrind asan fuzz soak bench examples demo install uninstall regen regen-docs clean setup

all: $(MODULE)

$(BUILD)/%.o: csrc/%.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/lua/%.o: csrc/lua/%.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $(LUA_CFLAGS) -Icsrc -c $< -o $@

$(MODULE): $(CORE_OBJ) $(LUA_OBJ)
	@mkdir -p $(@D)
	$(CC) -shared $(SAN) -o $@ $^ $(LIBS) $(LDFLAGS)

luajit:
	$(MAKE) LUA=luajit MODULE=build/luajit/airflow/core.so

# The C test program for the Lua-free core.
$(BUILD)/test_core: spec/c/test_core.c $(CORE_OBJ)
	$(CC) $(CFLAGS_ALL) -Icsrc -o $@ $^ $(LIBS) $(LDFLAGS)

# Every test: C core, Lua layer (with conformance against the official specs and
# the CLI), then OpenResty in a real nginx. Servers are started and stopped here.
test: all luajit $(BUILD)/test_core lint
	tools/with-servers sh -c '$(MAKE) --no-print-directory test-c test-lua && examples/run-all'
	@if [ -x tools/test-openresty ]; then $(MAKE) --no-print-directory test-openresty; fi
	$(MAKE) --no-print-directory fuzz-short
	tools/soak 1000000

# The performance benchmark (bench/run): lua-airflow side by side with a C libcurl
# ceiling, Python, LuaSocket/LuaSec and curl, against a local nginx; prints the table
# and writes bench/RESULTS.md and bench/bench.png. Not part of `make test`.
bench: all
	bench/run

# 1,000,000 requests through one client against a local nginx: RSS must stay flat.
soak: all
	tools/soak 1000000

test-c: $(BUILD)/test_core
	$(BUILD)/test_core

test-lua: all
	$(BUSTED) --exclude-pattern=openresty $(SPECS)

test-conformance: all
	$(BUSTED) spec/conformance_spec.lua

test-openresty: luajit
	tools/test-openresty

# Installs the apt and npm packages, then builds (see README).
setup:
	tools/setup

lint:
	luacheck lua bin spec tools examples fuzz bench

# The C tests and the Lua core/client specs under valgrind: no errors, nothing
# definitely lost (libcurl's and OpenSSL's process-lifetime caches are "still reachable").
VALGRIND_SPECS ?= spec/core_spec.lua spec/client_spec.lua spec/faults_spec.lua spec/hostile_spec.lua \
  spec/hostile_net_spec.lua spec/http1_spec.lua spec/token_store_spec.lua spec/request_spec.lua
VALGRIND = valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
  --suppressions=tools/valgrind.supp
valgrind: all $(BUILD)/test_core
	tools/with-servers sh -c '$(VALGRIND) $(BUILD)/test_core && $(VALGRIND) $(BUSTED) $(VALGRIND_SPECS)'

# AddressSanitizer + UndefinedBehaviorSanitizer: the C tests, and the Lua specs
# with the sanitized module (libasan preloaded into the Lua interpreter).
ASAN_BUILD = build/asan
asan:
	$(MAKE) --no-print-directory BUILD=$(ASAN_BUILD) MODULE=$(ASAN_BUILD)/lua/airflow/core.so OPT="-O1 -g" \
	  SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  $(ASAN_BUILD)/lua/airflow/core.so $(ASAN_BUILD)/test_core
	ASAN_OPTIONS=detect_leaks=1 tools/with-servers $(ASAN_BUILD)/test_core
	ASAN_OPTIONS=detect_leaks=0 LD_PRELOAD="$$($(CC) -print-file-name=libasan.so) $$($(CC) -print-file-name=libubsan.so)" \
	  LUA_CPATH="$(ASAN_BUILD)/lua/?.so;;" tools/with-servers $(BUSTED) --cpath="$(ASAN_BUILD)/lua/?.so" $(VALGRIND_SPECS)

install: all
	install -d $(DESTDIR)$(LUA_LIBDIR)/airflow $(DESTDIR)$(LUA_DIR)/airflow $(DESTDIR)$(BINDIR)
	install -m 0755 $(MODULE) $(DESTDIR)$(LUA_LIBDIR)/airflow/core.so
	cd lua && find airflow -name '*.lua' -exec install -D -m 0644 {} $(DESTDIR)$(LUA_DIR)/{} \;
	install -m 0755 bin/airflow-lua $(DESTDIR)$(BINDIR)/airflow-lua

uninstall:
	rm -rf $(DESTDIR)$(LUA_LIBDIR)/airflow $(DESTDIR)$(LUA_DIR)/airflow $(DESTDIR)$(BINDIR)/airflow-lua

# Stage A reads the official documents ($(AIRFLOW_OPENAPI_DIR), needs lua-yaml) and writes
# the structure-only openapi/airflow-v*.json; stage B writes csrc/registry_v*.c from those,
# and the fake Airflow's spec_data.py is made from them too.
AIRFLOW_OPENAPI_DIR ?= ../shared/openapi
FAKE_SPEC_DATA = spec/servers/fake_airflow/spec_data.py
regen:
	AIRFLOW_OPENAPI_DIR=$(AIRFLOW_OPENAPI_DIR) lua5.4 tools/gen_openapi.lua
	lua5.4 tools/gen_registry.lua
	python3 spec/servers/fake_airflow/gen_spec_data.py > $(FAKE_SPEC_DATA).tmp && mv $(FAKE_SPEC_DATA).tmp $(FAKE_SPEC_DATA)
	$(MAKE) --no-print-directory regen-docs

# The reference docs (docs/), the LuaCATS definitions (types/) and the completion
# scripts (completions/), from the registry compiled into airflow.core;
# spec/docs_spec.lua, spec/types_spec.lua and spec/completion_spec.lua fail when stale.
regen-docs: all
	lua5.4 tools/gen_docs.lua
	lua5.4 tools/gen_types.lua
	bin/airflow-lua completion bash > completions/airflow-lua.bash
	bin/airflow-lua completion zsh > completions/_airflow-lua
	bin/airflow-lua completion fish > completions/airflow-lua.fish

clean:
	rm -rf build lua/airflow/core.so

# The runnable examples, against the fake Airflow.
examples: all
	tools/with-servers examples/run-all

# A walk through the library and the CLI against a fake Airflow on loopback: no
# server of your own needed.
demo: all
	@tools/with-servers tools/demo

# libFuzzer targets (clang): the request builder, response handling (C header
# parser + the Lua decoding and error code), and the cosocket transport's HTTP/1.1
# response parser. `make fuzz` runs each FUZZ_SECONDS
# (600 by default); `make fuzz-short` is the bounded run `make test` includes.
# Crashes land in build/fuzz/crashes; keep each one in fuzz/regressions/<target>/
# (replayed by every run) once fixed.
FUZZ_BUILD   = build/fuzz
FUZZ_CC      = clang
FUZZ_FLAGS   = -std=c99 -D_POSIX_C_SOURCE=200809L -g -O1 -fsanitize=fuzzer,address,undefined \
               -fno-sanitize-recover=undefined $(CURL_CFLAGS)
FUZZ_SECONDS ?= 600
FUZZ_TARGETS = builder response http_response

$(FUZZ_BUILD)/fuzz_builder: fuzz/fuzz_builder.c $(CORE_SRC) $(HEADERS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -Icsrc -o $@ fuzz/fuzz_builder.c $(CORE_SRC) $(LIBS)

$(FUZZ_BUILD)/fuzz_response: fuzz/fuzz_response.c $(LUA_SRC) $(CORE_SRC) $(HEADERS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -Icsrc $(shell pkg-config --cflags lua5.4) -o $@ fuzz/fuzz_response.c \
	  $(LUA_SRC) $(CORE_SRC) $(shell pkg-config --libs lua5.4) $(LIBS)

$(FUZZ_BUILD)/fuzz_http_response: fuzz/fuzz_http_response.c csrc/http_response.c csrc/headers.c csrc/strbuf.c \
  csrc/errors.c $(HEADERS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -Icsrc -o $@ fuzz/fuzz_http_response.c csrc/http_response.c csrc/headers.c \
	  csrc/strbuf.c csrc/errors.c $(LIBS)

fuzz-build: $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)

fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t $(FUZZ_BUILD)/crashes fuzz/regressions/$$t; \
	  echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
	  $(FUZZ_BUILD)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	    -artifact_prefix=$(FUZZ_BUILD)/crashes/$$t- -print_final_stats=1 \
	    $(FUZZ_BUILD)/corpus/$$t fuzz/corpus/$$t fuzz/regressions/$$t 2>&1 | \
	    grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+== ERROR|SUMMARY)|Done" || true; \
	  test -z "$$(ls $(FUZZ_BUILD)/crashes/$$t-* 2>/dev/null)" || { echo "fuzz: $$t found a crash"; exit 1; }; \
	done; echo "fuzz: $(words $(FUZZ_TARGETS)) passed, 0 failed"

fuzz-short:
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=15
