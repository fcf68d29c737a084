# Install the six xmpp-pipes tools, the user commands made of them
# (examples/: xmpp-notify, xmpp-room-notify, xmpp-watch-log, xmpp-echo-bot,
# xmpp-ii) and their manual pages; or make a Debian package of them all.
#
#   make install                      build (release) and install under /usr/local
#   make install PREFIX=$$HOME/.local  ... under your home instead (no root needed)
#   make install DESTDIR=/tmp/pkg     stage the files for a package
#   make uninstall PREFIX=...         remove what `make install` put there
#   make deb                          build (release) and make
#                                     target/xmpp-pipes_VERSION_ARCH.deb (dpkg-deb)
#
# Variables: PREFIX (default /usr/local), DESTDIR (default empty), PROFILE
# (cargo's profile: release, the default, or debug), CARGO, TARGET_DIR
# (default $CARGO_TARGET_DIR, else target). `make install-built` and
# `make deb-built` use what is already built for PROFILE without running
# cargo. For the package: DEB_DIR (where the .deb goes, default TARGET_DIR),
# DEB_STAGE (its staging tree, default TARGET_DIR/deb-root), DEB_COMPRESS
# (dpkg-deb -Z: xz, the default, gzip, zstd or none), DEB_MAINTAINER
# ("Name <address>"; default $DEBFULLNAME <$DEBEMAIL>, else git's user).
#
# The user commands find the tools in their own directory (symlinks
# resolved) before PATH, so a crontab with cron's PATH=/usr/bin:/bin runs
# $HOME/.local/bin/xmpp-notify as well as /usr/bin/xmpp-notify.

PREFIX ?= /usr/local
DESTDIR ?=
PROFILE ?= release
CARGO ?= cargo
TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),target)
INSTALL ?= install
DEB_DIR ?= $(TARGET_DIR)
DEB_STAGE ?= $(TARGET_DIR)/deb-root
DEB_COMPRESS ?= xz

TOOLS = xmpp-connect xmpp-auth stanza-split stanza-fmt jid-route xmpp-upload
# The scripts of examples/ that are installed, as SCRIPT:COMMAND.
SCRIPTS = notify:xmpp-notify room-notify:xmpp-room-notify watch-log:xmpp-watch-log \
    echo-bot:xmpp-echo-bot ii-client:xmpp-ii
COMMANDS = $(foreach pair,$(SCRIPTS),$(lastword $(subst :, ,$(pair))))
PAGES = $(TOOLS) $(COMMANDS)
BINDIR = $(DESTDIR)$(PREFIX)/bin
MAN1DIR = $(DESTDIR)$(PREFIX)/share/man/man1
# cargo calls the debug profile "dev" but puts its binaries in target/debug.
CARGO_PROFILE = $(if $(filter debug,$(PROFILE)),dev,$(PROFILE))
BUILT = $(TARGET_DIR)/$(PROFILE)

.PHONY: all build install install-built uninstall deb deb-built

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
	@set -e; for pair in $(SCRIPTS); do \
	    echo "$(INSTALL) -m 755 examples/$${pair%%:*} \"$(BINDIR)/$${pair#*:}\""; \
	    $(INSTALL) -m 755 "examples/$${pair%%:*}" "$(BINDIR)/$${pair#*:}"; \
	done
	$(INSTALL) -m 644 $(PAGES:%=man/%.1) "$(MAN1DIR)"
	@echo "installed $(TOOLS) $(COMMANDS) in $(BINDIR), their manual pages in $(MAN1DIR)"

uninstall:
	rm -f $(PAGES:%="$(BINDIR)/%") $(PAGES:%="$(MAN1DIR)/%.1")

# The Debian package: what `make install PREFIX=/usr` installs, staged in
# DEB_STAGE, then packaging/deb/build adds the docs and DEBIAN/control.
deb: build
	@$(MAKE) --no-print-directory deb-built

deb-built:
	rm -rf "$(DEB_STAGE)"
	@$(MAKE) --no-print-directory install-built DESTDIR="$(DEB_STAGE)" PREFIX=/usr
	DEB_COMPRESS="$(DEB_COMPRESS)" DEB_MAINTAINER="$(DEB_MAINTAINER)" \
	    packaging/deb/build "$(DEB_STAGE)" "$(DEB_DIR)" $(TOOLS)
