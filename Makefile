# mat-review: `make run` starts the service on the embedded defaults; `make test` runs lint + suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages the suite needs: Chromium for browser tests, poppler for reading PDFs,
# Pango for WeasyPrint, fonts for readable PDFs and PNGs.
APT_PACKAGES := chromium poppler-utils libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core

.PHONY: run test test-future lint format system-deps bench demo clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/mat-review init
	bash scripts/run-embedded

system-deps:
	@missing=""; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	command -v pdftotext >/dev/null || missing="$$missing poppler-utils"; \
	ldconfig -p | grep -q libpangoft2-1.0 || missing="$$missing libpango-1.0-0 libpangoft2-1.0-0"; \
	ldconfig -p | grep -q libharfbuzz-subset || missing="$$missing libharfbuzz-subset0"; \
	[ -d /usr/share/fonts/truetype/dejavu ] || missing="$$missing fonts-dejavu-core"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Two workers: the suite runs every database test on SQLite and PostgreSQL, and drives servers
# and a browser; in parallel it stays well under 10 minutes on a 2-core machine.
test: $(STAMP) system-deps lint
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "not solo"
	$(BIN)/python -m pytest -p no:xdist -m solo

# The same suite with the application's clock a year ahead (MAT_REVIEW_CLOCK_OFFSET, read by
# survey/timeutil.py in every process the tests start): no test may depend on today's date.
test-future: $(STAMP) system-deps
	MAT_REVIEW_CLOCK_OFFSET=366d $(BIN)/python -m pytest -n 2 --dist loadfile -m "not solo"
	MAT_REVIEW_CLOCK_OFFSET=366d $(BIN)/python -m pytest -p no:xdist -m solo

demo: $(STAMP)
	$(BIN)/mat-review demo

bench: $(STAMP) system-deps
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache tests/artifacts
