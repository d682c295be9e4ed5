"""A small Firestore REST client for rules tests.

The Python client always authenticates as ``owner`` against the emulator, which bypasses
the rules, so rules are exercised over REST with unsigned ID tokens (see tokens.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from monitoring.localstack.emulators import FirestoreEmulator

OWNER = {"Authorization": "Bearer owner"}


def encode(data: dict[str, str]) -> dict[str, Any]:
    return {"fields": {key: {"stringValue": value} for key, value in data.items()}}


@dataclass
class Rest:
    """Requests against one emulator project, as whoever ``headers`` say."""

    emulator: FirestoreEmulator
    client: httpx.Client

    @property
    def root(self) -> str:
        return f"projects/{self.emulator.project_id}/databases/(default)/documents"

    @property
    def base(self) -> str:
        return f"{self.emulator.url}/v1/{self.root}"

    def put_rules(self, content: str) -> None:
        url = f"{self.emulator.url}/emulator/v1/projects/{self.emulator.project_id}:securityRules"
        body = {"rules": {"files": [{"name": "firestore.rules", "content": content}]}}
        self.client.put(url, json=body).raise_for_status()

    def seed(self, docs: dict[str, dict[str, str]], absent: tuple[str, ...] = ()) -> None:
        """Write ``{path: fields}`` and delete ``absent`` as the owner, in one commit.

        Cheaper than an emulator reset, so each test starts from the same documents.
        """
        writes: list[dict[str, Any]] = [{"delete": f"{self.root}/{path}"} for path in absent]
        writes += [
            {"update": {"name": f"{self.root}/{path}", **encode(data)}}
            for path, data in docs.items()
        ]
        response = self.client.post(f"{self.base}:commit", json={"writes": writes}, headers=OWNER)
        response.raise_for_status()

    def exists(self, path: str) -> bool:
        return self.client.get(f"{self.base}/{path}", headers=OWNER).status_code == 200

    def stored(self, path: str) -> dict[str, str]:
        fields = self.client.get(f"{self.base}/{path}", headers=OWNER).json().get("fields", {})
        return {key: value.get("stringValue", "") for key, value in fields.items()}

    def get(self, path: str, headers: dict[str, str]) -> int:
        return self.client.get(f"{self.base}/{path}", headers=headers).status_code

    def list(self, collection: str, headers: dict[str, str]) -> int:
        return self.client.get(f"{self.base}/{collection}", headers=headers).status_code

    def query_owned(self, collection: str, uid: str, headers: dict[str, str]) -> int:
        query = {
            "structuredQuery": {
                "from": [{"collectionId": collection}],
                "where": {
                    "fieldFilter": {
                        "field": {"fieldPath": "userId"},
                        "op": "EQUAL",
                        "value": {"stringValue": uid},
                    }
                },
            }
        }
        return self.client.post(f"{self.base}:runQuery", json=query, headers=headers).status_code

    def create(self, path: str, data: dict[str, str], headers: dict[str, str]) -> int:
        url = f"{self.base}/{path}"
        params = {"currentDocument.exists": "false"}
        return self.client.patch(url, params=params, json=encode(data), headers=headers).status_code

    def update(self, path: str, data: dict[str, str], headers: dict[str, str]) -> int:
        url = f"{self.base}/{path}"
        params = {"currentDocument.exists": "true"}
        return self.client.patch(url, params=params, json=encode(data), headers=headers).status_code

    def delete(self, path: str, headers: dict[str, str]) -> int:
        return self.client.delete(f"{self.base}/{path}", headers=headers).status_code
