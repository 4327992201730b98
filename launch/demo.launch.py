"""Camera (or a video / image folder) -> hand_mesh_node -> RViz.

    ros2 launch hand_mesh_ros demo.launch.py input:=/path/to/video.mp4
    ros2 launch hand_mesh_ros demo.launch.py            # a camera already publishing
                                                        # /camera/image_raw + /camera/camera_info
    ros2 launch hand_mesh_ros demo.launch.py input:=camera:0 device:=cuda rviz:=false

Launch arguments: input, image_topic, camera_info_topic, backend, device, runtime, weights, rate,
loop, publish_debug_image, smoothing, tiles, rviz, config. Node parameters come from
config/hand_mesh.yaml (every parameter, commented); the arguments above override a few of them.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, PythonExpression
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare("hand_mesh_ros")
    arguments = [
        DeclareLaunchArgument(
            "input", default_value="",
            description="video file, image folder, image or camera:N played by image_source; "
                        "empty = use a camera driver already publishing image_topic"),
        DeclareLaunchArgument("image_topic", default_value="/camera/image_raw",
                              description="sensor_msgs/Image topic of the camera"),
        DeclareLaunchArgument("camera_info_topic", default_value="/camera/camera_info",
                              description="sensor_msgs/CameraInfo topic of the camera"),
        DeclareLaunchArgument("backend", default_value="two_stage", choices=["two_stage", "single_stage"],
                              description="reconstruction backend"),
        DeclareLaunchArgument("device", default_value="auto", description="auto, cpu, cuda or cuda:N"),
        DeclareLaunchArgument("runtime", default_value="torch", choices=["torch", "onnxruntime", "tensorrt"],
                              description="single_stage network runtime"),
        DeclareLaunchArgument("weights", default_value="",
                              description="single_stage weights file (.safetensors); empty = the shipped default"),
        DeclareLaunchArgument("rate", default_value="0.0",
                              description="image_source publish rate in Hz (0.0 = the source's own rate)"),
        DeclareLaunchArgument("loop", default_value="true", choices=["true", "false"],
                              description="image_source restarts the video / folder at the end"),
        DeclareLaunchArgument("publish_debug_image", default_value="true", choices=["true", "false"],
                              description="publish /hands/debug_image (the overlay shown in RViz)"),
        DeclareLaunchArgument("smoothing", default_value="false", choices=["true", "false"],
                              description="One-Euro smoothing of the tracked hands (less jitter, a little lag)"),
        DeclareLaunchArgument("tiles", default_value="off",
                              description="tiled inference for small hands in large frames: off, auto or CxR (2x2)"),
        DeclareLaunchArgument("rviz", default_value="true", choices=["true", "false"],
                              description="start rviz2 with config/hand_mesh.rviz"),
        DeclareLaunchArgument("config", default_value=PathJoinSubstitution([share, "config", "hand_mesh.yaml"]),
                              description="parameter file of the nodes"),
    ]
    config = LaunchConfiguration("config")
    image_topic = LaunchConfiguration("image_topic")
    camera_info_topic = LaunchConfiguration("camera_info_topic")

    image_source = Node(
        package="hand_mesh_ros",
        executable="image_source",
        name="image_source",
        output="screen",
        parameters=[config, {
            "source": ParameterValue(LaunchConfiguration("input"), value_type=str),
            "rate": ParameterValue(LaunchConfiguration("rate"), value_type=float),
            "loop": ParameterValue(LaunchConfiguration("loop"), value_type=bool),
        }],
        remappings=[("image_raw", image_topic), ("camera_info", camera_info_topic)],
        condition=IfCondition(PythonExpression(["'", LaunchConfiguration("input"), "' != ''"])),
    )
    hand_mesh_node = Node(
        package="hand_mesh_ros",
        executable="hand_mesh_node",
        name="hand_mesh_node",
        output="screen",
        parameters=[config, {
            "backend": ParameterValue(LaunchConfiguration("backend"), value_type=str),
            "device": ParameterValue(LaunchConfiguration("device"), value_type=str),
            "runtime": ParameterValue(LaunchConfiguration("runtime"), value_type=str),
            "weights": ParameterValue(LaunchConfiguration("weights"), value_type=str),
            "publish_debug_image": ParameterValue(LaunchConfiguration("publish_debug_image"), value_type=bool),
            "smoothing": ParameterValue(LaunchConfiguration("smoothing"), value_type=bool),
            "tiles": ParameterValue(LaunchConfiguration("tiles"), value_type=str),
        }],
        remappings=[("image", image_topic), ("camera_info", camera_info_topic)],
    )
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        name="rviz2",
        arguments=["-d", PathJoinSubstitution([share, "config", "hand_mesh.rviz"])],
        condition=IfCondition(LaunchConfiguration("rviz")),
    )
    return LaunchDescription([*arguments, image_source, hand_mesh_node, rviz])
