import gc

import pytest

from apps.core.garbage import cyclic_collector_paused


@pytest.fixture
def collector_enabled():
    was_enabled = gc.isenabled()
    gc.enable()
    yield
    if not was_enabled:
        gc.disable()


def test_the_collector_is_paused_inside_and_running_again_after(collector_enabled):
    with cyclic_collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_nested_pause_leaves_it_paused_until_the_outermost_ends(collector_enabled):
    with cyclic_collector_paused():
        with cyclic_collector_paused():
            pass
        assert not gc.isenabled()
    assert gc.isenabled()


def test_the_collector_runs_again_after_an_error(collector_enabled):
    with pytest.raises(ValueError), cyclic_collector_paused():
        raise ValueError
    assert gc.isenabled()


def test_a_collector_paused_by_someone_else_stays_paused(collector_enabled):
    gc.disable()
    with cyclic_collector_paused():
        pass
    assert not gc.isenabled()
