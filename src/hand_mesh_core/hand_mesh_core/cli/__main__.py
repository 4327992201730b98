"""``python -m hand_mesh_core.cli`` = the ``hand-mesh`` command (also how Lightning's DDP
launcher re-runs ``hand-mesh train`` for the other ranks when no console script is installed)."""

from hand_mesh_core.cli import main

if __name__ == "__main__":
    main()
