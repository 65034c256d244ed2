"""The one redaction function (stjob.api.contract.redact): every secret shape it must mask, and text it must keep."""

from __future__ import annotations

import pytest

from stjob.api.contract import REDACTED, redact

# (what, text, expected)
MASKED = [
    ("Hugging Face token", "token hf_abcdefghijklmnop here", f"token {REDACTED} here"),
    ("bearer token", "Authorization: Bearer abc.def.ghi-jkl", f"Authorization: {REDACTED}"),
    ("bearer, lower case", "header bearer eyJhbGciOiJIUzI1NiJ9.e30.sig", f"header {REDACTED}"),
    ("AWS access key id", "key AKIAIOSFODNN7EXAMPLE denied", f"key {REDACTED} denied"),
    ("AWS temporary key id", "ASIAY34FZKBOKMUTVV7A expired", f"{REDACTED} expired"),
    (
        "AWS secret key, env style",
        "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        f"AWS_SECRET_ACCESS_KEY={REDACTED}",
    ),
    (
        "AWS secret key, config style",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        f"aws_secret_access_key = {REDACTED}",
    ),
    (
        "URL userinfo",
        "cannot reach https://alice:s3cr3t@hub.example.com/x",
        f"cannot reach https://{REDACTED}@hub.example.com/x",
    ),
    ("URL userinfo, other scheme", "postgres://svc:pa55@db:5432/runs", f"postgres://{REDACTED}@db:5432/runs"),
    (
        "PEM private key",
        "key: -----BEGIN RSA PRIVATE KEY-----\nMIIEow\nAAAA\n-----END RSA PRIVATE KEY----- rest",
        f"key: {REDACTED} rest",
    ),
    ("PEM key cut off by a length cap", "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg", REDACTED),
    ("token=", "GET /x?token=abc123&page=2", f"GET /x?token={REDACTED}&page=2"),
    ("password=", "login failed password=hunter2 for bob", f"login failed password={REDACTED} for bob"),
    ("password: in YAML", "password: hunter2", f"password: {REDACTED}"),
    ("quoted JSON value", '{"access_token": "abc.def", "n": 1}', f'{{"access_token": "{REDACTED}", "n": 1}}'),
    ("Python repr", "Config(api_key='k-123', x=1)", f"Config(api_key='{REDACTED}', x=1)"),
    ("HF_TOKEN=", "env HF_TOKEN=opaque-value", f"env HF_TOKEN={REDACTED}"),
    ("client secret", "client_secret=xyz", f"client_secret={REDACTED}"),
]

# Text that looks close but holds no secret: it must pass unchanged.
KEPT = [
    "spec.output.hub.tokenSecretRef: Field required",
    'secret "hf-token" not found',
    "max_tokens=512 and num_tokens: 3",
    "the tokenizer truncates at 128 tokens",
    "https://huggingface.co/datasets/sick",
    "ssh://git@github.com/org/repo",
    "file /data/sick/train.csv, row 17, column 'score': not a number: 'abc'",
    "commit 0123456789abcdef0123456789abcdef01234567",
    "a basic bearer of news",
]


@pytest.mark.parametrize(("what", "text", "expected"), MASKED, ids=[case[0] for case in MASKED])
def test_secret_shapes_are_masked(what: str, text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize("text", KEPT)
def test_ordinary_text_is_kept(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize(("what", "text", "expected"), MASKED, ids=[case[0] for case in MASKED])
def test_redacting_twice_changes_nothing(what: str, text: str, expected: str) -> None:
    assert redact(redact(text)) == expected


def test_exact_secret_values_are_masked_whatever_their_shape() -> None:
    assert redact("the token is plainword42", secrets=["plainword42"]) == f"the token is {REDACTED}"
    assert redact("nothing here", secrets=["", "  "]) == "nothing here"  # an unset variable masks nothing


def test_length_cap() -> None:
    assert len(redact("x" * 10_000, max_length=100)) == 100
    assert redact("short", max_length=100) == "short"
