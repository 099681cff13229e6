"""Shared fixtures."""
import pytest


@pytest.fixture
def one_thread():
    """Tests that train run with one torch thread: steadier timing on shared cores, and the other
    core stays free for the subprocesses some of them start."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
