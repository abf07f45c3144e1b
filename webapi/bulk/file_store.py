"""Files of the Batch API: contents under DATA_DIR/files, metadata in Redis (FILE_KEY_PREFIX).

Every API process must see the same DATA_DIR (one host, or a shared volume), as every process
may serve a file's content or drive a batch that reads it.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import IO, Any

from redis import Redis

from tasks.contract import FILE_KEY_PREFIX, FILES_KEY
from tasks.errors import InvalidRequest, NotFound, PayloadTooLarge

#: Purposes a client may upload; batch_output files are written by the service.
UPLOAD_PURPOSES = ("batch",)
CHUNK_BYTES = 1 << 20


class FileStore:
    """Create, read and delete files; each belongs to a tenant."""

    def __init__(self, redis: Redis, data_dir: str | Path) -> None:
        self.redis = redis
        # Absolute: a relative DATA_DIR means the working directory, not Flask's app folder.
        self.directory = Path(data_dir).resolve() / "files"
        self.directory.mkdir(parents=True, exist_ok=True)

    def upload(
        self, stream: IO[bytes], filename: str, purpose: str, tenant: str, max_bytes: int, max_lines: int
    ) -> dict[str, Any]:
        """Store an uploaded file, refusing it past the byte or line limit."""
        if purpose not in UPLOAD_PURPOSES:
            raise InvalidRequest(f"purpose must be one of {', '.join(UPLOAD_PURPOSES)}", "purpose", "invalid_value")
        file_id = "file-" + uuid.uuid4().hex
        temporary = self.directory / f".{file_id}.part"
        size = lines = 0
        last = b"\n"
        try:
            with temporary.open("wb") as out:
                while chunk := stream.read(CHUNK_BYTES):
                    size += len(chunk)
                    if size > max_bytes:
                        raise PayloadTooLarge(f"the file is larger than the limit of {max_bytes} bytes", "file")
                    lines += chunk.count(b"\n")
                    last = chunk[-1:]
                    out.write(chunk)
            lines += last != b"\n"  # a last line without its newline
            if size == 0:
                raise InvalidRequest("the file is empty", "file", "empty")
            if lines > max_lines:
                raise InvalidRequest(f"the file has {lines} lines; the limit is {max_lines}", "file", "too_many_lines")
            os.replace(temporary, self.path(file_id))
        finally:
            temporary.unlink(missing_ok=True)
        return self._record(file_id, filename or "upload.jsonl", purpose, tenant, size)

    def adopt(self, file_id: str, written: Path, filename: str, purpose: str, tenant: str) -> dict[str, Any]:
        """Register a file the service wrote (a batch's output), moving it into place."""
        os.replace(written, self.path(file_id))
        return self._record(file_id, filename, purpose, tenant, self.path(file_id).stat().st_size)

    def get(self, file_id: str, tenant: str) -> dict[str, Any]:
        """The file object; NotFound for unknown ids and other tenants' files."""
        raw = self.redis.hgetall(FILE_KEY_PREFIX + file_id)
        record = {k.decode(): v.decode() for k, v in raw.items()}
        if not record or record["tenant"] != tenant:
            raise NotFound(f"no file with id {file_id!r}", "file_id")
        return _file_object(record)

    def path(self, file_id: str) -> Path:
        """Where the file's content is (ids are made here, so they are safe as names)."""
        return self.directory / f"{file_id}.jsonl"

    def list(self, tenant: str, purpose: str | None = None) -> list[dict[str, Any]]:
        """The tenant's files, newest first."""
        files = []
        for file_id in self.redis.zrevrange(FILES_KEY, 0, -1):
            try:
                file = self.get(file_id.decode(), tenant)
            except NotFound:
                continue
            if purpose is None or file["purpose"] == purpose:
                files.append(file)
        return files

    def delete(self, file_id: str, tenant: str) -> dict[str, Any]:
        """Delete the file and its content."""
        self.get(file_id, tenant)
        with self.redis.pipeline() as pipe:
            pipe.delete(FILE_KEY_PREFIX + file_id).zrem(FILES_KEY, file_id).execute()
        self.path(file_id).unlink(missing_ok=True)
        return {"id": file_id, "object": "file", "deleted": True}

    def _record(self, file_id: str, filename: str, purpose: str, tenant: str, size: int) -> dict[str, Any]:
        record = {
            "id": file_id,
            "filename": filename,
            "purpose": purpose,
            "tenant": tenant,
            "bytes": str(size),
            "created_at": str(int(time.time())),
        }
        with self.redis.pipeline() as pipe:
            pipe.hset(FILE_KEY_PREFIX + file_id, mapping=record)
            pipe.zadd(FILES_KEY, {file_id: time.time()})
            pipe.execute()
        return _file_object(record)


def _file_object(record: dict[str, str]) -> dict[str, Any]:
    return {
        "id": record["id"],
        "object": "file",
        "bytes": int(record["bytes"]),
        "created_at": int(record["created_at"]),
        "filename": record["filename"],
        "purpose": record["purpose"],
        "status": "processed",
        "expires_at": None,
        "status_details": None,
    }
