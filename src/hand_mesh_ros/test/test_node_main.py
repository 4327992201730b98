"""The node executables' main(): a refused start exits with status 2 and says why on stderr
(real rclpy, the default context, no traceback)."""

import pytest
import rclpy

from hand_mesh_ros import hand_mesh_node, image_source


def test_hand_mesh_node_with_an_unknown_backend_exits_2_with_the_reason(capsys):
    status = hand_mesh_node.main(["hand_mesh_node", "--ros-args", "-p", "backend:=no_such_backend"])
    assert status == 2
    err = capsys.readouterr().err
    assert err.startswith("hand_mesh_node: ") and "no_such_backend" in err
    assert not rclpy.ok()  # shut down after the refusal


def test_image_source_with_a_missing_input_exits_2_with_the_reason(capsys, tmp_path):
    missing = tmp_path / "missing.mp4"
    status = image_source.main(["image_source", "--ros-args", "-p", f"source:={missing}"])
    assert status == 2
    err = capsys.readouterr().err
    assert err.startswith("image_source: ") and "missing.mp4" in err
    assert not rclpy.ok()


def test_a_refused_start_leaves_the_node_destroyable(ros_context):
    # the node refuses its backend after rcl created it; the half-built object must be
    # destroyable: shutting the context down destroys every node it still tracks, and an
    # explicit destroy_node() must not raise either (it raised AttributeError '_stop')
    from rclpy.exceptions import InvalidParameterValueException
    from rclpy.parameter import Parameter

    with pytest.raises(InvalidParameterValueException) as refused:
        hand_mesh_node.HandMeshNode(context=ros_context,
                                    parameter_overrides=[Parameter("backend", value="no_such_backend")])
    node = next(e.frame.f_locals["self"] for e in refused.traceback
                if isinstance(e.frame.f_locals.get("self"), hand_mesh_node.HandMeshNode))
    node.destroy_node()
    rclpy.shutdown(context=ros_context)


@pytest.mark.parametrize("kind", ["weights", "mano"])
def test_hand_mesh_node_with_a_corrupt_model_file_exits_2_in_one_line(kind, capsys, tmp_path):
    bad = tmp_path / ("bad.safetensors" if kind == "weights" else "MANO_RIGHT.pkl")
    bad.write_bytes(b"\x80\x04\x8e" + b"\xff" * 8 if kind == "mano" else b"\x00" * 7)  # truncated / BINBYTES8 2**64
    params = (["-p", "backend:=single_stage", "-p", f"weights:={bad}", "-p", "device:=cpu"] if kind == "weights"
              else ["-p", "hand_model:=mano", "-p", f"mano_path:={bad}"])
    status = hand_mesh_node.main(["hand_mesh_node", "--ros-args", *params])
    assert status == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if str(bad) in line]
    assert len(lines) == 1 and lines[0].startswith("hand_mesh_node: ") and "not a usable" in lines[0], err
    assert "Traceback" not in err
    assert not rclpy.ok()


@pytest.mark.slow
@pytest.mark.parametrize("given", [None, "ACTIVE"])
def test_hand_mesh_node_runs_openmp_passive_unless_told_otherwise(given):
    # spin-waiting OpenMP threads halved the node's rate under a flood (bench_flood): the
    # node's process defaults to PASSIVE before torch loads; an explicit value wins
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given:
        env["OMP_WAIT_POLICY"] = given
    code = ("import os, sys; import hand_mesh_ros.hand_mesh_node; "
            "print(os.environ['OMP_WAIT_POLICY'], 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == [given or "PASSIVE", "True"]  # set, and torch loaded after it
