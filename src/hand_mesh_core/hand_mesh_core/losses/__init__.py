"""Weak-supervision losses of the single-stage network, one documented function per idea.

Modules (each function states its source, shapes and units):

- ``heatmap``    centre / handedness focal losses (CornerNet), Gaussian target rendering;
- ``keypoints``  2D reprojection, 2D bone direction, 3D joint / vertex L1;
- ``priors``     joint-limit pose prior and shape regulariser of the hand model;
- ``rendering``  photometric and silhouette losses through the differentiable renderer.

The weighted sum used for training is assembled by :mod:`hand_mesh_core.training.objective`.
Nothing is imported here, so importing one module does not pull the others.
"""
