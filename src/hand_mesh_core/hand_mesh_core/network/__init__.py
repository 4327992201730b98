"""The single-stage multi-hand network (Ren, Zhu, Zhang, CVIU 2023) and its decoding.

One module per part, in the order data flows through them:

- ``backbones/``  image -> multi-scale feature maps (registry: :func:`build_backbone`);
- ``neck.py``     multi-scale features -> one shared stride-4 map (the paper's fusion);
- ``heads.py``    shared map -> centre heatmap, handedness, 2 x 61 parameters, texture, light;
- ``config.py``   the OmegaConf config (defaults, loss weights from the paper, checks);
- ``model.py``    :class:`SingleStageNet`, built from a config in ``configs/``, weight files;
- ``letterbox.py`` any image into the square input; ``K_net = A K`` carries the real camera;
- ``decoding.py`` maps -> hands: peaks, parameters, meshes, metric translation in the real K;

The backend that runs it is :mod:`hand_mesh_core.single_stage`; its training targets and
objective are :mod:`hand_mesh_core.training.targets` and :mod:`hand_mesh_core.training.objective`.

Nothing is imported here so that ``import hand_mesh_core.network.backbones`` stays cheap.
"""
