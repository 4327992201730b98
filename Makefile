# hand_mesh: the README's two commands.
#   make demo   run the main job on real input (INPUT= a video, image folder or camera:N)
#   make test   colcon build + colcon test + colcon test-result: every package on ROS 2 Jazzy,
#               then the ROS packages (hand_mesh_msgs, hand_mesh_ros) on Kilted
# Both run scripts/setup_env.sh first (idempotent: seconds when nothing changed).

SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -eo pipefail -c
.DEFAULT_GOAL := help

REPO   := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
# ROS 2 from PyPI when none is sourced (scripts/setup_env.sh): jazzy (default) or kilted.
# One venv and one colcon workspace per distribution, as the wheels of two distributions
# share names: jazzy uses .venv, build/, install/, log/; another one .venv-<distro>,
# build-<distro>/, install-<distro>/, log-<distro>/. With a sourced ROS: .venv, build/, ...
HAND_MESH_ROS_DISTRO ?= jazzy
ws_suffix = $(if $(filter jazzy,$(1)),,-$(1))
SUFFIX := $(if $(ROS_DISTRO),,$(call ws_suffix,$(HAND_MESH_ROS_DISTRO)))
VENV   ?= $(REPO)/.venv$(SUFFIX)
COLCON_BUILD_BASE   := $(REPO)/build$(SUFFIX)
COLCON_INSTALL_BASE := $(REPO)/install$(SUFFIX)
COLCON_LOG_BASE     := $(REPO)/log$(SUFFIX)
# `make test` runs every package on the default distribution, then TEST_PACKAGES on
# SECOND_DISTRO in its own venv (not with a sourced ROS; SECOND_DISTRO= skips it).
SECOND_DISTRO ?= kilted
SECOND_DISTRO_PACKAGES := hand_mesh_msgs hand_mesh_ros
TEST_PACKAGES ?=
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
	export HAND_MESH_VENV="$(VENV)" HAND_MESH_ROS_DISTRO="$(HAND_MESH_ROS_DISTRO)"
	source "$(VENV)/bin/activate"
	if [ -z "$${ROS_DISTRO:-}" ]; then
	  export CMAKE_PREFIX_PATH="$(VENV)$${CMAKE_PREFIX_PATH:+:$$CMAKE_PREFIX_PATH}"
	  export AMENT_PREFIX_PATH="$(VENV)$${AMENT_PREFIX_PATH:+:$$AMENT_PREFIX_PATH}"
	fi
	export ROS_AUTOMATIC_DISCOVERY_RANGE="$${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
	export PYTHONUNBUFFERED=1
	colcon_dirs=(--build-base "$(COLCON_BUILD_BASE)" --install-base "$(COLCON_INSTALL_BASE)")
endef

.PHONY: help setup build test test-distro demo clean
help:
	@echo "make demo   run the demo on $(INPUT) (INPUT=... to change); outputs in output/"
	@echo "make test   build the workspace and run every test (Jazzy), then the ROS packages' tests on Kilted"

setup:
	@HAND_MESH_VENV="$(VENV)" HAND_MESH_ROS_DISTRO="$(HAND_MESH_ROS_DISTRO)" bash "$(REPO)/scripts/setup_env.sh"

build: setup
	@$(ros_env)
	cd "$(REPO)"
	colcon --log-base "$(COLCON_LOG_BASE)" build "$${colcon_dirs[@]}" 2>&1 \
	  | { grep -v "has no local_setup\|neither a file nor" || true; }

test:
	@status=0
	$(MAKE) --no-print-directory test-distro || status=$$?
	if [ -z "$${ROS_DISTRO:-}" ] && [ -n "$(SECOND_DISTRO)" ] && [ "$(SECOND_DISTRO)" != "$(HAND_MESH_ROS_DISTRO)" ]; then
	  $(MAKE) --no-print-directory test-distro HAND_MESH_ROS_DISTRO="$(SECOND_DISTRO)" \
	    VENV="$(REPO)/.venv$(call ws_suffix,$(SECOND_DISTRO))" TEST_PACKAGES="$(SECOND_DISTRO_PACKAGES)" || status=$$?
	fi
	exit $$status

# one distribution: build everything, test TEST_PACKAGES (empty: all packages)
test-distro: build
	@$(ros_env)
	cd "$(REPO)"
	source "$(COLCON_INSTALL_BASE)/setup.bash"
	echo "== colcon test, packages: $(or $(TEST_PACKAGES),all), in $(VENV):"
	python -m hand_mesh_core.cli info | grep -E "^(python|torch|ros distribution|rclpy) "
	rm -rf "$(COLCON_BUILD_BASE)"/*/test_results "$(COLCON_LOG_BASE)/latest_test"
	status=0
	colcon --log-base "$(COLCON_LOG_BASE)" test "$${colcon_dirs[@]}" $(if $(TEST_PACKAGES),--packages-select $(TEST_PACKAGES)) \
	  $(COLCON_TEST_ARGS) || status=$$?
	colcon test-result --test-result-base "$(COLCON_BUILD_BASE)" --verbose || status=$$?
	exit $$status

demo: build
	@$(ros_env)
	cd "$(REPO)"
	source "$(COLCON_INSTALL_BASE)/setup.bash"
	python -m hand_mesh_ros.demo --input "$(INPUT)" --output "$(OUTPUT)" $(DEMO_ARGS)

clean:
	rm -rf "$(REPO)"/build "$(REPO)"/install "$(REPO)"/log "$(REPO)"/build-* "$(REPO)"/install-* "$(REPO)"/log-*
