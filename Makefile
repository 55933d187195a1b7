# guestmm - the two Quick start commands, and a few more.
#
#   make demo   build, then run a guest with the embedded defaults
#   make test   build, then run the test suite (ctest)
#
# Both install the Debian packages they need when they are missing.

BUILD ?= build
DEBS := cmake make gcc libc6-dev libcmocka-dev liblz4-dev libzstd-dev pkg-config user-mode-linux busybox-static \
        gnuplot-nox
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build demo test bench clean

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

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

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

clean:
	rm -rf $(BUILD)
