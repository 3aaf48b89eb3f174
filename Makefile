# Flamecam's installer and entry points. Every target installs only what is
# missing, so running any of them twice is cheap. Run as root: loading eBPF
# programs needs it.

SHELL        := /bin/bash
.SHELLFLAGS  := -eu -o pipefail -c
VENV         ?= .venv
PY           := $(VENV)/bin/python
SYSTEM_PY    := /usr/bin/python3
KVER         := $(shell uname -r)
APT_RUNTIME  := python3-bpfcc bpfcc-tools python3-venv python3-dev libsqlite3-dev gcc make
APT_TEST     := g++ postgresql chromium linux-perf bpftool openjdk-17-jdk-headless golang-go
SEC          ?=

.PHONY: run test setup setup-test system-runtime system-test kernel-headers venv native jvm-agent lint bench clean

## make run: install what is missing, then run Flamecam.
run: setup
	$(PY) -m profiler.cli run $(if $(SEC),--seconds $(SEC))

## make test: install what is missing (test tools too), then run the whole suite.
test: setup-test
	$(PY) -m ruff check .
	$(PY) -m pytest -ra tests

setup: system-runtime kernel-headers venv
	@$(PY) -m profiler.cli doctor

setup-test: setup system-test $(VENV)/.test-installed jvm-agent

system-runtime:
	@bash .ci/need-root "install Debian packages and load eBPF programs"
	@bash .ci/apt-install $(APT_RUNTIME)

system-test:
	@bash .ci/apt-install $(APT_TEST)

# bcc compiles its programs against kernel headers at load time. Prefer the
# running kernel's own; otherwise fall back to Debian's generic ones (our
# programs read only tracepoint arguments and helpers, so layouts don't matter).
kernel-headers:
	@bash .ci/kernel-headers

$(VENV)/bin/python:
	$(SYSTEM_PY) -m venv $(VENV)

# Debian's bcc binding is pure Python over libbcc: link it into the venv
# rather than exposing every Debian package to it.
venv: $(VENV)/bin/python $(VENV)/.installed native

# The C fast paths of pprof ingest (profiler/ingest/_pprofscan.c), of naming,
# sorting and trimming stacks in a render (profiler/query/_idmap.c) and of
# reading a trace's samples from SQLite (profiler/store/_sqlcols.c); without
# them the server still works, about 8x slower per Pyroscope push, ~1.5x as
# slow per cold whole-host render (~375 instead of ~240 ms of CPU for an hour)
# and ~150 ms slower to open a trace of 100,000 events.
native: profiler/ingest/_pprofscan.so profiler/query/_idmap.so profiler/store/_sqlcols.so

PY_INCLUDE = $$($(PY) -c 'import sysconfig; print(sysconfig.get_path("include"))')

profiler/ingest/_pprofscan.so profiler/query/_idmap.so: %.so: %.c | $(VENV)/bin/python
	gcc -O2 -Wall -shared -fPIC -I"$(PY_INCLUDE)" -o $@ $<

profiler/store/_sqlcols.so: profiler/store/_sqlcols.c | $(VENV)/bin/python
	gcc -O2 -Wall -shared -fPIC -I"$(PY_INCLUDE)" -o $@ $< -lsqlite3

# Reinstalled when a top-level package appears (editable installs map packages found at install).
$(VENV)/.installed: pyproject.toml $(wildcard */__init__.py) | $(VENV)/bin/python
	site=$$($(PY) -c 'import sysconfig; print(sysconfig.get_path("purelib"))'); \
	ln -sfn /usr/lib/python3/dist-packages/bcc "$$site/bcc"
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.test-installed: pyproject.toml $(VENV)/.installed
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# The optional Java agent (for JVMs started with -javaagent); attaching to a
# running JVM needs no jar. Built with the JDK's javac and jar only.
jvm-agent:
	@if command -v javac >/dev/null && command -v jar >/dev/null; then bash runtimes/jvm/agent/build.sh; \
	else echo "flamecam: no JDK: runtimes/jvm/agent/ not built (apt-get install openjdk-17-jdk-headless)"; fi

lint: setup-test
	$(PY) -m ruff check .

bench: setup-test
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b; done

clean:
	rm -rf $(VENV) build *.egg-info profiler/ingest/_pprofscan.so profiler/query/_idmap.so \
		profiler/store/_sqlcols.so
