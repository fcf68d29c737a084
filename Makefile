# Install the five xmpp-pipes tools and their manual pages.
#
#   make install                      build (release) and install under /usr/local
#   make install PREFIX=$$HOME/.local  ... under your home instead (no root needed)
#   make install DESTDIR=/tmp/pkg     stage the files for a package
#   make uninstall PREFIX=...         remove what `make install` put there
#
# Variables: PREFIX (default /usr/local), DESTDIR (default empty), PROFILE
# (cargo's profile: release, the default, or debug), CARGO, TARGET_DIR
# (default $CARGO_TARGET_DIR, else target). `make install-built` installs
# what is already built for PROFILE without running cargo.

PREFIX ?= /usr/local
DESTDIR ?=
PROFILE ?= release
CARGO ?= cargo
TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),target)
INSTALL ?= install

TOOLS = xmpp-connect xmpp-auth stanza-split stanza-fmt jid-route
BINDIR = $(DESTDIR)$(PREFIX)/bin
MAN1DIR = $(DESTDIR)$(PREFIX)/share/man/man1
# cargo calls the debug profile "dev" but puts its binaries in target/debug.
CARGO_PROFILE = $(if $(filter debug,$(PROFILE)),dev,$(PROFILE))
BUILT = $(TARGET_DIR)/$(PROFILE)

.PHONY: all build install install-built uninstall

all: build

build:
	$(CARGO) build --locked --profile $(CARGO_PROFILE) --target-dir $(TARGET_DIR) --workspace --bins

# Build first, then install (in this order even under make -j).
install: build
	@$(MAKE) --no-print-directory install-built

install-built:
	@for tool in $(TOOLS); do \
	    test -x "$(BUILT)/$$tool" || { \
	        echo "make: $(BUILT)/$$tool is not built: run make build PROFILE=$(PROFILE)" >&2; \
	        exit 1; }; \
	done
	$(INSTALL) -d -m 755 "$(BINDIR)" "$(MAN1DIR)"
	$(INSTALL) -m 755 $(TOOLS:%="$(BUILT)/%") "$(BINDIR)"
	$(INSTALL) -m 644 $(TOOLS:%=man/%.1) "$(MAN1DIR)"
	@echo "installed $(TOOLS) in $(BINDIR), their manual pages in $(MAN1DIR)"

uninstall:
	rm -f $(TOOLS:%="$(BINDIR)/%") $(TOOLS:%="$(MAN1DIR)/%.1")
