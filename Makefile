# mxkv — one entry point for building, the demo, the benchmark and every test.
#
#   make demo    build the library and run the data-parallel training demo
#   make test    install what the tests need, then run every test
#   make bench   run the benchmark (prints ratios against a plain C baseline)
#   make demo-dist / bench-dist   the same across MPI ranks (needs Open MPI)

CARGO     ?= cargo
CC        ?= gcc
LIBDIR    := $(CURDIR)/target/release
BUILD     := $(CURDIR)/build
CFLAGS    ?= -O2 -g
CFLAGS    += -std=c99 -Wall -Wextra -pedantic -I$(CURDIR)/include
LDFLAGS   += -L$(LIBDIR) -Wl,-rpath,$(LIBDIR)
LDLIBS    += -lmxkv -lm -lpthread

.PHONY: all lib header demo bench test deps test-rust test-header test-c test-dist test-perl test-python test-readme test-pkg peer-tests soak demo-dist bench-dist clean

# The cargo features of this machine's library, decided when a recipe runs (after `deps` may
# have installed MPI): `dist`, the distributed engine, when MPI's development files are there.
FEATURES  = $$(bash $(CURDIR)/mk/features.sh)

all: lib

# The library's SONAME is libmxkv.so.0; the link lets programs built against
# target/release find it there.
lib:
	$(CARGO) build --release --features "$(FEATURES)"
	@# cargo calls the build fresh when a build with other features (a package's, a shim's)
	@# replaced its output since: then the library lacks MPI, and mxkv is built again.
	@if [ -n "$(FEATURES)" ] && ! nm -D $(LIBDIR)/libmxkv.so | grep -q ' MPI_Init'; then \
	  $(CARGO) clean --release -p mxkv && $(CARGO) build --release --features "$(FEATURES)"; \
	fi
	ln -sf libmxkv.so $(LIBDIR)/libmxkv.so.0
	@if [ -n "$(FEATURES)" ]; then \
	  echo "mxkv: built with the distributed engine (MPI): dist_sync and dist_async stores work under mpirun"; \
	else \
	  echo "mxkv: built without the distributed engine: no MPI development files (apt-get install openmpi-bin libopenmpi-dev libclang-dev pkg-config, then make lib)"; \
	fi

# The committed header is generated from the Rust source (cbindgen 0.29.4, pinned in .ci/deps.sh).
header:
	cbindgen --quiet --config cbindgen.toml --output include/mxkv.h .
	python3 .ci/api-doc.py

$(BUILD)/examples/%: examples/%.c include/mxkv.h lib
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LDFLAGS) $(LDLIBS)

$(BUILD)/benches/%: benches/%.c include/mxkv.h lib
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -O3 -march=native -o $@ $< $(LDFLAGS) $(LDLIBS)

demo: $(BUILD)/examples/train
	$(BUILD)/examples/train

bench: $(BUILD)/benches/bench $(BUILD)/benches/compression $(BUILD)/benches/sparse
	$(BUILD)/benches/bench
	$(BUILD)/benches/compression
	$(BUILD)/benches/sparse

# The training demo across MPI ranks: 1 server and 2 workers of 2 devices each (the local
# demo's 4 devices), then serverless with 2 workers.
demo-dist: $(BUILD)/examples/train
	DMLC_NUM_SERVER=1 bash mk/mpirun.sh -np 3 $(BUILD)/examples/train 2 10 dist_sync
	DMLC_NUM_SERVER=0 bash mk/mpirun.sh -np 2 $(BUILD)/examples/train 2 10 dist_sync

# The distributed benchmark: the store against MPI_Allreduce, with a server and serverless.
$(BUILD)/benches/dist: benches/dist.c include/mxkv.h lib
	@mkdir -p $(dir $@)
	mpicc $(CFLAGS) -O3 -o $@ $< $(LDFLAGS) $(LDLIBS)

bench-dist: $(BUILD)/benches/dist
	DMLC_NUM_SERVER=1 bash mk/mpirun.sh -np 3 $(BUILD)/benches/dist
	DMLC_NUM_SERVER=0 bash mk/mpirun.sh -np 2 $(BUILD)/benches/dist

deps:
	bash .ci/deps.sh

test: deps test-rust test-header test-c test-dist test-perl test-python test-readme test-pkg

# Unit tests and doc examples (with the optional ndarray views), then the Rust demo.
test-rust:
	$(CARGO) test --release --features "ndarray $(FEATURES)"
	$(CARGO) run --release --features "ndarray $(FEATURES)" --example train

test-header:
	bash .ci/check-header.sh

test-c: lib
	bash c-tests/run.sh

# The distributed stores under mpirun: C programs in every role (c-tests/dist/).
test-dist: lib
	bash c-tests/dist/run.sh

test-perl: lib
	bash perl-shim/run-tests.sh

test-python: lib
	bash python/run-tests.sh

# The README's examples (needs the Perl shim and the Python venv built by the two above).
test-readme: lib
	bash .ci/check-readme.sh

# Install, pkg-config and drop-in tests; then the Python wheel and the Perl shim as users build and
# install them (.ci/check-packages.sh).
test-pkg: lib
	bash c-tests/pkg/run.sh
	bash .ci/check-packages.sh

# MXNet 1.9.1's own test files, run unmodified from a copy outside the repository.
peer-tests: lib
	MXNET_SRC=$(MXNET_SRC) PEER_SUITES="$(PEER_SUITES)" bash .ci/peer-tests.sh

# Random sequences of C API calls checked against a model, under ASan+UBSan, for SECONDS
# (make test runs the same program for 2 s with seed 1 in every mode of c-tests/run.sh).
SECONDS ?= 60
SEED    ?= $(shell date +%s)
soak: lib
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -DMXKV_BUILD_DIR=\"$(BUILD)\" \
		-o $(BUILD)/soak c-tests/test_soak.c $(LDFLAGS) $(LDLIBS)
	MXKV_SOAK_SECONDS=$(SECONDS) MXKV_SOAK_SEED=$(SEED) $(BUILD)/soak

clean:
	$(CARGO) clean
	rm -rf $(BUILD)

# make install / install-mxnet-compat / uninstall (PREFIX, DESTDIR honoured)
include mk/install.mk
