import os
import stat

import pytest
from cryptography.fernet import Fernet

from releaf_pipeline.lib.secrets import SecretKeyError, SecretStr, TokenCipher, load_key
from releaf_pipeline.settings import read_settings


def configured() -> str | None:
    return read_settings().secret_keys


def test_key_file_is_created_private_and_reused(tmp_path, monkeypatch):
    monkeypatch.delenv("RELEAF_SECRET_KEY", raising=False)
    key = load_key(tmp_path, configured())
    path = tmp_path / "releaf.key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_key(tmp_path) == key


def test_env_key_wins_and_bad_key_is_explained(tmp_path, monkeypatch):
    good = Fernet.generate_key()
    monkeypatch.setenv("RELEAF_SECRET_KEY", good.decode())
    assert load_key(tmp_path, configured()) == good
    assert not (tmp_path / "releaf.key").exists()
    monkeypatch.setenv("RELEAF_SECRET_KEY", "not-a-key")
    with pytest.raises(SecretKeyError, match="not a valid Fernet key"):
        load_key(tmp_path, configured())


def test_tokens_round_trip_sealed_and_never_show():
    cipher = TokenCipher(Fernet.generate_key())
    sealed = cipher.encrypt("dealer-secret-123")
    assert "dealer-secret-123" not in sealed
    opened = cipher.decrypt(sealed)
    assert opened.reveal() == "dealer-secret-123"
    assert "dealer-secret-123" not in repr(opened) + str(opened) + f"{opened}"
    assert "dealer" not in repr(cipher)
    assert opened == SecretStr("dealer-secret-123")


def test_wrong_key_is_a_clear_error():
    sealed = TokenCipher(Fernet.generate_key()).encrypt("t")
    with pytest.raises(SecretKeyError, match="cannot be decrypted"):
        TokenCipher(Fernet.generate_key()).decrypt(sealed)
