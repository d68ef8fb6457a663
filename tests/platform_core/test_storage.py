"""The storage interface on both backends: a local directory and an S3 bucket (moto's server over HTTP)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from platform_core.settings import CoreSettings
from platform_core.storage import LocalStorage, S3Storage, Storage, StorageKeyMissing, open_storage
from tests.object_store import S3Bucket


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path) -> Storage:
    if request.param == "local":
        return LocalStorage(tmp_path / "root")
    bucket: S3Bucket = request.getfixturevalue("s3_bucket")
    return open_storage(CoreSettings(data_dir=tmp_path, _env_file=None, **bucket.settings()))


def test_put_get_exists_list_delete(storage: Storage) -> None:
    storage.put("a/b/one.parquet", b"1")
    storage.put("a/b/two.parquet", b"22")
    storage.put("a/c/three.json", b"333")
    storage.put("a/b/one.parquet", b"one again")  # replacing is atomic and allowed
    assert storage.get("a/b/one.parquet") == b"one again"
    assert storage.get_many(["a/c/three.json", "a/b/two.parquet"]) == [b"333", b"22"]
    assert storage.exists("a/b/two.parquet") and not storage.exists("a/b/none.parquet")
    assert storage.list("a") == ["a/b/one.parquet", "a/b/two.parquet", "a/c/three.json"]
    assert storage.list("a/b") == ["a/b/one.parquet", "a/b/two.parquet"]
    assert storage.list("nothing") == []
    with pytest.raises(StorageKeyMissing):
        storage.get("a/b/none.parquet")
    with pytest.raises(StorageKeyMissing):
        storage.get_many(["a/b/one.parquet", "a/b/none.parquet"])
    storage.delete("a/c/three.json")
    storage.delete("a/c/three.json")  # a missing key is fine
    assert storage.delete_prefix("a/b") == 2
    assert storage.list("a") == []


def test_a_child_is_a_prefix_of_its_parent(storage: Storage) -> None:
    child = storage.child("market").child("staging/by-date")
    child.put("20250303/daily.parquet", b"x")
    assert storage.get("market/staging/by-date/20250303/daily.parquet") == b"x"
    assert child.list("20250303") == ["20250303/daily.parquet"]


@pytest.mark.parametrize("key", ["", "/abs", "a//b", "../escape", "a/../../b", "a/./b", "a\\b"])
def test_keys_cannot_escape_the_root(storage: Storage, key: str) -> None:
    with pytest.raises(StorageKeyMissing):
        storage.put(key, b"x")


def test_an_s3_store_is_in_the_bucket_below_its_prefix(s3_bucket: S3Bucket, tmp_path) -> None:
    storage = open_storage(CoreSettings(data_dir=tmp_path, _env_file=None, **s3_bucket.settings()))
    assert isinstance(storage, S3Storage)
    storage.child("artifacts").put("o/r/equity.parquet", b"e")
    assert s3_bucket.server.keys(s3_bucket.name) == ["huice/artifacts/o/r/equity.parquet"]
    assert list(tmp_path.iterdir()) == []  # nothing local


def test_describe_and_repr_never_show_the_secret(s3_bucket: S3Bucket, tmp_path) -> None:
    settings = CoreSettings(data_dir=tmp_path, _env_file=None, **s3_bucket.settings())
    storage = open_storage(settings)
    secret = settings.storage_secret_access_key.get_secret_value()
    shown = f"{storage.describe()} {storage!r} {storage.config!r} {settings!r}"
    assert secret not in shown and s3_bucket.settings()["storage_access_key_id"] not in repr(storage.config)
    assert storage.describe() == {
        "backend": "s3",
        "bucket": s3_bucket.name,
        "prefix": "huice",
        "endpoint_url": s3_bucket.server.endpoint_url,
        "region": "us-east-1",
        "credentials": "configured",
    }


def test_unset_url_is_the_data_directory(tmp_path) -> None:
    storage = open_storage(CoreSettings(data_dir=tmp_path, _env_file=None))
    assert isinstance(storage, LocalStorage) and storage.root == tmp_path.resolve()
    other = open_storage(CoreSettings(data_dir=tmp_path, storage_url=f"file://{tmp_path}/elsewhere", _env_file=None))
    assert isinstance(other, LocalStorage) and other.root == (tmp_path / "elsewhere").resolve()


@pytest.mark.parametrize("url", ["s3://", "s3:///prefix", "gs://bucket/x", "bucket/prefix", "s3://b/../x"])
def test_a_bad_storage_url_is_refused_at_start_up(url: str) -> None:
    with pytest.raises(ValidationError, match="HUICE_STORAGE_URL"):
        CoreSettings(storage_url=url, _env_file=None)
