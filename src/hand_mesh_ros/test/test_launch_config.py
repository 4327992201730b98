"""Static checks of launch/demo.launch.py, config/hand_mesh.yaml and config/hand_mesh.rviz.

``ros2 launch`` (launch, launch_ros) is not installable from PyPI, so the launch file is
checked by reading it with ``ast``: every executable it starts is one the packages install
(console_scripts of hand_mesh_ros, or a declared run dependency), every parameter it sets
is one the node declares, every remapped name is a topic the node uses, every launch
argument it reads is declared. The YAML holds exactly the declared parameters, each
commented, with valid values.
"""

from __future__ import annotations

import ast
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

from hand_mesh_ros import hand_mesh_node, image_source
from hand_mesh_ros.parameter_specs import specs_by_name

PKG = Path(__file__).resolve().parents[1]
REPO = PKG.parents[1]
LAUNCH = REPO / "launch" / "demo.launch.py"
CONFIG = REPO / "config" / "hand_mesh.yaml"
RVIZ = REPO / "config" / "hand_mesh.rviz"

NODE_SPECS = {
    "hand_mesh_node": specs_by_name(hand_mesh_node.PARAMETERS),
    "image_source": specs_by_name(image_source.PARAMETERS),
}
#: Topic names (before remapping) each node subscribes or publishes.
NODE_TOPICS = {
    "hand_mesh_node": {"image", "camera_info", "hands/meshes", "hands/markers", "hands/debug_image"},
    "image_source": {"image_raw", "camera_info"},
}
#: Executables of other packages the launch file may start: package -> executables.
EXTERNAL_EXECUTABLES = {"rviz2": {"rviz2"}}


def _console_scripts() -> set[str]:
    tree = ast.parse((PKG / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == "console_scripts":
                    return {ast.literal_eval(e).split("=")[0].strip() for e in value.elts}
    raise AssertionError("no console_scripts in setup.py")


def _exec_depends() -> set[str]:
    return {e.text for e in ET.parse(PKG / "package.xml").getroot().iter("exec_depend")}


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if (isinstance(f, ast.Name) and f.id == name) or (isinstance(f, ast.Attribute) and f.attr == name):
                out.append(node)
    return out


def _kw(call: ast.Call, name: str):
    for k in call.keywords:
        if k.arg == name:
            return k.value
    return None


def _launch_nodes() -> list[ast.Call]:
    tree = ast.parse(LAUNCH.read_text())
    nodes = _calls(tree, "Node")
    assert nodes, "the launch file starts no Node"
    return nodes


def test_launch_file_is_python_with_generate_launch_description():
    tree = ast.parse(LAUNCH.read_text())
    names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert "generate_launch_description" in names
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert {"LaunchDescription", "DeclareLaunchArgument", "Node", "LaunchConfiguration"} <= imported


def test_launch_executables_are_installed():
    scripts = _console_scripts()
    depends = _exec_depends()
    started = set()
    for call in _launch_nodes():
        package = ast.literal_eval(_kw(call, "package"))
        executable = ast.literal_eval(_kw(call, "executable"))
        started.add(executable)
        if package == "hand_mesh_ros":
            assert executable in scripts, f"{executable} is not a console_script of hand_mesh_ros"
        else:
            assert package in depends, f"{package} is not an exec_depend of hand_mesh_ros"
            assert executable in EXTERNAL_EXECUTABLES.get(package, set()), f"unknown executable {package}/{executable}"
    assert {"image_source", "hand_mesh_node", "rviz2"} <= started


def test_launch_parameters_and_remappings_are_declared():
    for call in _launch_nodes():
        executable = ast.literal_eval(_kw(call, "executable"))
        if executable not in NODE_SPECS:
            continue
        assert ast.literal_eval(_kw(call, "name")) == executable  # the YAML keys by node name
        params = _kw(call, "parameters")
        keys = [ast.literal_eval(k) for d in ast.walk(params) if isinstance(d, ast.Dict) for k in d.keys]
        assert keys, f"{executable}: no parameters set"
        unknown = set(keys) - set(NODE_SPECS[executable])
        assert not unknown, f"{executable}: undeclared parameters {unknown}"
        if executable == "hand_mesh_node":  # the launch arguments reach the node
            assert {"backend", "device", "runtime", "weights"} <= set(keys)
        for remap in ast.walk(_kw(call, "remappings")):
            if isinstance(remap, ast.Tuple):
                source = ast.literal_eval(remap.elts[0])
                assert source in NODE_TOPICS[executable], f"{executable}: remaps unknown topic {source}"


def test_launch_defaults_remap_to_camera_topics_and_arguments_are_declared():
    tree = ast.parse(LAUNCH.read_text())
    declared = {}
    for call in _calls(tree, "DeclareLaunchArgument"):
        default = _kw(call, "default_value")
        declared[ast.literal_eval(call.args[0])] = (
            ast.literal_eval(default) if isinstance(default, ast.Constant) else None)
    used = {ast.literal_eval(c.args[0]) for c in _calls(tree, "LaunchConfiguration")}
    assert used <= set(declared), f"launch arguments read but not declared: {used - set(declared)}"
    assert {"input", "backend", "device", "runtime", "weights", "rviz"} <= set(declared)
    node_specs = NODE_SPECS["hand_mesh_node"]
    assert declared["runtime"] == node_specs["runtime"].default and declared["weights"] == node_specs["weights"].default
    assert declared["image_topic"] == "/camera/image_raw"
    assert declared["camera_info_topic"] == "/camera/camera_info"
    assert declared["rviz"] == "true"
    assert declared["backend"] in NODE_SPECS["hand_mesh_node"]["backend"].choices


def _config() -> dict:
    return yaml.safe_load(CONFIG.read_text())


def test_config_has_exactly_the_declared_parameters_with_valid_values():
    config = _config()
    assert set(config) == set(NODE_SPECS)
    for node, specs in NODE_SPECS.items():
        values = config[node]["ros__parameters"]
        assert set(values) == set(specs), f"{node}: missing {set(specs) - set(values)}, extra {set(values) - set(specs)}"
        for name, value in values.items():
            spec = specs[name]
            assert type(value) is type(spec.default), f"{node}.{name}: {value!r} is not a {type(spec.default).__name__}"
            assert spec.validate(value) is None, f"{node}.{name}: {spec.validate(value)}"
    # the node's YAML defaults are its code defaults (one source of truth, documented twice)
    for name, value in config["hand_mesh_node"]["ros__parameters"].items():
        assert value == NODE_SPECS["hand_mesh_node"][name].default, name


def test_every_config_parameter_is_commented():
    lines = CONFIG.read_text().splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^    (\w+):", line)
        if m:
            assert lines[i - 1].strip().startswith("#"), f"parameter {m.group(1)} has no comment above it"


def test_parameter_validation_rejects_bad_values():
    specs = NODE_SPECS["hand_mesh_node"]
    assert specs["device"].validate("cuda:1") is None
    assert specs["device"].validate("gpu") is not None
    assert specs["backend"].validate("three_stage") is not None
    assert specs["default_hfov_deg"].validate(179.0) is not None  # open interval
    assert specs["score_threshold"].validate(1.5) is not None
    assert specs["publish_markers"].validate(1) is not None  # bool parameters take bools only
    assert specs["weights"].validate("") is None and specs["weights"].read_only  # empty = shipped weights
    assert "no such weights file" in specs["weights"].validate("/nonexistent/w.safetensors")
    assert specs["weights"].validate(str(LAUNCH)) is None  # any existing file passes the check
    d = specs["max_hands"].descriptor()
    assert d.read_only and d.integer_range[0].from_value == 1 and d.description


def test_rviz_config_shows_markers_and_overlay_in_the_camera_frame():
    rviz = yaml.safe_load(RVIZ.read_text())
    manager = rviz["Visualization Manager"]
    assert manager["Global Options"]["Fixed Frame"] == image_source.PARAMETERS[
        [s.name for s in image_source.PARAMETERS].index("frame_id")].default
    assert manager["Global Options"]["Fixed Frame"] == NODE_SPECS["hand_mesh_node"]["fallback_frame_id"].default
    displays = {d["Class"]: d for d in manager["Displays"]}
    assert displays["rviz_default_plugins/MarkerArray"]["Topic"]["Value"] == "/hands/markers"
    assert displays["rviz_default_plugins/Image"]["Topic"]["Value"] == "/hands/debug_image"
