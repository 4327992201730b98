"""Benchmark scripts: each prints a table and writes it (Markdown/JSON) to an ``--out`` folder.

Run one with ``python -m hand_mesh_core.bench.<name> --help``.
"""
