"""A run's files on an S3-compatible object store: where they go, how they get there and back.

    s3://<bucket>/<prefix>/<run_id>/
        options.json, train_log.jsonl, eval.json
        checkpoints/step-<env_steps>/...   manifest.json is uploaded last
        artifacts/<relative path>          plots, GIFs, receipts...

This module only moves objects; what a checkpoint is (and that its manifest goes up last)
is the S3 sink's business, and fetching a run back for a resume is the pipeline's.

boto3 is imported lazily: it is the ``s3`` extra. Credentials come from boto3's usual chain
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``~/.aws``, an instance role).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlops.errors import BackendError, OptionsError
from rlops.options.schema import Options


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # no leading or trailing slash; may be empty

    @classmethod
    def parse(cls, uri: str) -> S3Location:
        if not uri.startswith("s3://") or not uri[5:].split("/", 1)[0]:
            raise OptionsError(f"store.s3_uri {uri!r} is not an s3://bucket[/prefix] URL",
                               hint="e.g. --store.s3-uri s3://my-bucket/rlruns")
        bucket, _, prefix = uri[5:].partition("/")
        return cls(bucket, prefix.strip("/"))

    def key(self, *parts: str) -> str:
        return "/".join(part.strip("/") for part in (self.prefix, *parts) if part.strip("/"))

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


def s3_location(options: Options) -> S3Location:
    """``store.s3_uri``, or ``store.tracking_uri`` when that is an s3:// URL."""
    uri = options.store.s3_uri
    if uri is None and (options.store.tracking_uri or "").startswith("s3://"):
        uri = options.store.tracking_uri
    if uri is None:
        raise OptionsError("the s3 backend needs a bucket", hint="set --store.s3-uri s3://BUCKET/PREFIX "
                                                                 "(and --store.endpoint-url for a non-AWS server)")
    return S3Location.parse(uri)


# An unreachable store must fail fast, not hang a sink: botocore's defaults are 60 s reads and
# up to 5 attempts. A read timeout is the silence between two reads, so big uploads still work.
CONNECT_TIMEOUT_S = 3
READ_TIMEOUT_S = 10
ATTEMPTS = 2  # in all, the first included
PROBE_READ_TIMEOUT_S = 3  # the bucket check as the sink opens: one try, a short wait


def s3_client(options: Options, probe: bool = False) -> Any:
    """A client with short timeouts and few retries; ``probe``: one try of a few seconds, for the
    check that a store answers at all (a server that accepts and never answers must not cost
    attempts x read timeout before the sink is known to be out)."""
    return client_at(options.store.endpoint_url, probe)


def client_at(endpoint_url: str | None, probe: bool = False) -> Any:
    """``s3_client`` for an endpoint known without a run's options (a registry row's)."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=CONNECT_TIMEOUT_S, read_timeout=PROBE_READ_TIMEOUT_S if probe else READ_TIMEOUT_S,
                    retries={"total_max_attempts": 1 if probe else ATTEMPTS, "mode": "standard"})
    return boto3.client("s3", endpoint_url=endpoint_url, config=config)


class RunObjects:
    """One run's prefix on the store."""

    def __init__(self, client: Any, location: S3Location, run_id: str) -> None:
        self.client, self.location, self.run_id = client, location, run_id

    def key(self, *parts: str) -> str:
        return self.location.key(self.run_id, *parts)

    def url(self, *parts: str) -> str:
        return f"s3://{self.location.bucket}/{self.key(*parts)}"

    def check_bucket(self) -> None:
        """Fail now, with the endpoint's answer, rather than at the first checkpoint."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.location.bucket)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "?")
            hint = ("create the bucket first" if code in ("404", "NoSuchBucket")
                    else "check the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) and the bucket's policy")
            raise BackendError(f"S3 bucket {self.location.bucket!r} at {self._endpoint()} answered {code}",
                             hint=hint) from None
        except BotoCoreError as exc:
            raise BackendError(f"S3 endpoint {self._endpoint()} cannot be reached: {exc}",
                             hint="check --store.endpoint-url and that the server is up") from None
        except RecursionError:  # botocore's region redirector asks again at every redirect without a region
            raise BackendError(f"S3 endpoint {self._endpoint()} answers bucket {self.location.bucket!r} with "
                               "redirects: rlops does not follow an S3 endpoint's redirects",
                               hint="set --store.endpoint-url to the address the store itself answers on") from None

    def _endpoint(self) -> str:
        return self.client.meta.endpoint_url

    # Uploads

    def upload_file(self, path: Path, *parts: str) -> None:
        self.client.upload_file(str(path), self.location.bucket, self.key(*parts))

    def upload_tree(self, path: Path, *parts: str) -> int:
        """A file, or every file under a directory, keeping relative paths; returns how many."""
        if path.is_file():
            self.upload_file(path, *parts)
            return 1
        count = 0
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            self.upload_file(file, *parts, file.relative_to(path).as_posix())
            count += 1
        return count

    # Downloads

    def list_keys(self, *parts: str) -> list[str]:
        """Keys under ``parts`` (relative to it), in the store's order."""
        prefix = self.key(*parts) + "/"
        keys = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.location.bucket, Prefix=prefix):
            keys += [item["Key"][len(prefix):] for item in page.get("Contents", [])]
        return keys

    def exists(self, *parts: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.location.bucket, Key=self.key(*parts))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def download_file(self, target: Path, *parts: str) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        self.client.download_file(self.location.bucket, self.key(*parts), str(target))
