# hand_mesh: the README's two commands.
#   make demo   run the main job on real input (INPUT= a video, image folder or camera:N)
#   make test   colcon build + colcon test over all packages + colcon test-result
# Both run scripts/setup_env.sh first (idempotent: seconds when nothing changed).

SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -eo pipefail -c
.DEFAULT_GOAL := help

REPO   := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
VENV   ?= $(REPO)/.venv
INPUT  ?= $(abspath $(REPO)/../shared/data/video/mmaction2_demo.mp4)
OUTPUT ?= $(REPO)/output
DEMO_ARGS ?=
# colcon test runs the packages one after the other: the ROS tests and the CPU-heavy core
# tests would otherwise compete for this machine's two cores.
COLCON_TEST_ARGS ?= --executor sequential --event-handlers console_direct+ --pytest-args -ra

# Environment for every ROS step: the venv (or the sourced ROS), the wheels' prefix for
# CMake, and the workspace overlay once built. The domain id keeps tests off other
# machines' DDS traffic; ROS_AUTOMATIC_DISCOVERY_RANGE keeps discovery on this host.
define ros_env
	export HAND_MESH_VENV="$(VENV)"
	source "$(VENV)/bin/activate"
	if [ -z "$${ROS_DISTRO:-}" ]; then
	  export CMAKE_PREFIX_PATH="$(VENV)$${CMAKE_PREFIX_PATH:+:$$CMAKE_PREFIX_PATH}"
	  export AMENT_PREFIX_PATH="$(VENV)$${AMENT_PREFIX_PATH:+:$$AMENT_PREFIX_PATH}"
	fi
	export ROS_AUTOMATIC_DISCOVERY_RANGE="$${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
	export PYTHONUNBUFFERED=1
endef

.PHONY: help setup build test demo clean
help:
	@echo "make demo   run the demo on $(INPUT) (INPUT=... to change); outputs in output/"
	@echo "make test   build the workspace and run every test"

setup:
	@HAND_MESH_VENV="$(VENV)" bash "$(REPO)/scripts/setup_env.sh"

build: setup
	@$(ros_env)
	cd "$(REPO)"
	colcon build 2>&1 | { grep -v "has no local_setup\|neither a file nor" || true; }

test: build
	@$(ros_env)
	cd "$(REPO)"
	source install/setup.bash
	rm -rf build/*/test_results log/latest_test
	status=0
	colcon test $(COLCON_TEST_ARGS) || status=$$?
	colcon test-result --verbose || status=$$?
	exit $$status

demo: build
	@$(ros_env)
	cd "$(REPO)"
	source install/setup.bash
	python -m hand_mesh_ros.demo --input "$(INPUT)" --output "$(OUTPUT)" $(DEMO_ARGS)

clean:
	rm -rf "$(REPO)/build" "$(REPO)/install" "$(REPO)/log"
