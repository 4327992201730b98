"""Parametric hand model: the open default (from the MIT WebXR hand) and MANO from user files.

Public API (see each module for the details):

- :class:`HandModel`, :class:`HandModelOutput` (``model.py``): the ``nn.Module``;
  ``HandModel.keypoints_with_jacobian`` (``jacobian.py``): keypoints and their exact
  Jacobian with respect to the parameters (for solvers).
- ``KEYPOINT_NAMES``, ``MANO_JOINT_NAMES``, ``MANO_PARENTS``, ``SKELETON_EDGES``,
  ``MANO_TO_KEYPOINTS`` (``keypoints.py``): orders and index maps.
- :func:`pose_prior_loss`, :func:`shape_prior_loss`, :func:`anatomical_angles`,
  ``JOINT_LIMITS_DEG`` (``joint_limits.py``): joint limits and priors.
- :func:`mirror_pose`, :func:`mirror_points` (``mirror.py``): left/right mirroring.
- :func:`named_pose`, ``POSE_NAMES`` (``poses.py``): fist, point, pinch, ...
- ``SHAPE_COMPONENTS``, ``SHAPE_NAMES`` (``shape_space.py``): the open model's betas.
"""

from hand_mesh_core.hand_model.joint_limits import (
    JOINT_LIMITS_DEG,
    anatomical_angles,
    pose_from_anatomical,
    pose_prior_loss,
    shape_prior_loss,
)
from hand_mesh_core.hand_model.keypoints import (
    FINGER_JOINTS,
    KEYPOINT_NAMES,
    MANO_JOINT_NAMES,
    MANO_PARENTS,
    MANO_TO_KEYPOINTS,
    SKELETON_EDGES,
    TIP_FINGERS,
)
from hand_mesh_core.hand_model.mirror import mirror_points, mirror_pose
from hand_mesh_core.hand_model.model import BACKENDS, MANO_DIR_ENV, HandModel, HandModelOutput
from hand_mesh_core.hand_model.poses import POSE_NAMES, named_pose
from hand_mesh_core.hand_model.shape_space import SHAPE_COMPONENTS, SHAPE_NAMES

__all__ = [
    "BACKENDS", "FINGER_JOINTS", "JOINT_LIMITS_DEG", "KEYPOINT_NAMES", "MANO_DIR_ENV",
    "MANO_JOINT_NAMES", "MANO_PARENTS", "MANO_TO_KEYPOINTS", "POSE_NAMES", "SHAPE_COMPONENTS",
    "SHAPE_NAMES", "SKELETON_EDGES", "TIP_FINGERS", "HandModel", "HandModelOutput",
    "anatomical_angles", "mirror_points", "mirror_pose", "named_pose", "pose_from_anatomical",
    "pose_prior_loss", "shape_prior_loss",
]
