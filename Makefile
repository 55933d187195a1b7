# guestmm - the two Quick start commands, and a few more.
#
#   make demo   build, then run a guest with the embedded defaults
#   make test   build, then run the test suite (ctest)
#   make install   the binary, its man page and the Linux guest's initramfs
#                  under PREFIX (default /usr/local); DESTDIR honoured
#
# Both install the Debian packages they need when they are missing.

BUILD ?= build
DEBS := cmake make gcc libc6-dev libcmocka-dev liblz4-dev libzstd-dev pkg-config user-mode-linux busybox-static \
        qemu-system-x86 \
        gnuplot-nox man-db
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
PREFIX ?= /usr/local
DESTDIR ?=
# pipefail: the build's status, not grep's.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c

.PHONY: all deps build demo test bench install uninstall clean

all: build

deps:
	@missing=""; for p in $(DEBS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
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

test: build
	cd $(BUILD) && ctest --output-on-failure

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
