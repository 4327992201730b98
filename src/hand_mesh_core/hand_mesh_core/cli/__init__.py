"""The ``hand-mesh`` command. One subcommand per module of this package.

Every module ``hand_mesh_core/cli/<verb>.py`` defines ``register(app: typer.Typer)``, which
adds its subcommand(s); they are discovered here, so adding a verb touches only its own
module. Heavy imports (torch, MediaPipe) happen inside the command functions, keeping
``hand-mesh --help`` fast. The verbs mirror the Python API (``predict``, ``train``,
``eval``, ``export``, ``bench``, ``pseudo-label``).
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import sys

import typer

app = typer.Typer(
    name="hand-mesh",
    help="Find every hand in an image and reconstruct each as a metric 3D mesh.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _register_all() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_register_all()


def main() -> None:
    """Console-script entry point of ``hand-mesh``.

    A model file that cannot be used (:class:`~hand_mesh_core.model_files.ModelFileError`) or
    a missing file ends any verb with one line on stderr, ``hand-mesh: <path>: <what is
    wrong>``, and exit status 2 (no traceback).
    """
    from hand_mesh_core.model_files import ModelFileError, one_line

    try:
        app()
    except (ModelFileError, FileNotFoundError) as exc:
        print(f"hand-mesh: {one_line(str(exc))}", file=sys.stderr)
        sys.exit(2)
