"""Fuzzed config files: whatever the YAML text, ``load_config`` returns a Config or raises a one-line ConfigError that
names the file. Before: YAML syntax errors (multi-line yaml.ParserError), bad tagged scalars (ValueError from
``!!int x`` or the date 2001-13-45), mixed-type unknown keys and a ``_base_`` that is no file name leaked other
exceptions, and wrong values inside tuples came back as a Config."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sspnet.config import Config, ConfigError, load_config

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SECTIONS = {name: list(section) for name, section in Config().to_dict().items()}

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2, 700), st.integers(), st.floats(), st.text(max_size=6))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4), max_leaves=8)
KEY = st.one_of(st.sampled_from([k for keys in SECTIONS.values() for k in keys]), st.text(max_size=4), st.integers())
SECTION = st.dictionaries(KEY, VALUES, max_size=4)
DOC = st.dictionaries(st.one_of(st.sampled_from([*SECTIONS, "_base_"]), st.text(max_size=4)),
                      st.one_of(SECTION, VALUES), max_size=4)
FRAGMENTS = st.sampled_from(["train:", "  lr: ", "model:", "  scale_ranges: ", "[[1, 2], [3]]", "_base_: ", "{", "[",
                             "]", "!!int x", "!!float y", "!!binary zz", "!!int", "!!bool x", "!!timestamp x",
                             "2001-13-45", "&a 1", "*a", "*b", "<<: 1", "? [1]\n: 2", "!!python/object:os.system", "\t",
                             "\x00", "\ufeff", "---", "...", "%YAML 9"])
TEXT = st.one_of(DOC.map(lambda d: yaml.safe_dump(d, allow_unicode=True)),
                 st.lists(FRAGMENTS, max_size=8).map("\n".join), st.text(max_size=60))


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("cfg")
    (d / "base.yaml").write_text("train:\n  lr: 0.01\n")
    return d


def _names_the_file(e: ConfigError, path: Path) -> None:
    """The message is one line that starts with the config, or with the base it names (an error inside the base)."""
    try:
        base = yaml.safe_load(path.read_text()).get("_base_")
    except Exception:          # noqa: BLE001 - any text that is no mapping names no base
        base = None
    files = (str(path),) + ((str(path.parent / base),) if isinstance(base, str) and base else ())
    assert str(e).startswith(files) and "\n" not in str(e), e


@FUZZ
@given(text=TEXT)
def test_load_config_returns_a_config_or_names_the_file(folder, text):
    path = folder / "c.yaml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        cfg = load_config(path)
    except ConfigError as e:
        _names_the_file(e, path)
        return
    assert isinstance(cfg, Config)
    assert all(isinstance(lo, int) and isinstance(hi, int) for lo, hi in cfg.model.scale_ranges)
    assert cfg.input.input_w > 0 and cfg.train.crop_w > 0 and cfg.train.lr > 0


@FUZZ
@given(base=st.one_of(st.just("base.yaml"), st.text(max_size=8), st.just("x" * 300), VALUES))
def test_any_base_name(folder, base):
    path = folder / "b.yaml"
    path.write_text(yaml.safe_dump({"_base_": base, "train": {"epochs": 2}}))
    try:
        assert isinstance(load_config(path), Config)
    except ConfigError as e:
        _names_the_file(e, path)
