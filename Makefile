# The README's two commands: `make demo` and `make test`. Both set up what they need, idempotently.
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
EXTRAS := train,export,calib,stream,cuda,dev
# the install stamp changes whenever what we install changes, so a second run installs nothing
STAMP := $(VENV)/.installed-$(shell cat setup.py constraints.txt | sha256sum | cut -c1-12)

.PHONY: demo test bench system setup clean

system:
	@scripts/install_system.sh

$(STAMP): setup.py constraints.txt
	@$(MAKE) --no-print-directory system
	@[ -x $(VPY) ] || $(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip setuptools wheel
	$(VPY) -m pip install -q -c constraints.txt -e ".[$(EXTRAS)]"
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

setup: $(STAMP)

test: setup
	$(VPY) -m pytest -q

demo: setup
	$(VPY) scripts/demo.py

bench: setup
	$(VPY) bench/run_all.py

clean:
	rm -rf demo-out bench-out
