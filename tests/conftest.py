import pytest
from mmengine.registry import init_default_scope


@pytest.fixture(autouse=True, scope='session')
def mmseg_default_scope():
    """Configs of the plugin use ``default_scope='mmseg'``; unit tests that
    build modules directly need the same scope."""
    init_default_scope('mmseg')
