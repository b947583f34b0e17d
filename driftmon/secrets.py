"""Secrets kept in files or environment variables: the one place that reads them.

Every error is a ConfigError that names the configuration key and the file or variable, never
the value. A secret file must hold UTF-8 text; surrounding whitespace (a trailing newline) is
dropped, and a file left with nothing is refused rather than sent as an empty credential.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import SecretStr

from driftmon.errors import ConfigError


def read_secret_file(path: Path | str, key: str) -> str:
    """The stripped UTF-8 text of `path`; ConfigError names `key` and `path` if it is unusable."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read secret file {path}: {exc.strerror or exc}") from exc
    try:
        value = raw.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        message = f"{key}: secret file {path} is not UTF-8 text (invalid byte at offset {exc.start})"
        raise ConfigError(message) from None  # the exception would quote the secret's bytes
    if not value:
        raise ConfigError(f"{key}: secret file {path} is empty")
    return value


def read_secret(
    where: str,
    inline: SecretStr | None,
    file: Path | None,
    env: str | None,
    environ: Mapping[str, str] | None = None,
    *,
    field: str = "secret",
) -> str:
    """The secret given inline (`field`), in a file (`<field>_file`) or a variable (`<field>_env`).

    `where` names the configuration entry (e.g. ``receiver pd``); errors name it and the key.
    """
    if inline is not None:
        return inline.get_secret_value().strip()
    if file is not None:
        return read_secret_file(file, f"{where}: {field}_file")
    if env is not None:
        value = (os.environ if environ is None else environ).get(env, "").strip()
        if not value:
            raise ConfigError(f"{where}: {field}_env: environment variable {env} is unset or empty")
        return value
    raise ConfigError(f"{where}: no {field} given")
