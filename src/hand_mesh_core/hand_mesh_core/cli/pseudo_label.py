"""``hand-mesh pseudo-label``: label images, folders, videos and ROS bags with the reference pipeline.

Mirrors :func:`hand_mesh_core.data.pseudo_label.write_pseudo_labels`: the dataset written
to ``--out`` (``labels.jsonl``, ``images/``, ``info.json``) is read for training by
:class:`hand_mesh_core.data.readers.PseudoLabelReader`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("pseudo-label")(pseudo_label)


def pseudo_label(
    inputs: list[Path] = typer.Argument(..., help="Images, folders (recursive), videos, .mcap files, rosbag2 folders.",
                                        exists=True),
    out: Path = typer.Option(..., "--out", help="Output dataset folder (keep it outside the repository)."),
    min_confidence: float = typer.Option(0.5, min=0.0, max=1.0, help="Reject teacher hands below this confidence."),
    score_threshold: float = typer.Option(0.5, min=0.0, max=1.0, help="MediaPipe detection/presence threshold."),
    max_hands: int = typer.Option(6, min=1, help="Most hands per frame."),
    frame_stride: int = typer.Option(10, min=1, help="Label every N-th frame of videos and bag topics."),
    topic: Optional[list[str]] = typer.Option(None, "--topic", help="Image topic of bags (repeatable; default: all)."),
    min_hand_size: float = typer.Option(24.0, min=0.0, help="Reject hands smaller than this (pixels)."),
    max_image_side: int = typer.Option(1280, min=32, help="Downscale larger frames before labelling."),
    video_mode: bool = typer.Option(True, help="MediaPipe VIDEO mode (tracking) within a video or topic."),
    hand_model: str = typer.Option("open", help="open (shipped) or mano (needs --mano-path)."),
    mano_path: Optional[Path] = typer.Option(None, help="Folder or file of your MANO model."),
    resume: bool = typer.Option(True, help="Continue an existing dataset in --out (skip labelled frames)."),
) -> None:
    """Write the teacher's 2D keypoints, fitted pose/shape/translation, K and a confidence per hand."""
    from hand_mesh_core.data.pseudo_label import PseudoLabelSettings, write_pseudo_labels

    settings = PseudoLabelSettings(
        min_confidence=min_confidence, detection_threshold=score_threshold, max_hands=max_hands,
        frame_stride=frame_stride, min_hand_size=min_hand_size, max_image_side=max_image_side,
        video_mode=video_mode, hand_model=hand_model, mano_path=str(mano_path) if mano_path else None,
    )

    def report(frame, hands, rejected) -> None:
        typer.echo(f"{frame.key}: {len(hands)} hands" + (f", {len(rejected)} rejected" if rejected else ""))

    try:
        summary = write_pseudo_labels(inputs, out, settings, topics=topic or None, resume=resume, progress=report)
    except (ValueError, FileExistsError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from e
    s = summary
    typer.echo(f"{s.frames} frames ({s.skipped_known} from before), {s.frames_with_hands} with hands, "
               f"{s.hands} hands kept, {s.rejected} rejected -> {out}")
