"""Joint and keypoint names, orders and index maps of the hand model.

Two orders are used in this project (see ``shared/notes/hand-models.md``):

* **MANO's 16 joints** (the kinematic tree of the hand model, the order of ``hand_pose``):
  0 wrist; 1-3 index MCP/PIP/DIP; 4-6 middle; 7-9 pinky; 10-12 ring; 13-15 thumb CMC/MCP/IP.
  Parents ``MANO_PARENTS`` (as in the MANO pickle's ``kintree_table`` and ``smplx``).
* **21 keypoints** in the MediaPipe / OpenPose / FreiHAND order: wrist, then thumb, index,
  middle, ring and pinky, each from the base joint to the tip.

The 21 keypoints are the 16 joints plus 5 fingertip vertices. ``MANO_TO_KEYPOINTS`` maps
the concatenation ``[joints (16), tips (5: thumb, index, middle, ring, pinky)]`` to the
21-keypoint order (the map used by ``smplx`` / FreiHAND tooling).
"""

from __future__ import annotations

#: MANO joint names, in MANO order (``smplx`` naming).
MANO_JOINT_NAMES: tuple[str, ...] = (
    "wrist",
    "index1", "index2", "index3",
    "middle1", "middle2", "middle3",
    "pinky1", "pinky2", "pinky3",
    "ring1", "ring2", "ring3",
    "thumb1", "thumb2", "thumb3",
)  # fmt: skip

#: Parent of each MANO joint (-1 for the root, the wrist).
MANO_PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)

#: 21 keypoint names in MediaPipe HandLandmarker / OpenPose order.
KEYPOINT_NAMES: tuple[str, ...] = (
    "wrist",
    "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip",
    "index_mcp", "index_pip", "index_dip", "index_tip",
    "middle_mcp", "middle_pip", "middle_dip", "middle_tip",
    "ring_mcp", "ring_pip", "ring_dip", "ring_tip",
    "pinky_mcp", "pinky_pip", "pinky_dip", "pinky_tip",
)  # fmt: skip

#: Finger order of the fingertip vertices appended to the 16 joints.
TIP_FINGERS: tuple[str, ...] = ("thumb", "index", "middle", "ring", "pinky")

#: Index into ``concat(joints[16], tips[5])`` for each of the 21 keypoints.
MANO_TO_KEYPOINTS: tuple[int, ...] = (
    0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20,
)  # fmt: skip

#: The 20 bones of the 21-keypoint skeleton as (parent, child) keypoint indices.
SKELETON_EDGES: tuple[tuple[int, int], ...] = tuple(
    (0 if k % 4 == 1 else k - 1, k) for k in range(1, 21)
)

#: MANO joint indices of each finger's chain (base to distal), thumb first.
FINGER_JOINTS: dict[str, tuple[int, int, int]] = {
    "thumb": (13, 14, 15),
    "index": (1, 2, 3),
    "middle": (4, 5, 6),
    "ring": (10, 11, 12),
    "pinky": (7, 8, 9),
}

#: Kinematic levels of the MANO tree: joints of one level only have parents in earlier
#: levels, so one batched matrix product per level composes the whole chain. Below the
#: root, the k-th joint of a level is the child of the k-th joint of the previous level
#: (one finger per position: index, middle, pinky, ring, thumb).
KINEMATIC_LEVELS: tuple[tuple[int, ...], ...] = (
    (0,),
    (1, 4, 7, 10, 13),
    (2, 5, 8, 11, 14),
    (3, 6, 9, 12, 15),
)


def _check() -> None:
    assert len(MANO_JOINT_NAMES) == len(MANO_PARENTS) == 16
    assert len(KEYPOINT_NAMES) == len(MANO_TO_KEYPOINTS) == 21
    assert sorted(MANO_TO_KEYPOINTS) == list(range(21))
    for level, joints in enumerate(KINEMATIC_LEVELS[1:], start=1):
        assert all(MANO_PARENTS[j] in KINEMATIC_LEVELS[level - 1] for j in joints)
        if level > 1:  # finger by finger
            assert tuple(MANO_PARENTS[j] for j in joints) == KINEMATIC_LEVELS[level - 1]


_check()
