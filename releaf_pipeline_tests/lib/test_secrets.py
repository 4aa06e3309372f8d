import os
import stat

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from releaf_pipeline.lib.secrets import (
    KEY_FILE_NAME,
    SecretKeyError,
    TokenCipher,
    load_keys,
)
from releaf_pipeline.settings import read_settings, revealed


def configured() -> str | None:
    return revealed(read_settings().secret_keys)


def test_key_file_is_created_private_and_reused(tmp_path, monkeypatch):
    monkeypatch.delenv("RELEAF_SECRET_KEY", raising=False)
    key = load_keys(tmp_path, configured())[0]
    path = tmp_path / "releaf.key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_keys(tmp_path)[0] == key


def test_env_key_wins_and_bad_key_is_explained(tmp_path, monkeypatch):
    good = Fernet.generate_key()
    monkeypatch.setenv("RELEAF_SECRET_KEY", good.decode())
    assert load_keys(tmp_path, configured())[0] == good
    assert not (tmp_path / "releaf.key").exists()
    monkeypatch.setenv("RELEAF_SECRET_KEY", "not-a-key")
    with pytest.raises(SecretKeyError, match="not a valid Fernet key"):
        load_keys(tmp_path, configured())[0]


def test_tokens_round_trip_sealed_and_never_show():
    cipher = TokenCipher(Fernet.generate_key())
    sealed = cipher.encrypt("dealer-secret-123")
    assert "dealer-secret-123" not in sealed
    opened = cipher.decrypt(sealed)
    assert opened.get_secret_value() == "dealer-secret-123"
    assert "dealer-secret-123" not in repr(opened) + str(opened) + f"{opened}"
    assert "dealer" not in repr(cipher)
    assert opened == SecretStr("dealer-secret-123")


def test_wrong_key_is_a_clear_error():
    sealed = TokenCipher(Fernet.generate_key()).encrypt("t")
    with pytest.raises(SecretKeyError, match="cannot be decrypted"):
        TokenCipher(Fernet.generate_key()).decrypt(sealed)


def test_a_lost_key_file_is_an_error_never_a_new_key(tmp_path):
    made = load_keys(tmp_path)
    (tmp_path / KEY_FILE_NAME).unlink()
    missing = r"RELEAF_SECRET_KEY is not set and the key file .* is missing, and 2 stored"
    with pytest.raises(SecretKeyError, match=missing):
        load_keys(tmp_path, sealed_tokens=2)
    assert not (tmp_path / KEY_FILE_NAME).exists(), "no key may be made in its place"
    # With no token sealed yet a new key is harmless.
    assert load_keys(tmp_path) != made


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_text(""), "holds no key"),
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.write_bytes(b"\xff\xfe garbage"), "cannot be read"),
        (lambda p: p.write_text("not-a-key"), "not a valid Fernet key"),
    ],
)
def test_a_broken_key_file_is_one_clear_line(tmp_path, make, message):
    make(tmp_path / KEY_FILE_NAME)
    with pytest.raises(SecretKeyError, match=message) as info:
        load_keys(tmp_path, sealed_tokens=1)
    assert "\n" not in str(info.value)
