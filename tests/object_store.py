"""An S3 API server for the tests: moto's standalone server on a free loopback port, one per test run, and
a fresh bucket for each test that asks (`s3_bucket`). Registered as a plugin in `tests/conftest.py`.

moto keeps the objects in the server's memory and checks the calls against the S3 API (moto does not
verify signatures); the clients under test (obstore, polars' own object_store reader, the worker processes)
talk to it over real HTTP, exactly as to MinIO or AWS.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

REGION = "us-east-1"
ACCESS_KEY_ID = "huice-test-key"
SECRET_ACCESS_KEY = "huice-test-secret-never-logged"


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
        )

    def create_bucket(self) -> str:
        name = f"huice-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every key in `bucket` below `prefix`, read with boto3 (not with the code under test)."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


@dataclass(frozen=True)
class S3Bucket:
    server: S3Server
    name: str
    prefix: str = "huice"

    @property
    def url(self) -> str:
        return f"s3://{self.name}/{self.prefix}"

    def env(self) -> dict[str, str]:
        """The settings that point huice (and its worker processes) at this bucket."""
        return {
            "HUICE_STORAGE_URL": self.url,
            "HUICE_STORAGE_ENDPOINT_URL": self.server.endpoint_url,
            "HUICE_STORAGE_REGION": REGION,
            "HUICE_STORAGE_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "HUICE_STORAGE_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        }

    def settings(self) -> dict[str, str]:
        return {k.removeprefix("HUICE_").lower(): v for k, v in self.env().items()}

    def keys(self, below: str = "") -> list[str]:
        """The keys below the bucket's huice prefix (relative to it)."""
        base = f"{self.prefix}/{below}" if below else f"{self.prefix}/"
        return [k[len(self.prefix) + 1 :] for k in self.server.keys(self.name, base)]


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3Server(f"http://{host}:{port}")
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> S3Bucket:
    return S3Bucket(s3_server, s3_server.create_bucket())
