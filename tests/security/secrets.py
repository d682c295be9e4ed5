"""Every secret value the test suite uses, in one place, for the session-wide secret scan.

The scan (tests/security/secret_scan.py) fails the run if any of these, or any secret a
test put into a ``Settings`` object, shows up in a log line or a stored document. Add a
value here when a test uses a secret that does not pass through ``Settings``.
"""

from __future__ import annotations

# Keep in step with tests/conftest.py make_settings().
TEST_API_KEY = "test-api-key-5f1c9a"
TEST_INGEST_KEY = "test-ingest-key-7d2e41"

KNOWN_TEST_SECRETS: tuple[str, ...] = (TEST_API_KEY, TEST_INGEST_KEY)
