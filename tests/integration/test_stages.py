"""The stage table's runner: records, what is current, damaged artifacts, concurrent records."""

import multiprocessing
import shutil

import pytest

from sasgda.cli import main
from sasgda.config import Config
from sasgda.stages import finish, outdated, record, timings
from sasgda.utils.io import load_json, save_json
from sasgda.utils.rundir import RunDir
from tests.integration.tiny import TINY_RUN as TINY


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    run = tmp_path_factory.mktemp("made") / "run"
    assert main(["run", "--dataset", "simulated", "--subject", "1", "--run-dir", str(run),
                 "--methods", "none", "sass", *TINY]) == 0
    return run


@pytest.fixture()
def run(made, tmp_path):
    """A copy of the made run for each test to change."""
    shutil.copytree(made, tmp_path / "run")
    return tmp_path / "run"


def finished_at(run) -> dict[str, float]:
    return {p.stem: record(RunDir(run), p.stem)["finished"]
            for p in (run / "records").glob("*.json")}


def flip_a_byte(path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_every_stage_is_recorded_with_its_inputs_and_checksums(run):
    assert set(finished_at(run)) == {"prepare", "train-classifier", "train-generator-semantic",
                                     "generate-sass", "downstream-cnn-none",
                                     "downstream-cnn-sass"}
    rec = record(RunDir(run), "generate-sass")
    assert set(rec["inputs"]) == {"prepare", "train-classifier", "train-generator-semantic"}
    size = (run / "synthetic" / "sass.npz").stat().st_size
    assert rec["artifacts"]["synthetic/sass.npz"]["size"] == size
    assert rec["settings"]["sampler.steps"] == 3 and rec["settings"]["seed"] == 0
    assert list(timings(RunDir(run)))[0] == "prepare"


def test_run_again_remakes_nothing(run):
    before = finished_at(run)
    assert main(["run", "--dataset", "simulated", "--subject", "1", "--run-dir", str(run),
                 "--methods", "none", "sass", *TINY]) == 0
    assert finished_at(run) == before


def test_a_run_written_under_the_former_section_names_is_still_current(run):
    # Run folders made before `generate` and `sampling` became `sampler` and `conditions`: their
    # config.yaml and records hold the former names, and nothing is made again for it.
    before = finished_at(run)
    former = {"sampler": "generate", "conditions": "sampling"}
    config = run / "config.yaml"
    for new, old in former.items():
        config.write_text(config.read_text().replace(f"\n{new}:\n", f"\n{old}:\n"))
    for path in (run / "records").glob("*.json"):
        rec = load_json(path)
        for new, old in former.items():
            rec["settings"] = {k.replace(f"{new}.", f"{old}.", 1) if k.startswith(f"{new}.")
                               else k: v for k, v in rec["settings"].items()}
        save_json(path, rec)
    assert "generate:" in config.read_text()
    assert "generate.steps" in load_json(run / "records" / "generate-sass.json")["settings"]
    assert main(["run", "--dataset", "simulated", "--subject", "1", "--run-dir", str(run),
                 "--methods", "none", "sass", *TINY]) == 0
    assert finished_at(run) == before
    # A changed setting under its present name is still seen as one.
    assert main(["run", "--dataset", "simulated", "--subject", "1", "--run-dir", str(run),
                 "--methods", "none", "sass", *TINY, "--set", "conditions.k=3"]) == 0
    assert finished_at(run)["generate-sass"] != before["generate-sass"]


def test_run_remakes_a_damaged_artifact_and_what_reads_a_changed_one(run):
    before = finished_at(run)
    flip_a_byte(run / "synthetic" / "sass.npz")
    assert main(["run", "--dataset", "simulated", "--subject", "1", "--run-dir", str(run),
                 "--methods", "none", "sass", *TINY]) == 0
    after = finished_at(run)
    # Made again from the same inputs and seed, the set is the same: nothing after it is stale.
    assert {name for name in after if after[name] != before[name]} == {"generate-sass"}
    # A setting that changes the set: the set and the model trained on it are made again.
    before = after
    assert main(["run", "--dataset", "simulated", "--subject", "1", "--run-dir", str(run),
                 "--methods", "none", "sass", *TINY, "--set", "sampler.ratio=0.3"]) == 0
    after = finished_at(run)
    assert {name for name in after if after[name] != before[name]} == \
        {"generate-sass", "downstream-cnn-sass"}


def test_a_command_refuses_a_damaged_input_naming_the_command_that_remakes_it(run, capsys):
    flip_a_byte(run / "semantic" / "features.npz")
    capsys.readouterr()
    assert main(["generate", "--run-dir", str(run), "--strategy", "sass", *TINY]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "features.npz: changed or damaged since `sasgda train-classifier` wrote it" in err


def test_a_failed_downstream_leaves_the_earlier_result_and_its_record(run, monkeypatch):
    metrics = (run / "downstream" / "cnn-none" / "metrics.json").read_bytes()
    rec = (run / "records" / "downstream-cnn-none.json").read_bytes()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("sasgda.training.fit", interrupted)
    assert main(["train-downstream", "--run-dir", str(run), "--augment", "none", *TINY,
                 "--set", "downstream.train.lr=0.01"]) == 130
    assert (run / "downstream" / "cnn-none" / "metrics.json").read_bytes() == metrics
    assert (run / "records" / "downstream-cnn-none.json").read_bytes() == rec


def test_results_of_old_windows_are_outdated(run):
    assert not outdated(RunDir(run), "downstream-cnn-sass")
    assert main(["prepare", "--dataset", "simulated", "--subject", "2", "--run-dir", str(run),
                 *TINY]) == 0
    assert outdated(RunDir(run), "downstream-cnn-sass")
    assert outdated(RunDir(run), "train-classifier")


def _finish_many(root: str, worker: int) -> None:
    run = RunDir(root)
    for i in range(40):
        name = f"evaluate-w{worker}s{i}"
        finish(run, name, Config(), seconds=0.0)


def test_concurrent_commands_lose_no_record(tmp_path):
    root = tmp_path / "run"
    save_json(root / "run_info.json", {})
    # Forked: the workers only write records, and need not import torch again.
    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=_finish_many, args=(str(root), w)) for w in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert all(w.exitcode == 0 for w in workers)
    assert len(list((root / "records").glob("evaluate-*.json"))) == 80


def test_what_reads_a_stage_made_again_with_other_bytes_is_made_again(run):
    from sasgda.config import build_config
    from sasgda.utils.io import load_npz, save_npz

    # The classifier's features made again with other bytes (as another device would), under
    # the same settings: the generator, the set and the model trained on it describe old ones.
    cfg = build_config([run / "config.yaml"])
    features = load_npz(run / "semantic" / "features.npz")
    save_npz(run / "semantic" / "features.npz", **{**features,
                                                   "features": features["features"] + 0.01})
    finish(RunDir(run), "train-classifier", cfg, seconds=0.0)
    assert outdated(RunDir(run), "generate-sass") and not outdated(RunDir(run), "prepare")
    before = finished_at(run)
    assert main(["run", "--dataset", "simulated", "--subject", "1", "--run-dir", str(run),
                 "--methods", "none", "sass", *TINY]) == 0
    after = finished_at(run)
    assert {name for name in after if after[name] != before[name]} == {
        "train-generator-semantic", "generate-sass", "downstream-cnn-sass"}
