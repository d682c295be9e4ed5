"""Checks shared by every settings model and by alerts.yaml's receivers.

``SettingsModel`` is the base of each ``FIREWATCH_<SECTION>__*`` model. It refuses ``inf`` and
``nan``, which pydantic otherwise reads as floats: an infinite timeout passes every ``gt=0``
and overflows later, in ``time`` or ``datetime`` arithmetic far from the setting, as a probe
failure or a crash instead of a message naming the variable.

The functions check one value each and raise ``ValueError`` with a sentence; pydantic puts the
field's place in front, so ``load_settings`` names the variable. They do not repeat the value:
a URL may carry a token.
"""

from __future__ import annotations

import ipaddress
import re
from email.headerregistry import AddressHeader, HeaderRegistry
from email.utils import getaddresses
from typing import Annotated, cast

from pydantic import AfterValidator, BaseModel, ConfigDict

__all__ = [
    "FINITE",
    "EmailAddress",
    "PhoneNumber",
    "SettingsModel",
    "bucket_name",
    "e164_number",
    "email_address",
    "http_url",
]

FINITE = ConfigDict(allow_inf_nan=False)

# https://cloud.google.com/storage/docs/buckets#naming: dot-separated parts of lowercase
# letters, digits, "-" and "_", each starting and ending with a letter or digit, at most 63.
_BUCKET_PART = re.compile(r"[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?")
# ITU-T E.164: "+", a country code that does not start with 0, at most 15 digits in all.
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")


class SettingsModel(BaseModel):
    """Base of every settings model: no ``inf`` or ``nan`` in any float field."""

    model_config = FINITE


def bucket_name(value: str) -> str:
    """Return ``value`` if it is a valid Cloud Storage bucket name; raise ``ValueError``."""
    parts = value.split(".")
    longest = 222 if len(parts) > 1 else 63
    if not 3 <= len(value) <= longest or not all(_BUCKET_PART.fullmatch(p) for p in parts):
        raise ValueError(
            "not a Cloud Storage bucket name (3-63 lowercase letters, digits, '-', '_' and '.', "
            "starting and ending with a letter or digit)"
        )
    if value.startswith("goog") or "google" in value:
        raise ValueError("a bucket name may not start with 'goog' or contain 'google'")
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return value
    raise ValueError("a bucket name may not be an IP address")


def http_url(value: str) -> str:
    """Return ``value`` if it is an http(s) URL with a host; raise ``ValueError``.

    The URL is parsed by httpx, the client that will request it, so what passes here is what
    it can send.
    """
    import httpx

    try:
        url = httpx.URL(value)
    except httpx.InvalidURL:
        raise ValueError("not a valid URL") from None
    if url.scheme not in ("http", "https"):
        raise ValueError("the URL must start with http:// or https://")
    if not url.host:
        raise ValueError("the URL has no host, e.g. https://app.example.com/")
    return value


def email_address(value: str) -> str:
    """Return ``value`` if it is one e-mail address, bare or ``Name <addr>``; raise ``ValueError``.

    The text is parsed as a ``To`` header by the standard library (what ``EmailMessage`` does
    with it), and the address is checked by email-validator: syntax only, no DNS at start.
    """
    from email_validator import EmailNotValidError, validate_email

    if "\r" in value or "\n" in value:
        raise ValueError("not an e-mail address: it contains a line break")
    if sum("@" in addr for _, addr in getaddresses([value])) > 1:
        # "a@x.com, b@x.com" as one entry: delivery kept the first and dropped the rest.
        raise ValueError("several addresses in one entry: give each its own entry")
    header = HeaderRegistry()("To", value)
    addresses = cast(AddressHeader, header).addresses  # a "To" header is an address header
    try:
        if header.defects or len(addresses) != 1:
            # The standard library's defect names are obscure; email-validator says why.
            validate_email(value, check_deliverability=False, allow_display_name=True)
            reason = header.defects[0] if header.defects else "no address"
            raise ValueError(f"not an e-mail address: {reason}")
        addr = addresses[0].addr_spec
        local, at, domain = addr.rpartition("@")
        # email-validator refuses "localhost" as a special-use name, yet the default sender
        # (firewatch@localhost) and a relay on the same machine use it: check the rest alone.
        probe = f"{local}@example.com" if at and domain.lower() == "localhost" else addr
        validate_email(probe, check_deliverability=False)
    except EmailNotValidError as error:
        raise ValueError(f"not an e-mail address: {error}") from None
    return value


def e164_number(value: str) -> str:
    """Return ``value`` if it is a phone number in E.164 form; raise ``ValueError``."""
    if not _E164.fullmatch(value):
        raise ValueError("not an E.164 number: +, country code, digits only (+15555550100)")
    return value


# One address, bare or "Name <addr>"; a phone number in E.164 form.
EmailAddress = Annotated[str, AfterValidator(email_address)]
PhoneNumber = Annotated[str, AfterValidator(e164_number)]
