"""What every dataset reader shares: a read-only sequence of :class:`Sample` objects.

A reader parses its annotation files once in its constructor and builds each
:class:`~hand_mesh_core.data.sample.Sample` on indexing, so that large datasets
(InterHand2.6M has millions of frames) cost no more memory than their parsed arrays.
Readers never read image pixels; :meth:`Sample.load_image` does, on demand. A reader is
a ``Sequence``: ``len(reader)``, ``reader[i]`` and iteration work, and it can be handed
to a ``torch.utils.data.DataLoader`` as a map-style dataset (with a collate function).
"""

from __future__ import annotations

import abc
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from hand_mesh_core.data.sample import Sample


class SampleReader(Sequence, abc.ABC):
    """Base class of the dataset readers: ``len()``, ``[i]`` (negative ``i`` allowed),
    iteration. Subclasses set :attr:`dataset` and implement :meth:`__len__` and
    :meth:`_sample`. Indexing out of range raises ``IndexError``."""

    #: Short name of the dataset, written into every sample.
    dataset: str = ""

    @abc.abstractmethod
    def __len__(self) -> int:
        """Number of samples."""

    @abc.abstractmethod
    def _sample(self, index: int) -> Sample:
        """Build sample ``index`` (``0 <= index < len(self)``)."""

    def __getitem__(self, index: int) -> Sample:  # type: ignore[override]
        if isinstance(index, slice):
            return [self._sample(i) for i in range(*index.indices(len(self)))]
        n = len(self)
        i = int(index)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"{type(self).__name__} index {index} out of range for {n} samples")
        return self._sample(i)

    def __iter__(self) -> Iterator[Sample]:
        for i in range(len(self)):
            yield self._sample(i)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} samples)"


def require_file(path: str | Path, what: str) -> Path:
    """``path`` as a Path; ``FileNotFoundError`` naming ``what`` when it is not a file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    return path


def require_dir(path: str | Path, what: str) -> Path:
    """``path`` as a Path; ``FileNotFoundError`` naming ``what`` when it is not a folder."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{what} not found: {path}")
    return path


def load_json(path: str | Path, what: str) -> Any:
    """Parse a JSON file; ``FileNotFoundError`` if missing, ``ValueError`` if malformed."""
    path = require_file(path, what)
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{what} is not valid JSON ({path}): {e}") from e


__all__ = ["SampleReader", "require_file", "require_dir", "load_json"]
