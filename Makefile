# guestmm - the two Quick start commands, and a few more.
#
#   make demo   build, then run a guest with the embedded defaults
#   make test   build, then run the test suite (ctest)
#   make install   the binary, its man page, the Linux guest's initramfs
#                  and the guest kernel's image under PREFIX (default
#                  /usr/local); DESTDIR honoured
#
# Both install the Debian packages they need when they are missing
# (make ... NO_DEPS=1: never; the missing ones are named).

BUILD ?= build
DEBS := cmake make gcc libc6-dev libcmocka-dev libjson-c-dev libmicrohttpd-dev liblz4-dev libzstd-dev pkg-config user-mode-linux busybox-static \
        gnuplot-nox man-db qemu-system-x86 prometheus
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
PREFIX ?= /usr/local
DESTDIR ?=
# pipefail: the build's status, not grep's.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c

.PHONY: all deps build demo test bench install uninstall clean

all: build

# A package is installed when the third word of dpkg's status ("want error
# state") is installed, triggers-pending or triggers-awaited: its files are
# there, only another package's trigger is left to run (man-db's, after an
# upgrade).  apt-get runs only for what is missing, and never with
# NO_DEPS=1 (it then names what is missing and goes on).
deps:
	@missing=""; for p in $(DEBS); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
	    awk '$$3 == "installed" || $$3 == "triggers-pending" || $$3 == "triggers-awaited" { ok = 1 } \
	         END { exit !ok }' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ] && [ -n "$(NO_DEPS)" ]; then \
	  echo "guestmm: NO_DEPS: not installing the missing Debian packages:$$missing"; \
	elif [ -n "$$missing" ]; then \
	  echo "guestmm: installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" -ne 0 ] && SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null || exit 1; \
	fi

# Quiet: no "Entering/Leaving directory" lines and no "Built target" line
# per target, so a build with nothing to do prints nothing; what is
# compiled, warnings and errors still show.
build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	       -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) -- --no-print-directory 2>&1 | \
	 { grep -v '^\[ *[0-9]*%\] Built target ' || true; }

demo: build
	./$(BUILD)/guestmm run

# Two tests at a time on two cores: most of them wait (report delays, a
# guest's boot); the kernel's tests ask for both cores (PROCESSORS 2).
test: build
	cd $(BUILD) && ctest --output-on-failure -j$(shell nproc)

bench: build
	./$(BUILD)/guestmm bench overhead
	./$(BUILD)/guestmm bench return
	./$(BUILD)/guestmm bench alloc
	./$(BUILD)/guestmm bench discard
	./$(BUILD)/guestmm bench scale --plot $(BUILD)/scale.png

# The prefix is compiled in (the last place the binary looks for the
# initramfs), hence the build first.  $(BUILD)/installed.txt lists what was
# installed, DESTDIR included, for uninstall (cmake's own manifest leaves
# DESTDIR out, and the install test rewrites it).
install: build
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD)
	@sed 's|^|$(DESTDIR)|' $(BUILD)/install_manifest.txt >$(BUILD)/installed.txt

uninstall:
	@test -f $(BUILD)/installed.txt || \
	 { echo "guestmm: uninstall: nothing installed from $(BUILD) (no $(BUILD)/installed.txt)"; exit 1; }
	xargs -d '\n' rm -fv <$(BUILD)/installed.txt
	@grep '/initrd.gz$$' $(BUILD)/installed.txt | xargs -r -d '\n' dirname | \
	 xargs -r -d '\n' rmdir --ignore-fail-on-non-empty
	@rm -f $(BUILD)/installed.txt

clean:
	rm -rf $(BUILD)
