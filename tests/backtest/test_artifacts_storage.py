"""The artifact store on an S3 bucket (moto's server over HTTP): the same keys and answers as the local one."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from backtest.artifacts import StorageArtifactStore, artifact_key
from platform_core.errors import NotFound
from platform_core.settings import CoreSettings
from platform_core.storage import open_storage
from tests.object_store import S3Bucket


def test_artifacts_write_and_read_back_on_s3(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    root = open_storage(CoreSettings(data_dir=tmp_path, _env_file=None, **s3_bucket.settings()))
    store = StorageArtifactStore(root.child("artifacts"))
    owner, run = uuid.uuid4(), uuid.uuid4()
    key = artifact_key(owner, run, "equity")
    stored = store.put(key, b"first")
    assert (stored.key, stored.bytes) == (f"{owner}/{run}/equity.parquet", 5)
    store.put(key, b"second")  # a repeated attempt replaces the object
    assert store.get(key) == b"second" and store.exists(key)
    assert s3_bucket.keys() == [f"artifacts/{owner}/{run}/equity.parquet"]
    with pytest.raises(NotFound):
        store.get(artifact_key(owner, run, "trades"))
    assert not store.exists(artifact_key(owner, run, "trades"))
    with pytest.raises(NotFound):
        store.get("../../outside.parquet")
    assert list(tmp_path.iterdir()) == []
