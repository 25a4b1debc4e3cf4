"""The timestamp authority URL is checked before anything is signed (issue 13): only an
http(s) URL with a host names an RFC 3161 service auditml can reach."""

from __future__ import annotations

import pytest

from auditml import ValidationError
from auditml.report.sign import check_tsa_url


@pytest.mark.parametrize(
    "url", ["http://tsa.example/tsr", "https://tsa.example:8443/", "http://127.0.0.1:9/tsa"]
)
def test_http_and_https_urls_with_a_host_are_accepted(url: str) -> None:
    assert check_tsa_url(url) == url


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("file:///etc/passwd", "over http or https, not file"),
        ("ftp://tsa.example/", "over http or https, not ftp"),
        ("tsa.example/tsr", "not a URL without a scheme"),
        ("https:///tsr", "has no host name"),
        ("http://tsa example/", "spaces or control characters"),
        ("http://tsa.example/\n", "spaces or control characters"),
        ("http://tsa.example:port/", "is not a URL"),
        ("http://[::1/", "is not a URL"),
    ],
)
def test_other_urls_are_refused_saying_why(url: str, says: str) -> None:
    with pytest.raises(ValidationError, match="--tsa-url") as refused:
        check_tsa_url(url)
    assert says in str(refused.value)
