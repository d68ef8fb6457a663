"""`/ready` and `huice doctor` report where bars and artifacts live — local, or the S3 bucket with one HEAD
probe — beside the gates, never with a credential."""

from __future__ import annotations

import socket
from pathlib import Path

from huice.health import doctor, readiness
from platform_core.settings import CoreSettings
from platform_core.storage import open_storage
from tests.object_store import S3Bucket


def test_ready_reports_the_local_storage_by_default(container) -> None:
    check = readiness(container)["checks"]["storage"]
    assert (check["ok"], check["backend"]) == (True, "local")
    assert "root" not in check and str(container.storage.describe()["root"]) not in repr(readiness(container))
    line = next(x for x in doctor(container)["checklist"] if x["check"] == "storage")
    assert line["status"] == "ok" and line["text"].startswith("local data directory")


def test_doctor_shows_the_bucket_and_never_the_secret(container, s3_bucket: S3Bucket, tmp_path: Path) -> None:
    container.extras["storage"] = open_storage(CoreSettings(data_dir=tmp_path, _env_file=None, **s3_bucket.settings()))
    report = doctor(container)
    check = report["checks"]["storage"]
    assert (check["ok"], check["bucket"], check["prefix"], check["credentials"]) == (
        True,
        s3_bucket.name,
        "huice",
        "configured",
    )
    line = next(x for x in report["checklist"] if x["check"] == "storage")
    assert line["status"] == "ok" and line["text"].startswith(f"{s3_bucket.url} at {s3_bucket.server.endpoint_url}")
    assert s3_bucket.env()["HUICE_STORAGE_SECRET_ACCESS_KEY"] not in repr(report)


def test_an_unreachable_bucket_fails_its_check_but_not_readiness_gates(container, tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = CoreSettings(
        data_dir=tmp_path,
        storage_url="s3://nowhere/huice",
        storage_endpoint_url=f"http://127.0.0.1:{port}",
        storage_access_key_id="k",
        storage_secret_access_key="never-shown-secret",
        _env_file=None,
    )
    container.extras["storage"] = open_storage(settings)
    report = readiness(container)
    check = report["checks"]["storage"]
    assert check["ok"] is False and check["bucket"] == "nowhere" and "error" in check
    assert "storage" not in report["gates"]
    assert "never-shown-secret" not in repr(report)
