"""Incident tests use the shared ``auth_emulator`` fixture from tests/conftest.py."""
