"""Refusing a corrupt model file: one exception type, one message shape, for every loader.

Every file the library reads a model from (single-stage weights ``.safetensors``, exported
``.onnx`` models, TensorRT engine caches, MANO pickles, the open hand model's ``.npz``
assets, MediaPipe's ``.tflite`` / ``.task`` files) is opened inside :func:`reading`. Whatever
the parsing library raises (``SafetensorError``, ``OverflowError`` from pickle,
``zipfile.BadZipFile``, protobuf's ``DecodeError``, MediaPipe's ``RuntimeError``, ...) becomes
a :class:`ModelFileError` whose message is one line: the path, what kind of file it should
be, and what is wrong. ``FileNotFoundError`` (a missing file) passes through unchanged: the
loaders' own messages say where the file was looked for.

Callers that only report (the ``hand-mesh`` verbs, the ROS node) print that line and exit
with status 2; callers that own a derived file (the ONNX / TensorRT caches) catch it and
rebuild the file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

#: Longest problem text kept from the underlying library's message (characters).
MAX_PROBLEM_CHARS = 300


class ModelFileError(ValueError):
    """A model file exists but cannot be used.

    Attributes:
        path: the file (``str``).
        kind: what it should be, e.g. ``"single_stage weights (safetensors)"``.
        problem: what is wrong, one line.

    ``str(error)`` is ``"<path>: not a usable <kind>: <problem>"``. A subclass of
    ``ValueError``, so code that refuses bad options and bad files alike catches both.
    """

    def __init__(self, path: str | os.PathLike, kind: str, problem: str) -> None:
        self.path, self.kind, self.problem = str(path), kind, one_line(problem)
        super().__init__(f"{self.path}: not a usable {kind}: {self.problem}")


def one_line(text: str) -> str:
    """``text`` on one line (line breaks -> ``"; "``), cut at :data:`MAX_PROBLEM_CHARS`."""
    flat = "; ".join(part.strip() for part in str(text).splitlines() if part.strip())
    return flat if len(flat) <= MAX_PROBLEM_CHARS else flat[: MAX_PROBLEM_CHARS - 3] + "..."


@contextlib.contextmanager
def reading(path: str | os.PathLike, kind: str) -> Iterator[None]:
    """Context of reading the model file ``path`` (of ``kind``): errors become :class:`ModelFileError`.

    ``FileNotFoundError`` and a :class:`ModelFileError` raised inside pass through; any other
    ``Exception`` is re-raised as ``ModelFileError(path, kind, "<type>: <message>")`` chained
    to the original (``raise ... from``), so a debugger still sees the library's traceback.
    """
    try:
        yield
    except (FileNotFoundError, ModelFileError):
        raise
    except MemoryError as exc:  # a corrupt header declaring a huge size
        raise ModelFileError(path, kind, f"MemoryError: declares more data than fits in memory {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - whatever the parser raises, the file is the problem
        raise ModelFileError(path, kind, f"{type(exc).__name__}: {exc}") from exc


__all__ = ["ModelFileError", "reading", "one_line"]
