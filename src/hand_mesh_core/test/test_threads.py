"""single_cpu_thread: one torch intra-op thread inside the block, the previous setting after."""

from __future__ import annotations

import pytest
import torch

from hand_mesh_core.threads import single_cpu_thread


def test_one_thread_inside_and_previous_setting_restored_even_on_error():
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with single_cpu_thread():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with pytest.raises(RuntimeError, match="inside"):
            with single_cpu_thread():
                raise RuntimeError("inside")
        assert torch.get_num_threads() == 2
        torch.set_num_threads(1)
        with single_cpu_thread():  # already one thread: left as it is
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(previous)


def test_the_fit_and_the_engines_use_the_shared_helper():
    from hand_mesh_core.single_stage import backend as engine
    from hand_mesh_core.two_stage import fitting

    assert engine.single_cpu_thread is single_cpu_thread
    assert fitting.single_cpu_thread is single_cpu_thread
