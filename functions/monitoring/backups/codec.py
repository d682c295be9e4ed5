"""Firestore values as JSON, and which user a document belongs to.

A backup line is ``{"p": path, "d": data}``. Types JSON lacks are wrapped in a one-key
object whose key starts with ``$fw:`` (timestamps, bytes, geo points, references, vectors),
so a restore writes back exactly what was read. A map of the application's own that looks
like one of those (a single key starting with ``$fw:``) is wrapped in ``{"$fw:map": ...}``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import cache
from typing import Any

from monitoring.backups.settings import BackupSettings, UserCollection

__all__ = ["content_hash", "decode", "document_line", "encode", "owner_of", "parse_line"]


@cache
def _firestore_types() -> tuple[Any, Any, Any]:
    # Imported on first use: the client library costs cold-start time (see store.py).
    from google.cloud.firestore_v1 import DocumentReference, GeoPoint
    from google.cloud.firestore_v1.vector import Vector

    return DocumentReference, GeoPoint, Vector


_MAP = "$fw:map"


def _is_marker(value: dict[str, Any]) -> bool:
    return len(value) == 1 and next(iter(value)).startswith("$fw:")


def encode(value: Any) -> Any:
    """Return ``value`` as JSON-safe data (the inverse of ``decode``)."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    DocumentReference, GeoPoint, Vector = _firestore_types()
    if isinstance(value, dict):
        encoded = {key: encode(item) for key, item in value.items()}
        return {_MAP: encoded} if _is_marker(encoded) else encoded
    if isinstance(value, list):
        return [encode(item) for item in value]
    if isinstance(value, datetime):
        return {"$fw:ts": value.isoformat()}
    if isinstance(value, bytes):
        return {"$fw:bytes": base64.b64encode(value).decode()}
    if isinstance(value, GeoPoint):
        return {"$fw:geo": [value.latitude, value.longitude]}
    if isinstance(value, DocumentReference):
        return {"$fw:ref": value.path}
    if isinstance(value, Vector):
        # An embedding field: not JSON (one made the whole export fail), and not a plain
        # array either, since vector search finds only real vectors.
        return {"$fw:vector": list(value)}
    return value


def decode(value: Any, client: Any = None) -> Any:
    """Return Firestore values from ``encode``'s output; references need ``client``."""
    if isinstance(value, list):
        return [decode(item, client) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        key, item = next(iter(value.items()))
        if key == _MAP:
            return {name: decode(inner, client) for name, inner in item.items()}
        if key == "$fw:ts":
            return datetime.fromisoformat(item)
        if key == "$fw:bytes":
            return base64.b64decode(item)
        if key == "$fw:geo":
            from google.cloud.firestore_v1 import GeoPoint

            return GeoPoint(item[0], item[1])
        if key == "$fw:vector":
            from google.cloud.firestore_v1.vector import Vector

            return Vector(item)
        if key == "$fw:ref" and client is not None:
            return client.document(item)
    return {key: decode(item, client) for key, item in value.items()}


def document_line(path: str, data: Mapping[str, Any]) -> bytes:
    return json.dumps({"p": path, "d": encode(dict(data))}, sort_keys=True).encode() + b"\n"


def parse_line(line: bytes) -> tuple[str, dict[str, Any]]:
    record = json.loads(line)
    return record["p"], record["d"]


def _leaf(value: Any) -> Any:
    encoded = encode(value)
    if encoded is value:
        raise TypeError(f"{type(value).__name__} is not a Firestore value")
    return encoded


def content_hash(documents: Iterable[tuple[str, Mapping[str, Any]]]) -> str:
    """Return a SHA-256 over documents, independent of their order.

    Documents as read and as ``encode`` made them hash alike, except maps that ``encode``
    wraps: only the types JSON lacks are encoded here, because encoding encoded data again
    would wrap every marker.
    """
    lines = sorted(
        json.dumps([path, dict(data)], sort_keys=True, default=_leaf) for path, data in documents
    )
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line.encode() + b"\n")
    return digest.hexdigest()


def _matches(template: str, path: str) -> dict[str, str] | None:
    """Match a collection path template (``users/{uid}/documents``) against a collection."""
    want, have = template.split("/"), path.split("/")
    if len(want) != len(have):
        return None
    bound: dict[str, str] = {}
    for pattern, part in zip(want, have, strict=True):
        if pattern == "{uid}":
            bound["uid"] = part
        elif pattern != part:
            return None
    return bound


def owner_of(
    settings: BackupSettings, path: str, data: Mapping[str, Any]
) -> tuple[str, UserCollection] | None:
    """Return (user id, its collection rule) for a document path, or None if not user data."""
    collection_path, _, doc_id = path.rpartition("/")
    for rule in settings.user_collections:
        bound = _matches(rule.path, collection_path)
        if bound is None:
            continue
        if rule.by_path:
            return bound["uid"], rule
        if rule.id_is_uid:
            return doc_id, rule
        if rule.owner_field is not None:
            owner = data.get(rule.owner_field)
            if isinstance(owner, str):
                return owner, rule
    return None
