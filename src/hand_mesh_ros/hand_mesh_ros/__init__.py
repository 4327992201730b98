"""ROS 2 nodes of hand_mesh (the node adapts; the method lives in hand_mesh_core)."""
