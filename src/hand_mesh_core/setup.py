"""hand_mesh_core: a plain Python package that colcon also builds as ament_python.

`pip install -e src/hand_mesh_core` and `colcon build` both use this file.
"""

from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "hand_mesh_core"
HERE = Path(__file__).parent

setup(
    name=PACKAGE,
    version="0.1.0",
    description="Single-stage multi-hand 3D mesh reconstruction (core library, no ROS).",
    long_description=(HERE.parent.parent / "README.md").read_text() if (HERE.parent.parent / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10,<3.13",
    packages=find_packages(exclude=["test", "test.*"]),
    include_package_data=True,
    package_data={PACKAGE: ["assets/**/*", "configs/*.yaml"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ],
    # Ranges only; exact, tested versions live in requirements/constraints.txt.
    install_requires=[
        "numpy>=1.24,<2",
        "torch>=2.1",
        "opencv-python-headless>=4.8",
        "scipy>=1.10",
        "pyyaml>=6",
        "omegaconf>=2.3",
        "typer>=0.12",
        "rich>=13",
        "safetensors>=0.4",
    ],
    extras_require={
        "two_stage": ["mediapipe==0.10.21"],
        "train": ["lightning>=2.2", "tensorboard>=2.14", "albumentations>=1.4", "tqdm"],
        "export": ["onnx>=1.15", "onnxruntime>=1.17"],
        "mano": ["smplx"],
        "build_model": ["pygltflib>=1.16"],
        "test": ["pytest>=7"],
    },
    zip_safe=False,
    entry_points={"console_scripts": ["hand-mesh = hand_mesh_core.cli:main"]},
)
