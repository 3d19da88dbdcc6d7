# check_smtp_helo: make demo | make test | make test-pythons | make lint | make fuzz | make bench
#                  make graphs | make dist | make deb | make pyz | make rpm
#
# PYTHON builds .venv. The project is installed into it (not in editable mode), so the
# tests run the console script exactly as an administrator's installation would.
# make bench measures on BENCH_PYTHON, Debian's /usr/bin/python3 where there is one: the
# interpreter that README installs the plugin on for Icinga 2 and Nagios.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BENCH_PYTHON ?= $(firstword $(wildcard /usr/bin/python3) $(PYTHON))
BENCH_VENV   ?= .venv-bench
BASKET := icinga-config/director/smtp_helo-basket.json
SOURCES := setup.cfg pyproject.toml $(wildcard check_smtp_helo/*.py check_smtp_helo/*/*.py)
# the interpreter of the single file: Debian's own
SYSTEM_PYTHON ?= /usr/bin/python3
VERSION := $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' check_smtp_helo/__init__.py)
PYZ     := dist/check_smtp_helo.pyz
# the interpreter the RPM's modules are compiled for: RHEL 9's is 3.9, e.g.
#   make rpm RPM_PYTHON=$(HOME)/.pyenv/versions/3.9.18/bin/python3.9
RPM_PYTHON ?= /usr/bin/python3

.PHONY: demo test test-pythons lint fuzz bench docs basket graphs clean dist deb pyz rpm

# $(call venv,PYTHON,DIR): DIR is a venv of PYTHON with the project and its test and dev extras
define venv
	test -x $(2)/bin/python || $(1) -m venv $(2)
	rm -rf build/lib  # setuptools' staging: a module moved away would stay in it, and be installed
	$(2)/bin/python -m pip install --quiet --upgrade pip
	$(2)/bin/python -m pip install --quiet '.[test,dev]'
	touch $(2)/.installed
endef

$(STAMP): $(SOURCES)
	$(call venv,$(PYTHON),$(VENV))

$(BENCH_VENV)/.installed: $(SOURCES)
	$(call venv,$(BENCH_PYTHON),$(BENCH_VENV))

## make demo: start a local SMTP server, run the check against it, show output and exit code
demo: $(STAMP)
	$(BIN)/python tests/support/demo.py

## make test: lint, types, then the whole suite (behaviour, command line, the real engines)
test: lint
	$(BIN)/python -m pytest -q -m "not pythons"

## make test-pythons: the behaviour tests on each CPython 3.9..3.13 (nox; pyenv's are found),
## and on Debian's /usr/bin/python3 with Debian's python3-nagiosplugin (session debian); then
## the tests marked pythons (the RPM payload on CPython 3.9)
test-pythons: $(STAMP)
	$(BIN)/nox
	$(BIN)/python -m pytest -q -m pythons

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## make fuzz: the long property-test profile (thousands of examples)
fuzz: $(STAMP)
	FUZZ_PROFILE=long $(BIN)/python -m pytest -q -m fuzz tests/behaviour/test_fuzz.py

## make bench: cost per check, timing accuracy and memory, against budgets
bench: $(BENCH_VENV)/.installed $(PYZ)
	@test -x /usr/bin/time -a -x /usr/lib/nagios/plugins/check_smtp -a -x /usr/sbin/knotd || \
	  [ "$$(id -u)" != 0 ] || \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q time monitoring-plugins-standard knot
	BENCH_PYZ=$(PYZ) $(BENCH_VENV)/bin/python benchmarks/bench.py

## make dist: the sdist and the wheel in dist/, checked by twine
dist: $(STAMP)
	rm -f dist/check_smtp_helo-*
	$(BIN)/python -m build --outdir dist .
	$(BIN)/twine check --strict dist/check_smtp_helo-*

## make deb: the Debian package check-smtp-helo in dist/, built from a fresh sdist, and lintian
deb: dist
	rm -rf build/deb && mkdir -p build/deb
	tar -xzf dist/check_smtp_helo-$(VERSION).tar.gz -C build/deb
	cp -r build/deb/check_smtp_helo-$(VERSION)/packaging/debian build/deb/check_smtp_helo-$(VERSION)/
	# Build-Depends checked without dpkg's implicit build-essential: nothing here is compiled
	cd build/deb/check_smtp_helo-$(VERSION) && dpkg-checkbuilddeps -I && \
	  dpkg-buildpackage --build=binary --no-check-builddeps -us -uc
	mv build/deb/check-smtp-helo_$(VERSION)_all.deb dist/
	lintian --fail-on error,warning --pedantic -E --info dist/check-smtp-helo_$(VERSION)_all.deb

## make rpm: the noarch RPM check-smtp-helo for RHEL 9 and EPEL in dist/, built by rpmbuild
## from a fresh sdist, and rpmlint with EPEL's filters (packaging/rpm/rpmlint.toml)
rpm: dist
	rm -f dist/check-smtp-helo-*.noarch.rpm
	packaging/rpm/build dist/check_smtp_helo-$(VERSION).tar.gz dist $(RPM_PYTHON)
	rpmlint --config packaging/rpm/rpmlint.toml packaging/rpm/check-smtp-helo.spec \
	  dist/check-smtp-helo-$(VERSION)-*.noarch.rpm

## make pyz: dist/check_smtp_helo.pyz, one file with nagiosplugin inside, for /usr/bin/python3
pyz: $(PYZ)

$(PYZ): $(STAMP) packaging/pyz.py
	$(BIN)/python packaging/pyz.py --python $(SYSTEM_PYTHON) $@

## make docs: README's option table and the CheckCommand's descriptions from the option
## table (check_smtp_helo/options/table.py), then the basket from the CheckCommand
docs: $(STAMP)
	$(BIN)/python tools/option_docs.py
	$(MAKE) basket

## make basket: the Icinga Director basket, rebuilt from the shipped CheckCommand
basket: $(STAMP)
	$(BIN)/python tools/director_basket.py > $(BASKET).new
	mv $(BASKET).new $(BASKET)

## make graphs: redraw README's pictures (docs/images/smtp_helo-postfix.png and
## smtp_helo-300ms.png) from a real run: Icinga 2 checks the real Postfix and a server 300 ms
## away for GRAPHS_MINUTES (2); GraphiteWriter, carbon-cache, graphite-web, Icinga Web 2 on
## Icinga 2's IDO with the graphite module; headless Chromium takes each service page.
## Needs root, like make test.
graphs: $(STAMP)
	$(BIN)/python -m pytest -q -s tests/support/make_graphs.py

clean:
	rm -rf $(VENV) $(BENCH_VENV) build dist *.egg-info .pytest_cache .ruff_cache .mypy_cache .nox
