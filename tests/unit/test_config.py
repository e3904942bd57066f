import pytest

from sasgda import config
from sasgda.config import (
    Config,
    build_config,
    dump_yaml,
    load_yaml,
    parse_override,
    replace,
    to_dict,
    upgrade,
)


def test_defaults_round_trip_through_yaml(tmp_path):
    cfg = build_config(overrides=["data.window_ms=100", "generator.channel_mults=[1,2]"])
    path = tmp_path / "c.yaml"
    path.write_text(dump_yaml(cfg))
    again = build_config([path])
    assert again == cfg
    assert again.generator.channel_mults == (1, 2)
    assert again.data.window_ms == 100.0
    assert build_config() == Config()


def test_unknown_key_is_an_error_naming_it(tmp_path):
    with pytest.raises(ValueError, match="unknown key 'widow_ms'"):
        build_config(overrides=["data.widow_ms=100"])
    path = tmp_path / "bad.yaml"
    path.write_text("nosuchsection: {a: 1}\n")
    with pytest.raises(ValueError, match="nosuchsection"):
        build_config([path])


def test_wrong_type_is_an_error():
    with pytest.raises(ValueError, match="data.include_rest"):
        build_config(overrides=["data.include_rest=maybe"])
    with pytest.raises(ValueError, match="generator.steps"):
        build_config(overrides=["generator.steps=1.5"])


def test_override_parsing():
    assert parse_override("a.b.c=3") == {"a": {"b": {"c": 3}}}
    assert parse_override("data.bandpass_hz=[]") == {"data": {"bandpass_hz": []}}
    with pytest.raises(ValueError, match="section.key=value"):
        parse_override("nonsense")


def test_missing_config_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.yaml"):
        load_yaml(tmp_path / "nothere.yaml")


def test_numbers_in_exponent_notation(tmp_path):
    # YAML 1.1 reads 2e-4 (no dot) as a string; float settings take it as the number it is.
    path = tmp_path / "c.yaml"
    path.write_text("generator: {lr: 2e-4}\n")
    assert build_config([path]).generator.lr == 2e-4
    assert build_config(overrides=["generator.lr=1e-3"]).generator.lr == 1e-3
    with pytest.raises(ValueError, match="generator.lr: expected a number, got 'fast'"):
        build_config(overrides=["generator.lr=fast"])
    with pytest.raises(ValueError, match="generator.steps"):
        build_config(overrides=["generator.steps=1e3"])  # integers stay strict


@pytest.mark.parametrize("setting, message", [
    ("sampler.eta=3", "sampler.eta=3.0: expected a value in [0, 1]"),
    ("conditions.k=0", "conditions.k=0: expected >= 1"),
    ("conditions.chi2_quantile=1", "conditions.chi2_quantile=1.0: expected a value in (0, 1)"),
    ("downstream.train.lr=0", "downstream.train.lr=0.0: expected > 0"),
    ("classifier.train.epochs=0", "classifier.train.epochs=0: expected >= 1"),
    ("sampler.ratio=.nan", "sampler.ratio=nan: expected > 0"),
    ("downstream.synthetic_ratio=.inf", "downstream.synthetic_ratio=inf: expected > 0"),
    ("generator.channel_mults=[1,0]", "generator.channel_mults=[1, 0]: expected a non-empty list"),
    ("data.test_repetitions=[]", "data.test_repetitions=[]: expected a non-empty list"),
    ("seed=-1", "seed=-1: expected >= 0"),
])
def test_a_setting_outside_its_range_fails_when_the_config_is_built(setting, message):
    # Checked up front, so that a bad setting of a late stage does not wait for the stages
    # before it to run.
    with pytest.raises(ValueError) as err:
        build_config(overrides=[setting])
    assert str(err.value).startswith(message)


def test_every_default_and_the_open_ends_are_valid():
    cfg = build_config(overrides=["sampler.eta=1", "conditions.confidence=0", "conditions.iters=0",
                                  "data.notch_hz=0", "generator.lambda_fourier=0", "seed=0"])
    assert (cfg.sampler.eta, cfg.conditions.confidence, cfg.conditions.iters, cfg.data.notch_hz,
            cfg.generator.lambda_fourier, cfg.seed) == (1.0, 0.0, 0, 0.0, 0.0, 0)
    assert build_config() == Config()  # the defaults pass their own checks


def test_a_section_given_twice_is_an_error_on_one_line(tmp_path):
    # Plain YAML keeps the last `data:` and drops the first without a word.
    path = tmp_path / "twice.yaml"
    path.write_text("data:\n  window_ms: 300\ndata:\n  step_ms: 100\n")
    with pytest.raises(ValueError) as err:
        build_config([path])
    assert str(err.value) == f"{path}: not valid YAML ('data' is given twice, line 3)"
    path.write_text("data: [1\n")
    with pytest.raises(ValueError, match=r"not valid YAML \(expected ',' or '\]'") as err:
        build_config([path])
    assert "\n" not in str(err.value)


def test_former_section_names_still_load(tmp_path, caplog, monkeypatch):
    # Config files and run folders written before the rename keep working, read under the
    # present names; the log says so, once per process.
    monkeypatch.setattr(config, "_SAID", set())
    old = tmp_path / "old.yaml"
    old.write_text("generate:\n  steps: 7\nsampling:\n  k: 3\n")
    cfg = build_config([old], overrides=["generate.ratio=0.5"])
    assert (cfg.sampler.steps, cfg.sampler.ratio, cfg.conditions.k) == (7, 0.5, 3)
    assert caplog.text.count("'generate' is now called 'sampler'") == 1
    assert "generate" not in dump_yaml(cfg) and "sampling" not in dump_yaml(cfg)
    assert upgrade({"generate.steps": 7, "seed": 0}) == {"sampler.steps": 7, "seed": 0}


def test_a_section_under_both_names_is_an_error(tmp_path):
    both = tmp_path / "both.yaml"
    both.write_text("generate:\n  steps: 7\nsampler:\n  steps: 8\n")
    with pytest.raises(ValueError, match="both 'generate' and 'sampler'"):
        build_config([both])


def test_changed_setting_names_the_first_difference_under_the_present_names():
    old = to_dict(Config())
    new = to_dict(replace(Config(), seed=3, device="cuda"))
    assert config.changed_setting(old, old) is None
    assert config.changed_setting(old, new) == "device='auto' (now 'cuda')"
    assert config.changed_setting(old, new, ignore=("device",)) == "seed=0 (now 3)"
    # A whole section can be left out, and a config saved under former names compares equal.
    steps = to_dict(replace(Config(), sampler=replace(Config().sampler, steps=7)))
    assert config.changed_setting(old, steps, ignore=("sampler",)) is None
    former = {("generate" if k == "sampler" else k): v for k, v in old.items()}
    assert config.changed_setting(former, old) is None
