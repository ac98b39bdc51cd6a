# mxkv — install rules (included by the top-level Makefile; also usable alone:
# `make -f mk/install.mk install PREFIX=...`).
#
#   make install                 shared library (SONAME, symlinks), static library, headers, mxkv.pc
#   make install MXNET_COMPAT=1  the same, plus libmxnet.so -> libmxkv.so.0 for MXNet-linked programs
#   make install-mxnet-compat    same as the line above
#   make uninstall               removes exactly what the installs into this PREFIX put there
#
# Honoured: PREFIX (default /usr/local), DESTDIR (staging root, not recorded in any file),
# libdir, includedir, pkgconfigdir, datadir (GNU-style overrides, e.g. a multiarch libdir),
# LDCONFIG (run after a direct install as root; `LDCONFIG=` disables it).
# The install manifest is $(datadir)/mxkv/install-manifest; uninstall reads it.

MXKV_ROOT    := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
CARGO        ?= cargo
PREFIX       ?= /usr/local
DESTDIR      ?=
libdir       ?= $(PREFIX)/lib
includedir   ?= $(PREFIX)/include
pkgconfigdir ?= $(libdir)/pkgconfig
datadir      ?= $(PREFIX)/share
MXNET_COMPAT ?= 0
LDCONFIG     ?= ldconfig

MXKV_INSTALL = DESTDIR='$(DESTDIR)' PREFIX='$(PREFIX)' MXKV_LIBDIR='$(libdir)' \
	MXKV_INCLUDEDIR='$(includedir)' MXKV_PKGCONFIGDIR='$(pkgconfigdir)' \
	MXKV_DATADIR='$(datadir)' MXKV_SRCDIR='$(MXKV_ROOT)' LDCONFIG='$(LDCONFIG)' \
	bash '$(MXKV_ROOT)/mk/install.sh'

.PHONY: install install-mxnet-compat uninstall install-release-build

# Installing never builds anything beyond `cargo build --release`; where cargo is not on PATH
# (e.g. `sudo make install`), the existing release build is installed as it is.
install-release-build:
	@if command -v $(CARGO) >/dev/null 2>&1; then \
		$(CARGO) build --release --manifest-path '$(MXKV_ROOT)/Cargo.toml'; \
	elif [ -f '$(MXKV_ROOT)/target/release/libmxkv.so' ]; then \
		echo "install: $(CARGO) not found, installing the existing build in target/release"; \
	else \
		echo "install: $(CARGO) not found and target/release/libmxkv.so missing; run make first" >&2; \
		exit 1; \
	fi

install: install-release-build
	@MXNET_COMPAT='$(MXNET_COMPAT)' $(MXKV_INSTALL) install

install-mxnet-compat: install-release-build
	@MXNET_COMPAT=1 $(MXKV_INSTALL) install

uninstall:
	@$(MXKV_INSTALL) uninstall
