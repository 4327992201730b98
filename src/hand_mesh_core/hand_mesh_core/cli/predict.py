"""``hand-mesh predict``: hands of images, image folders and videos -> JSON + overlay PNG.

Mirrors :func:`hand_mesh_core.create_predictor` / ``Predictor.predict``: the same option
names, one JSON (:meth:`Prediction.to_json`, keypoint order and units written in the
file) and one overlay PNG (:meth:`Prediction.plot`) per image or video frame.

``--runtime`` and ``--weights`` are options of the ``single_stage`` backend (what runs the
network: :mod:`hand_mesh_core.single_stage.runtimes`; which weights file: default the shipped one) and
are refused with ``two_stage``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from hand_mesh_core.model_files import ModelFileError


def register(app: typer.Typer) -> None:
    app.command("predict")(predict)


def camera_matrix(
    width: int, height: int, fx: float | None, fy: float | None, cx: float | None, cy: float | None, fov: float | None
):
    """``K`` for one image size from the CLI options, or None for the library default.

    ``--fx`` alone gives square pixels (``fy = fx``) and the principal point at the
    image centre unless ``--cx/--cy`` are given; ``--fov`` is the horizontal field of view
    in degrees. Raises ``typer.BadParameter`` when both or only ``--fy/--cx/--cy`` are given.
    """
    from hand_mesh_core.camera import intrinsics_from_fov, validate_intrinsics

    explicit = any(v is not None for v in (fx, fy, cx, cy))
    if explicit and fov is not None:
        raise typer.BadParameter("give either --fx/--fy/--cx/--cy or --fov, not both")
    if explicit:
        if fx is None:
            raise typer.BadParameter("--fy/--cx/--cy need --fx")
        cx = width / 2.0 if cx is None else cx
        cy = height / 2.0 if cy is None else cy
        K = [[fx, 0.0, cx], [0.0, fx if fy is None else fy, cy], [0.0, 0.0, 1.0]]
        try:
            return validate_intrinsics(K)
        except ValueError as e:
            raise typer.BadParameter(str(e)) from e
    if fov is not None:
        try:
            return intrinsics_from_fov(width, height, fov)
        except ValueError as e:
            raise typer.BadParameter(str(e)) from e
    return None


def backend_options(backend: str, runtime: str, weights: Path | None) -> dict:
    """``create_predictor`` options of ``--runtime`` / ``--weights`` for ``backend``.

    ``single_stage``: ``{"runtime": runtime}`` plus ``{"weights": str(weights)}`` when given.
    Other backends take neither: ``typer.BadParameter`` when ``--weights`` is given or
    ``--runtime`` is not the default ``torch``; an unknown runtime is refused too.
    """
    from hand_mesh_core.single_stage.runtimes import RUNTIMES

    if runtime not in RUNTIMES:
        raise typer.BadParameter(f"--runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    if backend != "single_stage":
        if weights is not None:
            raise typer.BadParameter(f"--weights is an option of the single_stage backend, not {backend}")
        if runtime != "torch":
            raise typer.BadParameter(f"--runtime is an option of the single_stage backend, not {backend}")
        return {}
    return {"runtime": runtime, **({"weights": str(weights)} if weights is not None else {})}


def predict(
    paths: list[Path] = typer.Argument(..., help="Images, image folders or video files.", exists=True),
    backend: str = typer.Option("two_stage", help="Backend of create_predictor."),
    runtime: str = typer.Option("torch", help="single_stage: what runs the network: torch, onnxruntime or "
                                "tensorrt (CUDA)."),
    weights: Optional[Path] = typer.Option(None, help="single_stage: weights file (.safetensors) "
                                           "[default: the shipped weights].", exists=True, dir_okay=False),
    fx: Optional[float] = typer.Option(None, help="Focal length x, pixels."),
    fy: Optional[float] = typer.Option(None, help="Focal length y, pixels (default: fx)."),
    cx: Optional[float] = typer.Option(None, help="Principal point x, pixels (default: image centre)."),
    cy: Optional[float] = typer.Option(None, help="Principal point y, pixels (default: image centre)."),
    fov: Optional[float] = typer.Option(None, help="Horizontal field of view, degrees (instead of --fx...)."),
    out: Path = typer.Option(Path("output/predict"), help="Output folder."),
    device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N."),
    max_hands: int = typer.Option(4, min=1, help="Most hands per image."),
    score_threshold: float = typer.Option(0.5, min=0.0, max=1.0, help="Detection threshold."),
    hand_model: str = typer.Option("open", help="open (shipped) or mano (needs --mano-path)."),
    mano_path: Optional[Path] = typer.Option(None, help="Folder or file of your MANO model."),
    max_frames: int = typer.Option(0, min=0, help="Stop each video after this many frames (0 = all)."),
    smoothing: bool = typer.Option(False, help="Videos: One-Euro smoothing of the tracked hands "
                                   "(less jitter, a little lag; hand_mesh_core.smoothing)."),
    tiles: str = typer.Option("off", help="Tiled inference for small hands in large frames: off, auto or a grid "
                              "CxR such as 2x2 (hand_mesh_core.tiling)."),
    mesh_json: bool = typer.Option(True, help="Write vertices and faces into the JSON."),
    overlay: bool = typer.Option(True, help="Write the overlay PNGs."),
) -> None:
    """Find every hand, reconstruct it as a metric 3D mesh, write JSON + overlay PNG per image.

    Videos run in stream mode (track ids, warm starts, optional smoothing); their frames are
    written as ``<video stem>_<frame:06d>.json/.png``.
    """
    import cv2

    from hand_mesh_core.media import IMAGE_SUFFIXES, FrameSource
    from hand_mesh_core.backends import create_predictor

    out.mkdir(parents=True, exist_ok=True)
    options = dict(device=device, max_hands=max_hands, score_threshold=score_threshold, hand_model=hand_model,
                   mano_path=str(mano_path) if mano_path else None, tiles=tiles,
                   **backend_options(backend, runtime, weights))
    predictors: dict[bool, object] = {}
    written = 0
    for path in paths:
        source = FrameSource(path)
        is_video = path.is_file() and path.suffix.lower() not in IMAGE_SUFFIXES  # frames of one stream
        if is_video not in predictors:
            try:
                predictors[is_video] = create_predictor(backend, video=is_video, smoothing=smoothing and is_video,
                                                        **options)
            except ModelFileError:
                raise  # a corrupt file, not a bad option: one line and status 2 from cli.main
            except (ValueError, FileNotFoundError) as e:
                raise typer.BadParameter(str(e)) from e
            except RuntimeError as e:  # the runtime's package, provider or GPU is missing
                typer.echo(f"error: {e}", err=True)
                raise typer.Exit(2) from e
        predictor = predictors[is_video]
        predictor.reset()
        for frame in source:
            if is_video and max_frames and frame.index >= max_frames:
                break
            height, width = frame.rgb.shape[:2]
            K = camera_matrix(width, height, fx, fy, cx, cy, fov)
            prediction = predictor.predict(frame.rgb, K=K, timestamp=frame.time)
            stem = Path(frame.name).stem
            prediction.to_json(out / f"{stem}.json", include_mesh=mesh_json)
            if overlay:
                cv2.imwrite(str(out / f"{stem}.png"), cv2.cvtColor(prediction.plot(frame.rgb), cv2.COLOR_RGB2BGR))
            sides = ", ".join(f"{h.handedness} z={h.keypoints_3d[0, 2]:.2f} m" for h in prediction) or "no hands"
            typer.echo(f"{frame.name}: {len(prediction)} hands ({sides}), {prediction.timings.get('total', 0):.0f} ms")
            written += 1
    typer.echo(f"wrote {written} results to {out}")
