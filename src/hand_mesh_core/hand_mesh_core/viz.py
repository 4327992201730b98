"""Drawing hands over images: shaded meshes, 21-keypoint skeletons, labels, contact sheets.

Used by ``Prediction.plot``, the CLI, the demos, the benchmarks and the ROS debug image, so
every picture of the project looks the same. Pure NumPy + OpenCV, no torch.

Meshes are drawn with the painter's algorithm: triangles facing away from the camera are
culled, the rest are sorted far to near by mean depth and filled one by one with
``cv2.fillConvexPoly`` (anti-aliased, sub-pixel), shaded with a Lambertian headlight
(light along the viewing ray, plus ambient). Good enough for two hands of a few thousand
triangles in ~10-20 ms; it is not a z-buffer, so deeply interpenetrating meshes may show
ordering errors.

Conventions: images ``HxWx3 uint8`` RGB; vertices in metres in the camera optical frame
(x right, y down, z forward); ``K`` 3x3 pixels (``hand_mesh_core.camera``); faces wound
counter-clockwise seen from outside (outward normals).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import cv2
import numpy as np

from hand_mesh_core.camera import intrinsics_from_fov, project_np, validate_intrinsics

#: Mesh colours (RGB) per handedness.
HAND_COLORS: dict[str, tuple[int, int, int]] = {"right": (80, 150, 240), "left": (245, 150, 60)}
#: Skeleton colours (RGB) per finger: thumb, index, middle, ring, pinky.
FINGER_COLORS: tuple[tuple[int, int, int], ...] = (
    (230, 60, 60), (240, 200, 40), (60, 200, 80), (40, 170, 230), (180, 80, 220),
)
_SUBPIXEL_BITS = 4
_NEAR = 1e-3  # m; triangles with a vertex closer than this to the camera plane are skipped


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be HxWx3 uint8 RGB, got {image.shape} {image.dtype}")
    return image


def _shade(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Visible faces of a mesh: (face ids, mean depth, Lambert factor in [0, 1])."""
    tri = vertices[faces]  # [F, 3, 3]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    centre = tri.mean(1)
    facing = -(normal * centre).sum(1)  # > 0: the normal points towards the camera
    ok = (facing > 0) & (tri[..., 2].min(1) > _NEAR)
    length = np.linalg.norm(normal[ok], axis=1) * np.linalg.norm(centre[ok], axis=1)
    lambert = facing[ok] / np.maximum(length, 1e-12)
    return np.nonzero(ok)[0], centre[ok, 2], lambert


def _paint(canvas: np.ndarray, mask: np.ndarray, meshes: Sequence[tuple[np.ndarray, np.ndarray,
           tuple[int, int, int]]], K: np.ndarray, ambient: float = 0.35) -> None:
    """Fill the visible triangles of all ``meshes`` (vertices, faces, colour) far to near."""
    polys, depths, colors = [], [], []
    scale = float(1 << _SUBPIXEL_BITS)
    for vertices, faces, color in meshes:
        vertices = np.asarray(vertices, dtype=np.float64)
        faces = np.asarray(faces, dtype=np.int64)
        ids, depth, lambert = _shade(vertices, faces)
        if ids.size == 0:
            continue
        uv = project_np(vertices, K)
        polys.append(np.round(uv[faces[ids]] * scale).astype(np.int32))
        depths.append(depth)
        shade = ambient + (1.0 - ambient) * lambert
        colors.append(np.clip(shade[:, None] * np.asarray(color, dtype=np.float64), 0, 255))
    if not polys:
        return
    poly, depth, color = np.concatenate(polys), np.concatenate(depths), np.concatenate(colors)
    for k in np.argsort(-depth, kind="stable"):
        c = tuple(int(x) for x in color[k])
        cv2.fillConvexPoly(canvas, poly[k], c, lineType=cv2.LINE_AA, shift=_SUBPIXEL_BITS)
        cv2.fillConvexPoly(mask, poly[k], 255, lineType=cv2.LINE_8, shift=_SUBPIXEL_BITS)


def render_mesh(vertices: np.ndarray, faces: np.ndarray, K: np.ndarray, image_size: tuple[int, int],
                color: tuple[int, int, int] = HAND_COLORS["right"], image: np.ndarray | None = None,
                alpha: float = 1.0) -> np.ndarray:
    """Render one mesh as shaded triangles.

    Args:
        vertices: ``[V, 3]`` metres, camera optical frame.
        faces: ``[F, 3]`` vertex indices, counter-clockwise seen from outside.
        K: ``[3, 3]`` intrinsics in pixels.
        image_size: ``(width, height)`` of the output.
        color: RGB base colour.
        image: optional ``HxWx3 uint8`` RGB background of that size (default black).
        alpha: opacity of the mesh over the background.

    Returns:
        ``HxWx3 uint8`` RGB image (a new array).

    Raises:
        ValueError: bad shapes, an invalid ``K`` or a background of another size.
    """
    w, h = (int(x) for x in image_size)
    vertices, faces = np.asarray(vertices), np.asarray(faces)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"vertices must be [V, 3] and faces [F, 3], got {vertices.shape}, {faces.shape}")
    background = np.zeros((h, w, 3), np.uint8) if image is None else _check_image(image)
    if background.shape[:2] != (h, w):
        raise ValueError(f"image is {background.shape[1]}x{background.shape[0]}, image_size is {w}x{h}")
    return _compose(background, [(vertices, faces, color)], validate_intrinsics(K), alpha)


def _compose(image: np.ndarray, meshes, K: np.ndarray, alpha: float) -> np.ndarray:
    canvas = image.copy()
    mask = np.zeros(image.shape[:2], np.uint8)
    _paint(canvas, mask, meshes, K)
    if alpha >= 1.0:
        return canvas
    m = (mask > 0)[..., None]
    blended = (alpha * canvas.astype(np.float32) + (1 - alpha) * image.astype(np.float32))
    return np.where(m, blended.round().astype(np.uint8), image)


def draw_skeleton(image: np.ndarray, keypoints_2d: np.ndarray, scores: np.ndarray | None = None,
                  thickness: int = 2, min_score: float = 0.0) -> np.ndarray:
    """Draw the 21-keypoint skeleton (MediaPipe order) in place; returns ``image``.

    Bones are coloured per finger (:data:`FINGER_COLORS`); keypoints whose score is below
    ``min_score`` (when ``scores [21]`` is given) and their bones are skipped.
    """
    from hand_mesh_core.hand_model.keypoints import SKELETON_EDGES

    kp = np.asarray(keypoints_2d, dtype=np.float64)
    if kp.shape != (21, 2):
        raise ValueError(f"keypoints_2d must be [21, 2], got {kp.shape}")
    ok = np.isfinite(kp).all(1)
    if scores is not None:
        ok &= np.asarray(scores) >= min_score
    s = float(1 << _SUBPIXEL_BITS)
    pts = np.round(np.nan_to_num(kp) * s).astype(np.int64)
    for a, b in SKELETON_EDGES:
        if ok[a] and ok[b]:
            color = FINGER_COLORS[(b - 1) // 4]
            cv2.line(image, tuple(pts[a]), tuple(pts[b]), color, thickness, cv2.LINE_AA, _SUBPIXEL_BITS)
    for k in np.nonzero(ok)[0]:
        color = (255, 255, 255) if k == 0 else FINGER_COLORS[(k - 1) // 4]
        cv2.circle(image, tuple(pts[k]), int((thickness + 1) * s), color, -1, cv2.LINE_AA, _SUBPIXEL_BITS)
    return image


def draw_label(image: np.ndarray, text: str, org: tuple[float, float], color: tuple[int, int, int],
               scale: float = 0.5) -> np.ndarray:
    """Draw ``text`` on a filled box whose bottom-left corner is ``org`` (pixels), in place."""
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    h, w = image.shape[:2]
    x = int(np.clip(org[0], 0, max(w - tw - 4, 0)))
    y = int(np.clip(org[1], th + base + 4, h))
    cv2.rectangle(image, (x, y - th - base - 4), (x + tw + 4, y), color, -1)
    luminance = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
    ink = (0, 0, 0) if luminance > 140 else (255, 255, 255)
    cv2.putText(image, text, (x + 2, y - base - 2), cv2.FONT_HERSHEY_SIMPLEX, scale, ink, 1, cv2.LINE_AA)
    return image


def _faces_for(side: str, faces: Any, n_vertices: int) -> np.ndarray | None:
    if isinstance(faces, dict):
        faces = faces.get(side)
    if faces is None:  # the open model's mesh, when the vertex count matches
        from hand_mesh_core.hand_model.open_model import load_open_model

        data = load_open_model(side)
        return data.faces if data.num_vertices == n_vertices else None
    return np.asarray(faces)


def label_text(hand: Any) -> str:
    """The label of a hand: ``"#<track id> <side> <score>"`` (score with 2 decimals), without
    ``#<track id>`` for an untracked hand (``track_id`` 0 or missing), e.g. ``"#3 left 0.87"``.

    ``hand``: a ``HandResult`` or any object with ``handedness`` (str), ``score`` (float) and
    optionally ``track_id`` (int); missing fields read ``"?"`` and ``nan``. Raises nothing
    for such objects. Used by :func:`draw_hands` and the ROS markers.
    """
    text = f"{getattr(hand, 'handedness', '?')} {float(getattr(hand, 'score', float('nan'))):.2f}"
    track = int(getattr(hand, "track_id", 0) or 0)
    return f"#{track} {text}" if track else text


def draw_hands(image_rgb: np.ndarray, hands: Iterable[Any], K: np.ndarray | None = None,
               faces: dict[str, np.ndarray] | np.ndarray | None = None, *, mesh: bool = True,
               skeleton: bool = True, label: bool = True, alpha: float = 0.7) -> np.ndarray:
    """Draw hands over an image: shaded meshes, skeletons and labels.

    Args:
        image_rgb: ``HxWx3 uint8`` RGB; not modified.
        hands: a ``Prediction`` or any iterable of objects with the ``HandResult`` fields
            used here: ``handedness`` ("left"/"right"), ``score``, ``vertices [V, 3]`` m
            (may be empty or None), ``keypoints_2d [21, 2]`` px, ``keypoints_3d [21, 3]`` m
            (projected when ``keypoints_2d`` is missing), optional ``bbox [4]``,
            ``keypoint_scores [21]`` and ``track_id``.
        K: intrinsics; default ``hands.K`` when present, else a 60-degree field of view.
        faces: ``{side: [F, 3]}`` or one ``[F, 3]`` array; default ``hands.faces``, else
            the open model's faces when the vertex count matches.
        mesh, skeleton, label: what to draw. alpha: mesh opacity.

    Returns:
        A new ``HxWx3 uint8`` RGB image. Left and right hands use :data:`HAND_COLORS`.
    """
    image = _check_image(image_rgb)
    h, w = image.shape[:2]
    if K is None:
        K = getattr(hands, "K", None)
    K = validate_intrinsics(K) if K is not None else intrinsics_from_fov(w, h)
    if faces is None:
        faces = getattr(hands, "faces", None) or None
    hands = list(hands)
    meshes = []
    if mesh:
        for hand in hands:
            verts = getattr(hand, "vertices", None)
            if verts is None or len(verts) == 0:
                continue
            side = getattr(hand, "handedness", "right")
            tri = _faces_for(side, faces, len(verts))
            if tri is not None:
                meshes.append((np.asarray(verts), tri, HAND_COLORS.get(side, (200, 200, 200))))
    out = _compose(image, meshes, K, alpha) if meshes else image.copy()
    for hand in hands:
        kp2 = getattr(hand, "keypoints_2d", None)
        if kp2 is None and getattr(hand, "keypoints_3d", None) is not None:
            kp2 = project_np(np.asarray(hand.keypoints_3d, dtype=np.float64), K)
        if skeleton and kp2 is not None:
            draw_skeleton(out, kp2, getattr(hand, "keypoint_scores", None), max(1, round(min(h, w) / 250)))
        if label:
            box = getattr(hand, "bbox", None)
            if box is not None:
                org = (float(box[0]), float(box[1]) - 2)
            elif kp2 is not None:
                org = (float(np.min(kp2[:, 0])), float(np.min(kp2[:, 1])) - 2)
            else:
                continue
            color = HAND_COLORS.get(getattr(hand, "handedness", ""), (200, 200, 200))
            draw_label(out, label_text(hand), org, color, scale=max(0.4, min(h, w) / 900))
    return out


def contact_sheet(images: Sequence[np.ndarray], cols: int, labels: Sequence[str] | None = None,
                  pad: int = 4, background: tuple[int, int, int] = (32, 32, 32)) -> np.ndarray:
    """Tile images into a grid, row by row, with an optional label on each cell.

    Args:
        images: ``HxWx3 uint8`` RGB images; cells take the largest height and width, smaller
            images are centred (not resized).
        cols: number of columns (>= 1).
        labels: one text per image, drawn at the cell's top-left corner.
        pad: pixels between cells and at the border.

    Returns:
        ``HxWx3 uint8`` RGB sheet. Raises ``ValueError`` for no images, ``cols < 1`` or a
        label count that differs from the image count.
    """
    if not images:
        raise ValueError("contact_sheet needs at least one image")
    if cols < 1:
        raise ValueError(f"cols must be >= 1, got {cols}")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"{len(labels)} labels for {len(images)} images")
    images = [_check_image(im) for im in images]
    ch = max(im.shape[0] for im in images)
    cw = max(im.shape[1] for im in images)
    rows = (len(images) + cols - 1) // cols
    sheet = np.empty((rows * (ch + pad) + pad, cols * (cw + pad) + pad, 3), np.uint8)
    sheet[:] = background
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        y = pad + r * (ch + pad) + (ch - im.shape[0]) // 2
        x = pad + c * (cw + pad) + (cw - im.shape[1]) // 2
        sheet[y : y + im.shape[0], x : x + im.shape[1]] = im
        if labels is not None and labels[i]:
            draw_label(sheet, labels[i], (pad + c * (cw + pad), pad + r * (ch + pad) + 20), (240, 240, 240),
                       scale=0.45)
    return sheet
