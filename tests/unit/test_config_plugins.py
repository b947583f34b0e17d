"""The kind unions of `alerting.receivers` and `sources.probe.generator`: built from the plug-in
tables, YAML- and environment-compatible, with errors at the line of the offending key."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from driftmon.alerting import RECEIVER_KINDS
from driftmon.config import load_config
from driftmon.errors import ConfigError
from driftmon.sources import (
    GENERATOR_KINDS,
    A1111Config,
    HttpTemplateConfig,
    OpenAIImagesConfig,
    generator_config,
)

#: a plug-in defined outside driftmon's tree, registered before driftmon.config is imported
NEW_KINDS = textwrap.dedent(
    """
    from typing import Literal
    from driftmon.alerting.base import ReceiverConfigBase, register_receiver
    from driftmon.alerting.webhook import WebhookReceiver
    from driftmon.sources.base import register_generator
    from driftmon.sources.generators import HttpTemplate, HttpTemplateConfig

    class EchoConfig(ReceiverConfigBase):
        kind: Literal["echo"]
        url: str

    class EchoReceiver(WebhookReceiver):
        @classmethod
        def from_config(cls, config, environ=None):
            return cls(config.receiver_name, config.url, config.route, config.timeout, kind="echo")

    class EchoGeneratorConfig(HttpTemplateConfig):
        kind: Literal["echo-gen"] = "echo-gen"

    register_receiver("echo", EchoConfig, EchoReceiver)
    register_generator("echo-gen", EchoGeneratorConfig, HttpTemplate)

    from driftmon.alerting.notifier import build_receivers
    from driftmon.config import load_config
    from driftmon.sources import make_generator

    config = load_config(sys.argv[1], environ={})
    (receiver,) = build_receivers(config.alerting)
    generator = make_generator(config.sources.probe.generator)
    print(type(receiver).__name__, receiver.name, type(generator).__name__, generator.endpoint)
    """
)


def write(tmp_path: Path, text: str) -> Path:
    """`text` as the file driftmon.yaml."""
    path = tmp_path / "driftmon.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_a_newly_registered_kind_is_accepted_in_yaml(tmp_path: Path) -> None:
    """Registering a kind is all it takes for YAML to select it (receiver and generator alike)."""
    path = write(
        tmp_path,
        """
        alerting:
          receivers:
            - {kind: echo, name: loud, url: "http://echo.test/in"}
        sources:
          probe:
            generator: {kind: echo-gen, url: "http://gen.test/run"}
        """,
    )
    script = "import sys\n" + NEW_KINDS
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["EchoReceiver", "loud", "HttpTemplate", "http://gen.test/run"]


def test_every_registered_generator_kind_loads_from_yaml(tmp_path: Path) -> None:
    """Each kind in GENERATOR_KINDS is a member of the configuration's union."""
    for kind, row in GENERATOR_KINDS.items():
        path = write(tmp_path, f"sources:\n  probe:\n    generator: {{kind: {kind}, url: http://g.test}}\n")
        generator = load_config(path, environ={}).sources.probe.generator
        assert type(generator) is row.config and generator.url == "http://g.test"


def test_every_registered_receiver_kind_is_in_the_union(tmp_path: Path) -> None:
    """An unknown kind's error lists exactly the registered kinds."""
    path = write(tmp_path, "alerting:\n  receivers:\n    - kind: carrier-pigeon\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    listed = str(caught.value).split("kind must be one of ")[1]
    assert sorted(name.strip("' ") for name in listed.split(",")) == sorted(RECEIVER_KINDS)
    assert str(caught.value).startswith(f"{path}:3: alerting.receivers.0.kind: ")


def test_generator_without_kind_is_openai_images(tmp_path: Path) -> None:
    """Files written before kinds had models (and no kind at all) load as before."""
    path = write(
        tmp_path, "sources:\n  probe:\n    generator:\n      url: http://g.test\n      model: dall-e-3\n"
    )
    generator = load_config(path, environ={}).sources.probe.generator
    assert isinstance(generator, OpenAIImagesConfig) and generator.model == "dall-e-3"
    assert isinstance(load_config(None, environ={}).sources.probe.generator, OpenAIImagesConfig)
    assert isinstance(generator_config(url="http://g.test"), OpenAIImagesConfig)


def test_environment_overrides_reach_the_kind_from_the_file(tmp_path: Path) -> None:
    """DRIFTMON_SOURCES__PROBE__GENERATOR__* merge into the file's generator, kind included."""
    path = write(tmp_path, "sources:\n  probe:\n    generator: {kind: a1111, url: http://g.test}\n")
    environ = {
        "DRIFTMON_SOURCES__PROBE__GENERATOR__STEPS": "30",
        "DRIFTMON_SOURCES__PROBE__GENERATOR__TIMEOUT": "1m",
    }
    generator = load_config(path, environ=environ).sources.probe.generator
    assert isinstance(generator, A1111Config)
    assert (generator.steps, generator.timeout, generator.url) == (30, 60.0, "http://g.test")
    by_env = {"DRIFTMON_SOURCES__PROBE__GENERATOR__KIND": "http"}
    assert isinstance(load_config(None, environ=by_env).sources.probe.generator, HttpTemplateConfig)


def test_bad_environment_value_names_the_variable_not_the_kind() -> None:
    """The union's tag is not part of the variable's name."""
    environ = {"DRIFTMON_SOURCES__PROBE__GENERATOR__TIMEOUT": "soon"}
    with pytest.raises(
        ConfigError, match=r"^DRIFTMON_SOURCES__PROBE__GENERATOR__TIMEOUT: sources\.probe\.generator"
    ):
        load_config(None, environ=environ)


def test_field_of_another_kind_names_its_line(tmp_path: Path) -> None:
    """A key that the chosen kind does not have fails at start, at the key's own line."""
    path = write(
        tmp_path,
        """
        sources:
          probe:
            generator:
              kind: openai_images
              url: http://g.test
              body_template: {prompt: "{prompt}"}
        """,
    )
    with pytest.raises(
        ConfigError, match=rf"^{path}:7: sources\.probe\.generator\.openai_images\.body_template: Extra"
    ):
        load_config(path, environ={})


def test_receiver_field_error_names_its_line(tmp_path: Path) -> None:
    """An invalid receiver field is reported at its own line, not the entry's first line."""
    path = write(
        tmp_path,
        """
        alerting:
          receivers:
            - kind: slack
              url: http://hooks.test/x
              channel: [oncall]
        """,
    )
    with pytest.raises(ConfigError, match=rf"^{path}:6: alerting\.receivers\.0\.slack\.channel: "):
        load_config(path, environ={})
