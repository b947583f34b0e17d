"""Secret files and variables: one reader, and clean errors that name the key and the path."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from driftmon.errors import ConfigError
from driftmon.secrets import read_secret, read_secret_file
from driftmon.sources import generator_config, make_generator

KEY = "server.auth_token_file"


def test_file_content_is_stripped(tmp_path: Path) -> None:
    """Surrounding whitespace (the editor's trailing newline) is not part of the secret."""
    path = tmp_path / "token"
    path.write_text("  t0ken-Ä\n")
    assert read_secret_file(path, KEY) == "t0ken-Ä"


def unusable(tmp_path: Path, case: str) -> Path:
    """A secret path that is `case`: missing, a directory, or a file of whitespace only."""
    if case == "missing":
        return tmp_path / "missing"
    if case == "directory":
        return tmp_path
    path = tmp_path / "blank"
    path.write_text(" \n\n")
    return path


@pytest.mark.parametrize(
    ("case", "problem"),
    [("missing", "cannot read secret file"), ("directory", "cannot read secret file"), ("empty", "is empty")],
)
def test_unusable_file_names_key_and_path(tmp_path: Path, case: str, problem: str) -> None:
    """Missing, a directory, or blank: a ConfigError naming the configuration key and the path."""
    path = unusable(tmp_path, case)
    with pytest.raises(ConfigError) as caught:
        read_secret_file(path, KEY)
    assert str(caught.value).startswith(f"{KEY}: ")
    assert str(path) in str(caught.value) and problem in str(caught.value)


def test_non_utf8_file_is_a_clean_error(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 are a ConfigError naming key, path and offset, never the bytes."""
    path = tmp_path / "token"
    path.write_bytes(b"abc\xff\xfesecret")
    with pytest.raises(ConfigError) as caught:
        read_secret_file(path, KEY)
    message = str(caught.value)
    assert message == f"{KEY}: secret file {path} is not UTF-8 text (invalid byte at offset 3)"
    assert caught.value.__suppress_context__ and caught.value.__cause__ is None


def test_inline_file_and_environment(tmp_path: Path) -> None:
    """Inline, file and variable sources give the same stripped value."""
    path = tmp_path / "key"
    path.write_text("k3y\n")
    assert read_secret("receiver pd", SecretStr(" k3y "), None, None) == "k3y"
    assert read_secret("receiver pd", None, path, None, field="routing_key") == "k3y"
    assert read_secret("receiver pd", None, None, "PD_KEY", {"PD_KEY": "k3y\n"}) == "k3y"


def test_errors_name_entry_and_key(tmp_path: Path) -> None:
    """The receiver and its `<field>_file` / `<field>_env` key appear in the message."""
    with pytest.raises(ConfigError, match=r"^receiver pd: routing_key_file: cannot read secret file .*nope"):
        read_secret("receiver pd", None, tmp_path / "nope", None, field="routing_key")
    with pytest.raises(
        ConfigError, match=r"^receiver pd: routing_key_env: environment variable PD_KEY is unset"
    ):
        read_secret("receiver pd", None, None, "PD_KEY", {"PD_KEY": " "}, field="routing_key")
    with pytest.raises(ConfigError, match=r"^receiver pd: no routing_key given"):
        read_secret("receiver pd", None, None, None, field="routing_key")


def test_generator_api_key_goes_through_the_same_reader(tmp_path: Path) -> None:
    """A non-UTF-8 API key file fails when the adapter is built, naming its configuration key."""
    path = tmp_path / "api-key"
    path.write_bytes(b"\x80")
    with pytest.raises(
        ConfigError, match=rf"^sources\.probe\.generator\.api_key_file: secret file {path} is not UTF-8"
    ):
        make_generator(generator_config(api_key_file=path))
