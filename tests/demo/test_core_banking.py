"""The demo core banking's WS-Security check: the digest, freshness and replayed nonces."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os

import pytest
from lxml import etree

from pasarela.demo.core_banking import USERNAME, WSSE, WSU, Fault, SeenNonces, check_username_token

PASSWORD = "core-banking-demo-password"


def header(
    *, password: str = PASSWORD, created: dt.datetime | None = None, nonce: bytes | None = None
) -> etree._Element:
    nonce = nonce if nonce is not None else os.urandom(16)
    stamp = (created or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = base64.b64encode(hashlib.sha1(nonce + stamp.encode() + password.encode()).digest()).decode()  # noqa: S324 - the WS-Security digest
    root = etree.Element("Header")
    token = etree.SubElement(etree.SubElement(root, f"{{{WSSE}}}Security"), f"{{{WSSE}}}UsernameToken")
    etree.SubElement(token, f"{{{WSSE}}}Username").text = USERNAME
    etree.SubElement(token, f"{{{WSSE}}}Password").text = digest
    etree.SubElement(token, f"{{{WSSE}}}Nonce").text = base64.b64encode(nonce).decode()
    etree.SubElement(token, f"{{{WSU}}}Created").text = stamp
    return root


def test_a_fresh_digest_is_accepted_once() -> None:
    nonces = SeenNonces()
    token = header()
    check_username_token(token, PASSWORD, nonces)
    with pytest.raises(Fault, match="used before"):
        check_username_token(token, PASSWORD, nonces)


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        (None, "UsernameToken is required"),
        (header(password="wrong"), "does not match or is stale"),
        (header(created=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=6)), "does not match or is stale"),
    ],
)
def test_bad_tokens_are_refused(token: etree._Element | None, expected: str) -> None:
    with pytest.raises(Fault, match=expected):
        check_username_token(token, PASSWORD, SeenNonces())
