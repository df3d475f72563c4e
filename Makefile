# Causeway: build, test, demo and benchmarks.  See README.md.
#   make            build the daemons and the CLI into build/bin
#   make install    the programs, systemd units and logrotate file (PREFIX, DESTDIR)
#   make test       install missing Debian packages, build, run every test
#   make demo       install missing Debian packages, build, start a demo edge
#   make bench-turn TURN benchmark side by side with coturn
#   make bench-tunnel SSH tunnel benchmark side by side with OpenSSH's ssh -R
#   make bench-proxy  web proxy benchmark side by side with nginx and HAProxy
#   make bench-xmpp   XMPP core benchmark side by side with Prosody; cluster failover
#   make bench-directory XMPP core with 20,000 accounts and their rosters, against Prosody
#   make bench-federation XMPP federation (edge + tunnel + core) against Prosody to Prosody

CC      ?= cc
# Parallel jobs for the builds that make test and make demo start.
JOBS    ?= $(shell nproc 2>/dev/null || echo 2)
CLANG   ?= clang
PKGS    := libuv libssl libcrypto libcares expat liburing
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lcrypt   # libcrypt: admin password hashes (yescrypt)
NICE_CFLAGS := $(shell pkg-config --cflags nice 2>/dev/null)
NICE_LIBS   := $(shell pkg-config --libs nice 2>/dev/null)
CORE_LIBS   := $(shell pkg-config --libs libssh2 raft nice 2>/dev/null)   # causeway-core: tunnels, cluster, TURN check

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CFLAGS  ?= -O2 -g
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE -pthread $(WARN) $(CFLAGS) -I. $(PKG_CFLAGS)
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
TSAN    := -fsanitize=thread -fno-omit-frame-pointer

LIBDIRS := common turn webproxy xmpp admin
B       := build
BIN     := $(B)/bin

src_of   = $(sort $(wildcard $(1)/*.c))
objs_of  = $(patsubst %.c,$(2)/%.o,$(call src_of,$(1)))

LIB_common := $(B)/lib/libcwcommon.a
LIB_turn   := $(B)/lib/libcwturn.a
LIB_webproxy := $(B)/lib/libcwwebproxy.a
LIB_xmpp   := $(B)/lib/libcwxmpp.a
LIB_admin  := $(B)/lib/libcwadmin.a
# admin uses webproxy's HTTP parser: it comes first.
LIBS_ALL   := $(LIB_admin) $(LIB_turn) $(LIB_webproxy) $(LIB_xmpp) $(LIB_common)
ASAN_LIBS  := $(B)/asan/lib/libcwadmin.a $(B)/asan/lib/libcwturn.a $(B)/asan/lib/libcwwebproxy.a $(B)/asan/lib/libcwxmpp.a $(B)/asan/lib/libcwcommon.a

# Library archives list their objects by folder: needs secondary expansion.
.SECONDEXPANSION:
# Objects made through pattern rules stay (make would delete them as intermediate).
.SECONDARY:

.PHONY: all deps build install uninstall test unit unit-asan fuzz demo demo-stop bench-turn bench-tunnel bench-proxy bench-xmpp bench-directory bench-federation clean
all: build
build: $(BIN)/causeway-edge $(BIN)/causeway-core $(BIN)/causeway

deps:
	@sh scripts/install-deps.sh

# --- objects: normal and sanitized variants -------------------------------
$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(B)/lib/libcw%.a: $$(call objs_of,$$*,$(B)/obj)
	@mkdir -p $(dir $@)
	rm -f $@; ar rcs $@ $^

$(BIN)/causeway-edge: $(call objs_of,edge,$(B)/obj) $(LIBS_ALL)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(PKG_LIBS) -lm

# The core's TURN check runs a libnice agent (GLib headers for core/).
$(B)/obj/core/%.o: ALL_CFLAGS += $(NICE_CFLAGS)
$(B)/asan/obj/core/%.o: ALL_CFLAGS += $(NICE_CFLAGS)
$(B)/tsan/obj/core/%.o: ALL_CFLAGS += $(NICE_CFLAGS)

$(BIN)/causeway-core: $(call objs_of,core,$(B)/obj) $(LIBS_ALL)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(PKG_LIBS) $(CORE_LIBS) -lm

# The CLI reads both daemons' configuration files and edits their key files.
CLI_SHARED := edge/config.o edge/tunnel_keys.o core/config.o core/pairing.o
$(BIN)/causeway: $(call objs_of,cli,$(B)/obj) $(addprefix $(B)/obj/,$(CLI_SHARED)) $(LIBS_ALL)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(PKG_LIBS) -lm

# Sanitized variants of the libraries and daemons, in build/VARIANT/:
# asan (ASan+UBSan: the integration tests run these) and tsan (the
# multi-worker test runs again under ThreadSanitizer).
define sanitized
$(B)/$(1)/obj/%.o: %.c
	@mkdir -p $$(dir $$@)
	$$(CC) $$(ALL_CFLAGS) $(2) -MMD -MP -c $$< -o $$@

$(B)/$(1)/lib/libcw%.a: $$$$(call objs_of,$$$$*,$(B)/$(1)/obj)
	@mkdir -p $$(dir $$@)
	rm -f $$@; ar rcs $$@ $$^

$(B)/$(1)/bin/causeway-edge: $$(call objs_of,edge,$(B)/$(1)/obj) $(B)/$(1)/lib/libcwadmin.a $(B)/$(1)/lib/libcwturn.a $(B)/$(1)/lib/libcwwebproxy.a $(B)/$(1)/lib/libcwxmpp.a $(B)/$(1)/lib/libcwcommon.a
	@mkdir -p $$(dir $$@)
	$$(CC) $$(ALL_CFLAGS) $(2) -o $$@ $$^ $$(PKG_LIBS) -lm

$(B)/$(1)/bin/causeway-core: $$(call objs_of,core,$(B)/$(1)/obj) $(B)/$(1)/lib/libcwadmin.a $(B)/$(1)/lib/libcwturn.a $(B)/$(1)/lib/libcwwebproxy.a $(B)/$(1)/lib/libcwxmpp.a $(B)/$(1)/lib/libcwcommon.a
	@mkdir -p $$(dir $$@)
	$$(CC) $$(ALL_CFLAGS) $(2) -o $$@ $$^ $$(PKG_LIBS) $$(CORE_LIBS) -lm

$(B)/$(1)/bin/causeway: $$(call objs_of,cli,$(B)/$(1)/obj) $$(addprefix $(B)/$(1)/obj/,$$(CLI_SHARED)) $(B)/$(1)/lib/libcwadmin.a $(B)/$(1)/lib/libcwturn.a $(B)/$(1)/lib/libcwwebproxy.a $(B)/$(1)/lib/libcwxmpp.a $(B)/$(1)/lib/libcwcommon.a
	@mkdir -p $$(dir $$@)
	$$(CC) $$(ALL_CFLAGS) $(2) -o $$@ $$^ $$(PKG_LIBS) -lm
endef
$(eval $(call sanitized,asan,$(SAN)))
$(eval $(call sanitized,tsan,$(TSAN)))

# --- tests ----------------------------------------------------------------
UNIT_SRC := $(call src_of,tests/unit) core/sshctr.c core/turncheck_text.c core/xmpp_store.c
$(B)/tests/unit: $(patsubst %.c,$(B)/obj/%.o,$(UNIT_SRC)) $(LIBS_ALL)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(B)/tests/unit-asan: $(patsubst %.c,$(B)/asan/obj/%.o,$(UNIT_SRC)) $(ASAN_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN) -o $@ $^ $(PKG_LIBS) -lm

# Test helper programs (load generators, libnice agents): one .c each.
TOOL_SRC := $(call src_of,tests/tools)
TOOLS    := $(patsubst tests/tools/%.c,$(B)/tests/%,$(TOOL_SRC))
$(B)/tests/%: $(B)/obj/tests/tools/%.o $(LIBS_ALL)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(PKG_LIBS) $(NICE_LIBS) -lm

$(B)/obj/tests/tools/%.o: tests/tools/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(NICE_CFLAGS) -MMD -MP -c $< -o $@

# libFuzzer harnesses: clang, the parsers' sources compiled in directly.
FUZZ_SRC := $(call src_of,tests/fuzz)
FUZZERS  := $(patsubst tests/fuzz/%.c,$(B)/fuzz/%,$(FUZZ_SRC))
FUZZ_LIB_SRC := $(call src_of,common) $(call src_of,turn) $(call src_of,xmpp) webproxy/http.c edge/tunnel_keys.c admin/form.c
$(B)/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB_SRC)
	@mkdir -p $(dir $@)
	$(CLANG) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -O1 -I. $(PKG_CFLAGS) \
	    -fsanitize=fuzzer,address,undefined -o $@ $^ $(PKG_LIBS) -lm

unit: $(B)/tests/unit
	$(B)/tests/unit
unit-asan: $(B)/tests/unit-asan
	$(B)/tests/unit-asan
fuzz: $(FUZZERS)

test: deps
	@$(MAKE) --no-print-directory -j$(JOBS) build $(B)/tests/unit $(B)/tests/unit-asan $(TOOLS) $(FUZZERS) \
	    $(B)/asan/bin/causeway-edge $(B)/asan/bin/causeway-core $(B)/asan/bin/causeway \
	    $(B)/tsan/bin/causeway-edge $(B)/tsan/bin/causeway
	@sh tests/run.sh

demo:
	@sh scripts/install-deps.sh demo
	@$(MAKE) --no-print-directory -j$(JOBS) build
	@sh scripts/demo.sh

demo-stop:
	@sh scripts/demo.sh stop

bench-turn: deps
	@$(MAKE) --no-print-directory build $(TOOLS)
	@bash bench/turn.sh

bench-tunnel: deps
	@$(MAKE) --no-print-directory build $(TOOLS)
	@bash bench/tunnel.sh

bench-proxy: deps
	@$(MAKE) --no-print-directory build
	@bash bench/proxy.sh

bench-xmpp: deps
	@$(MAKE) --no-print-directory build
	@bash bench/xmpp.sh

bench-directory: deps
	@$(MAKE) --no-print-directory build
	@bash bench/directory.sh

bench-federation: deps
	@$(MAKE) --no-print-directory build
	@bash bench/federation.sh

# make install [PREFIX=/usr/local] [DESTDIR=...]: the programs, the systemd
# units (their paths follow BINDIR) and the logrotate file. The account, the
# configuration and the state directories are the administrator's
# (docs/deployment.md).
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc
UNITS      := causeway-edge.service causeway-core.service

install: build
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/logrotate.d
	install -m 755 $(BIN)/causeway-edge $(BIN)/causeway-core $(BIN)/causeway $(DESTDIR)$(BINDIR)/
	for u in $(UNITS); do \
	    sed 's|@BINDIR@|$(BINDIR)|g' dist/$$u.in > $(DESTDIR)$(UNITDIR)/$$u && \
	    chmod 644 $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	install -m 644 dist/logrotate $(DESTDIR)$(SYSCONFDIR)/logrotate.d/causeway
	@echo "installed in $(DESTDIR)$(BINDIR), $(DESTDIR)$(UNITDIR) and" \
	    "$(DESTDIR)$(SYSCONFDIR)/logrotate.d; next: docs/deployment.md, \"Files and permissions\""

uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,causeway-edge causeway-core causeway) \
	    $(addprefix $(DESTDIR)$(UNITDIR)/,$(UNITS)) $(DESTDIR)$(SYSCONFDIR)/logrotate.d/causeway

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
