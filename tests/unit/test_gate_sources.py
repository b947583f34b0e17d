"""What a --baseline/--candidate string means; the prompt set; the plan."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from driftmon.errors import ConfigError
from driftmon.gate.plan import load_prompts, plan_jobs
from driftmon.gate.sources import DirectorySource, GeneratorSource, parse_source


@pytest.mark.parametrize(
    ("spec", "kind", "url"),
    [
        ("http://gen:8000", "openai_images", "http://gen:8000"),
        ("a1111+http://forge:7860", "a1111", "http://forge:7860"),
        ("http+https://api.example/v1/gen", "http", "https://api.example/v1/gen"),
    ],
)
def test_urls_select_the_adapter(spec: str, kind: str, url: str) -> None:
    source = parse_source(spec, timeout=30)
    assert isinstance(source, GeneratorSource)
    assert (source.config.kind, source.config.url, source.config.timeout) == (kind, url, 30)


def test_bare_url_sends_the_seed() -> None:
    source = parse_source("https://staging.example")
    assert isinstance(source, GeneratorSource) and source.config.send_seed is True


def test_yaml_generator_config(tmp_path: Path) -> None:
    path = tmp_path / "gen.yaml"
    path.write_text("kind: a1111\nurl: http://forge:7860\nsteps: 30\n")
    source = parse_source(str(path))
    assert isinstance(source, GeneratorSource) and (source.config.kind, source.config.steps) == ("a1111", 30)
    path.write_text("kind: a1111\nurl: http://forge:7860\nstepz: 30\n")
    with pytest.raises(ConfigError, match="stepz"):
        parse_source(str(path))


def test_directory_and_errors(tmp_path: Path) -> None:
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    assert isinstance(parse_source(str(tmp_path)), DirectorySource)
    with pytest.raises(ConfigError, match="not a generator URL"):
        parse_source(str(tmp_path / "nothing-here"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no images"):
        parse_source(str(tmp_path / "empty"))


def test_probe_set_by_default_and_text_prompt_files(tmp_path: Path) -> None:
    probes = load_prompts(None)
    assert len(probes) >= 5 and all(p.text for p in probes)
    path = tmp_path / "prompts.txt"
    path.write_text('# comment\na sign "A"\n\na sign "B"\n')
    prompts = load_prompts(path)
    jobs = plan_jobs(prompts, [0, 1, 2])
    assert [p.text for p in prompts] == ['a sign "A"', 'a sign "B"']
    assert len(jobs) == 6 and len({j.key for j in jobs}) == 6
    assert [j.seed for j in jobs[:3]] == [0, 1, 2] and jobs[0].expected_lines == ("A",)
