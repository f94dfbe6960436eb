"""The ``kvs_local`` pytest fixture: a kvs-local in this process for the test, stopped after.

Installed with the wheel (entry point ``pytest11``), so any project that installs kvs-rs can
write::

    def test_my_app(kvs_local):
        kv = kvs_local.client("kinesisvideo")
        kv.create_stream(StreamName="cam", DataRetentionInHours=1)
"""

import pytest


@pytest.fixture
def kvs_local(tmp_path):
    """A running ``kvs_rs.LocalServer`` with its data in the test's temporary directory."""
    from kvs_rs import LocalServer

    with LocalServer(data_dir=str(tmp_path / "kvs-local")) as server:
        yield server
