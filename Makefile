# Shelter build. `make` builds a hardened release; `make check` installs what is
# missing, builds under ASan+UBSan and runs every test; `make demo` shows the main job.
# Variants live side by side: build/release, build/asan, build/fuzz.

BUILD ?= release
O ?= build/$(BUILD)

CC ?= cc
ifeq ($(origin CC),default)
CC := cc
endif

WARN := -Wall -Wextra -Wshadow -Wformat=2 -Wvla -Wpointer-arith -Wstrict-prototypes \
	-Wmissing-prototypes -Werror
BASE_CFLAGS := -std=c17 -D_GNU_SOURCE -g $(WARN) -Iinclude -Isrc/lib -Isrc -Iapps -fvisibility=hidden \
	-fstack-protector-strong -fPIC
BASE_LDFLAGS := -Wl,-z,relro,-z,now
LIBS := -lssl -lcrypto -lcbor -ljansson -lpthread
# the CAS daemon's own libraries: policies in YAML, state in SQLite
CAS_LIBS := -lyaml -lsqlite3
# the libraries StreamLog's sources need (apps/streamlog/audit.c: libauparse, which
# brings libaudit.so.1 itself; there is no libaudit.so to name without libaudit-dev)
STREAMLOG_LIBS := -lauparse

ifeq ($(BUILD),release)
VARIANT_CFLAGS := -O2 -D_FORTIFY_SOURCE=3
VARIANT_LDFLAGS :=
else ifeq ($(BUILD),asan)
VARIANT_CFLAGS := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=all
VARIANT_LDFLAGS := -fsanitize=address,undefined
else ifeq ($(BUILD),fuzz)
CC := clang
VARIANT_CFLAGS := -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
	-fno-sanitize-recover=all
VARIANT_LDFLAGS := -fsanitize=fuzzer,address,undefined
else
$(error BUILD must be release, asan or fuzz)
endif

CFLAGS_ALL := $(BASE_CFLAGS) $(VARIANT_CFLAGS) $(CFLAGS)
LDFLAGS_ALL := $(BASE_LDFLAGS) $(VARIANT_LDFLAGS) $(LDFLAGS)

LIB_SRCS := $(sort $(wildcard src/lib/*/*.c))
CLI_SRCS := $(sort $(wildcard src/cli/*.c))
CAS_SRCS := $(sort $(wildcard src/cas/*.c))
FRESH_SRCS := $(sort $(wildcard src/freshness/*.c))
SHIELD_SRCS := $(sort $(wildcard src/shield/*.c))
# StreamLog (docs/streamlog.md): everything but the daemon's main.c, as a library
STREAMLOG_SRCS := $(filter-out apps/streamlog/main.c,$(sort $(wildcard apps/streamlog/*.c)))
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
HELPER_SRCS := $(sort $(wildcard tests/helpers/*.c))
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))

LIB_OBJS := $(LIB_SRCS:%.c=$(O)/obj/%.o)
CLI_OBJS := $(CLI_SRCS:%.c=$(O)/obj/%.o)
CAS_OBJS := $(CAS_SRCS:%.c=$(O)/obj/%.o)
FRESH_OBJS := $(FRESH_SRCS:%.c=$(O)/obj/%.o)
SHIELD_OBJS := $(SHIELD_SRCS:%.c=$(O)/obj/%.o)
STREAMLOG_OBJS := $(STREAMLOG_SRCS:%.c=$(O)/obj/%.o)
# the file shield without its start-up (which needs a TEE): linked into test_shield
SHIELD_CORE := real log mount fdtab fd io fs map transfer stdio dir
SHIELD_CORE_OBJS := $(filter $(SHIELD_CORE:%=$(O)/obj/src/shield/%.o),$(SHIELD_OBJS))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(O)/tests/%)
HELPER_BINS := $(HELPER_SRCS:tests/helpers/%.c=$(O)/tests/%)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(O)/fuzz/%)

LIBA := $(O)/lib/libshelter.a
LIBSO := $(O)/lib/libshelter.so
LIBCAS := $(O)/lib/libshelter-cas.a
# the freshness service: endorser and coordinator (docs/protocols/freshness.md)
LIBFRESH := $(O)/lib/libshelter-fresh.a
# the shield: preloaded into programs by `shelter run` (docs/shield.md)
SHIELD := $(O)/lib/libshelter-shield.so
LIBSTREAMLOG := $(O)/lib/libstreamlog.a
STREAMLOG := $(O)/bin/streamlog
SHELTER := $(O)/bin/shelter

.PHONY: all deps check demo fuzz bench clean symbols
.DEFAULT_GOAL := all

ifeq ($(BUILD),fuzz)
all: $(FUZZ_BINS)
else
all: $(SHELTER) $(STREAMLOG) $(LIBSO) $(SHIELD) $(UNIT_BINS) $(HELPER_BINS)
endif

$(O)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(OBJ_CFLAGS) -MMD -MP -c $< -o $@

# The shield defines libc's own functions (read, pread, realpath...), which
# _FORTIFY_SOURCE turns into inline wrappers in the headers: it is built without
# them. The programs it runs keep their own fortified calls.
$(O)/obj/src/shield/%.o: OBJ_CFLAGS := -U_FORTIFY_SOURCE

$(LIBA): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIBCAS): $(CAS_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIBFRESH): $(FRESH_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIBSTREAMLOG): $(STREAMLOG_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# The viewer's page (apps/streamlog/VIEWER.md): each file of apps/streamlog/www/ becomes
# a C string www_<name> (index.html: www_index_html), with sed only. `\?` keeps a
# "??" in JavaScript from being read as a C trigraph.
STREAMLOG_WWW := $(sort $(wildcard apps/streamlog/www/*))
$(O)/gen/streamlog_www.h: $(STREAMLOG_WWW)
	@mkdir -p $(dir $@)
	for f in $^; do printf 'static const char www_%s[] =\n' "$$(basename $$f | tr .- __)"; \
		sed -e 's/[\\"?]/\\&/g' -e 's/^/"/' -e 's/$$/\\n"/' "$$f"; echo ';'; done >$@.tmp
	mv $@.tmp $@
$(O)/obj/apps/streamlog/view_api.o: $(O)/gen/streamlog_www.h
$(O)/obj/apps/streamlog/view_api.o: OBJ_CFLAGS := -I$(O)/gen

$(LIBSO): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) -shared $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

# Only the interposed libc functions are exported (SHIELD_EXPORT); libshelter is
# linked in whole and hidden, so the program's own OpenSSL symbols never clash. The
# freshness client (bound volumes, docs/shield.md §6.6) comes from $(LIBFRESH): its
# objects are -fPIC like every other, and only the client's are pulled in.
$(SHIELD): $(SHIELD_OBJS) $(LIBFRESH) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) -shared $(LDFLAGS_ALL) -Wl,--exclude-libs,ALL -o $@ $(SHIELD_OBJS) $(LIBFRESH) $(LIBA) \
		$(LIBS) -ldl

$(SHELTER): $(CLI_OBJS) $(LIBFRESH) $(LIBCAS) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $(CLI_OBJS) $(LIBFRESH) $(LIBCAS) $(LIBA) $(LIBS) $(CAS_LIBS)

# the freshness anchor (apps/streamlog/anchor.c) needs the freshness client only: no
# store, hence none of $(CAS_LIBS)
$(STREAMLOG): $(O)/obj/apps/streamlog/main.o $(LIBSTREAMLOG) $(LIBFRESH) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $< $(LIBSTREAMLOG) $(LIBFRESH) $(LIBA) $(LIBS) $(STREAMLOG_LIBS)

$(O)/tests/%: $(O)/obj/tests/unit/%.o $(LIBSTREAMLOG) $(LIBFRESH) $(LIBCAS) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $< $(LIBSTREAMLOG) $(LIBFRESH) $(LIBCAS) $(LIBA) $(LIBS) $(CAS_LIBS) \
		$(STREAMLOG_LIBS)

$(O)/tests/test_shield: $(O)/obj/tests/unit/test_shield.o $(SHIELD_CORE_OBJS) $(LIBFRESH) $(LIBCAS) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $< $(SHIELD_CORE_OBJS) $(LIBFRESH) $(LIBCAS) $(LIBA) $(LIBS) $(CAS_LIBS) -ldl

# the tag record (tags.c) with the files it calls, without the start-up
$(O)/tests/test_shield_tags: $(O)/obj/tests/unit/test_shield_tags.o \
		$(O)/obj/src/shield/tags.o $(O)/obj/src/shield/bind.o \
		$(O)/obj/src/shield/log.o $(O)/obj/src/shield/real.o \
		$(LIBFRESH) $(LIBCAS) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $(filter %.o,$^) $(LIBFRESH) $(LIBCAS) $(LIBA) $(LIBS) $(CAS_LIBS) -ldl

$(O)/tests/%: $(O)/obj/tests/helpers/%.o $(LIBFRESH) $(LIBCAS) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $< $(LIBFRESH) $(LIBCAS) $(LIBA) $(LIBS) $(CAS_LIBS)

# the helpers that use StreamLog's library
$(O)/tests/sl_audit_feed: $(O)/obj/tests/helpers/sl_audit_feed.o $(LIBSTREAMLOG) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $< $(LIBSTREAMLOG) $(LIBA) $(LIBS) $(STREAMLOG_LIBS)

$(O)/fuzz/%: $(O)/obj/tests/fuzz/%.o $(LIBSTREAMLOG) $(LIBFRESH) $(LIBCAS) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $< $(LIBSTREAMLOG) $(LIBFRESH) $(LIBCAS) $(LIBA) $(LIBS) $(CAS_LIBS) \
		$(STREAMLOG_LIBS)

# fuzzers of shield parsers: the one file under test and real.o, never launch.o
$(O)/fuzz/fuzz_tagrec: $(O)/obj/tests/fuzz/fuzz_tagrec.o $(O)/obj/src/shield/tags.o \
		$(O)/obj/src/shield/bind.o $(O)/obj/src/shield/real.o $(LIBFRESH) $(LIBCAS) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $(filter %.o,$^) $(LIBFRESH) $(LIBCAS) $(LIBA) $(LIBS) $(CAS_LIBS) -ldl

$(O)/fuzz/fuzz_shield_path: $(O)/obj/tests/fuzz/fuzz_shield_path.o $(O)/obj/src/shield/mount.o \
		$(O)/obj/src/shield/real.o $(LIBFRESH) $(LIBCAS) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $(filter %.o,$^) $(LIBFRESH) $(LIBCAS) $(LIBA) $(LIBS) $(CAS_LIBS) -ldl

deps:
	@scripts/install-deps.sh

# The README's test command: everything under ASan+UBSan, then a short fuzz run.
check: deps
	$(MAKE) BUILD=asan all
	$(MAKE) BUILD=release all
	$(MAKE) BUILD=fuzz all
	tests/run.sh

demo: deps
	$(MAKE) BUILD=release all
	scripts/demo.sh

fuzz: deps
	$(MAKE) BUILD=fuzz all
	tests/fuzz/run.sh $(or $(SECONDS_PER_TARGET),300)

bench: deps
	$(MAKE) BUILD=release all
	bench/volume/run.sh
	bench/cas/run.sh
	bench/shield/run.sh
	bench/freshness/run.sh
	bench/streamlog/run.sh

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
