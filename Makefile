# contrib-style PGXS build of segment_fdw
#
# libcurl and json-c come through pkg-config; CFLAGS are left to PGXS.

MODULE_big = segment_fdw
OBJS = \
	$(WIN32RES) \
	endpoint.o \
	fetch.o \
	http.o \
	join.o \
	list_details.o \
	option.o \
	request.o \
	response.o \
	segment_fdw.o \
	shared.o \
	url.o \
	util.o

EXTENSION = segment_fdw
DATA = segment_fdw--1.0.sql segment_fdw--1.0--1.1.sql segment_fdw--1.1--1.2.sql
PGFILEDESC = "segment_fdw - foreign data wrapper for Braze segment analytics"

REGRESS = options scan pushdown errors retries explain concurrency tls security ecosystem cron limits boundaries catalog joins shared history
REGRESS_OPTS = --load-extension=segment_fdw

PKG_CONFIG ?= pkg-config
PG_CPPFLAGS = $(shell $(PKG_CONFIG) --cflags libcurl json-c)
SHLIB_LINK = $(shell $(PKG_CONFIG) --libs libcurl json-c)

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# every object depends on the headers
$(OBJS): $(wildcard $(srcdir)/*.h)

# side-by-side benchmark against the stand-in API (not part of the tests)
.PHONY: bench
bench:
	test/bench/run

# the suites, for test/matrix
.PHONY: print-regress
print-regress:
	@echo $(REGRESS)

# make installcheck starts the stand-in Braze API around pg_regress: PGXS's
# pg_regress_installcheck, run through test/with-standin
pg_regress_installcheck = PG_BINDIR='$(bindir)' $(srcdir)/test/with-standin \
	$(top_builddir)/src/test/regress/pg_regress --inputdir=$(srcdir) \
	--bindir='$(bindir)' $(pg_regress_locale_flags) $(EXTRA_REGRESS_OPTS)

# the layers of the code (segment_util.h draws them): every build checks
# that a file includes only its own layer's headers and those below
all: check-layers

.PHONY: check-layers
check-layers:
	@$(srcdir)/test/layers $(srcdir)
