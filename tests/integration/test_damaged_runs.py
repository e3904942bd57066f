"""A catalogue of damaged run folders, a full disk and misplaced folders: each is one line naming
the file (exit 2), and nothing in the run folder changes."""

import errno
import hashlib
import os
import shutil

import numpy as np
import pytest

from sasgda.cli import main
from tests.integration.tiny import TINY_RUN as TINY


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    run = tmp_path_factory.mktemp("made") / "run"
    assert main(["run", "--dataset", "simulated", "--subject", "1", "--run-dir", str(run),
                 "--methods", "none", "gmss", *TINY]) == 0
    assert main(["evaluate", "--run-dir", str(run), "--strategies", "gmss", *TINY]) == 0
    return run


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip(path, where=0.5):
    data = bytearray(path.read_bytes())
    data[int(len(data) * where)] ^= 0xFF
    path.write_bytes(bytes(data))


def garble(path):
    path.write_text(path.read_text()[:-20] + "{,")


def checksums(folder):
    return {p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


GENERATE = ["generate", "--strategy", "gmss"]
CASES = {
    "truncated classifier weights": ("classifier/model.safetensors", truncate, GENERATE),
    "bit-flipped classifier weights": ("classifier/model.safetensors", flip, GENERATE),
    "damaged safetensors header": ("classifier/model.safetensors",
                                   lambda p: flip(p, 0.0), GENERATE),
    "truncated generator EMA": ("generator/ema.safetensors", truncate, GENERATE),
    "bit-flipped generator EMA": ("generator/ema.safetensors", flip, GENERATE),
    "truncated synthetic set, train-downstream": (
        "synthetic/gmss.npz", truncate, ["train-downstream", "--augment", "gmss"]),
    "truncated synthetic set, evaluate": (
        "synthetic/gmss.npz", truncate, ["evaluate", "--strategies", "gmss"]),
    "bit-flipped synthetic set": ("synthetic/gmss.npz", flip,
                                  ["train-downstream", "--augment", "gmss"]),
    "truncated windows, train-classifier": ("data/windows.npz", truncate, ["train-classifier"]),
    "truncated windows, train-downstream": ("data/windows.npz", truncate, ["train-downstream"]),
    "truncated features, generate": ("semantic/features.npz", truncate, GENERATE),
    "truncated features, train-generator": ("semantic/features.npz", truncate,
                                            ["train-generator"]),
    "damaged stage record": ("records/train-classifier.json", garble, GENERATE),
    "damaged generator record": ("records/train-generator-semantic.json", garble, GENERATE),
    "damaged generator config.json": ("generator/config.json", garble, GENERATE),
    "damaged classifier config.json": ("classifier/config.json", garble, GENERATE),
    "damaged quality metrics.json": ("metrics.json", garble,
                                     ["evaluate", "--strategies", "gmss"]),
    "damaged config.yaml": ("config.yaml", lambda p: p.write_text("data: [\n"),
                            ["train-downstream"]),
    "windows replaced by text": ("data/windows.npz", lambda p: p.write_text("x"),
                                 ["train-classifier"]),
    "empty stage record": ("records/prepare.json", lambda p: p.write_text(""),
                           ["train-classifier"]),
    "damaged synthetic-set record": ("records/generate-gmss.json", garble,
                                     ["train-downstream", "--augment", "gmss"]),
    "damaged run_info.json": ("run_info.json", garble, ["train-downstream"]),
    "damaged downstream metrics, report": ("downstream/cnn-gmss/metrics.json", garble,
                                           ["report"]),
    "missing generator config.json": ("generator/config.json", os.remove, GENERATE),
    "unknown model class": ("classifier/config.json",
                            lambda p: p.write_text('{"class": "Nope"}'), GENERATE),
    "truncated downstream metrics, run": ("downstream/cnn-none/metrics.json", truncate,
                                          ["report"]),
    "damaged evaluator record": ("records/evaluator.json", garble,
                                 ["evaluate", "--strategies", "gmss"]),
    "missing windows": ("data/windows.npz", os.remove, ["train-classifier"]),
    "missing generator": ("generator/ema.safetensors", os.remove, GENERATE),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_damaged_artifact_is_one_line_naming_it(made, tmp_path, capsys, case):
    rel, damage, command = CASES[case]
    run = tmp_path / "run"
    shutil.copytree(made, run)
    damage(run / rel)
    before = checksums(run)
    capsys.readouterr()
    flags = ["--quiet"] if command[0] == "report" else TINY  # report takes no settings
    assert main([command[0], "--run-dir", str(run), *command[1:], *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(run / rel) in err, err
    # Nothing changed: no artifact half-written, no record of one.
    after = checksums(run)
    assert {k: v for k, v in after.items() if k.name != "run_info.json"} == \
        {k: v for k, v in before.items() if k.name != "run_info.json"}


def test_both_damaged_resume_checkpoints_are_one_line(made, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(made, run)
    truncate(run / "generator" / "state.pt")
    truncate(run / "generator" / "state.pt.prev")
    capsys.readouterr()
    assert main(["train-generator", "--run-dir", str(run), *TINY,
                 "--set", "generator.steps=6"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("state.pt: damaged and no earlier checkpoint to resume from; delete "
                        f"{run / 'generator'} to train a new generator")


def test_a_text_cell_in_a_mat_emg_names_the_file(tmp_path, capsys):
    from scipy.io import savemat

    folder = tmp_path / "db5"
    folder.mkdir()
    savemat(folder / "S1_E1_A1.mat", {"emg": np.array([["abc"]], dtype=object),
                                      "restimulus": np.ones((1, 1)),
                                      "rerepetition": np.ones((1, 1))})
    assert main(["prepare", "--dataset", "db5", "--data", str(folder), "--subject", "1",
                 "--run-dir", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "S1_E1_A1.mat: 'emg' does not hold numbers" in err and len(err.splitlines()) == 1


def test_run_remakes_the_damaged_stage_and_only_what_it_changes(made, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(made, run)
    flip(run / "classifier" / "model.safetensors")
    before = checksums(run)
    assert main(["run", "--dataset", "simulated", "--subject", "1", "--run-dir", str(run),
                 "--methods", "none", "gmss", *TINY]) == 0
    after = checksums(run)
    # The classifier is trained again, deterministically: the same weights as first made, so
    # its features, the generator and the synthetic set stay current and are not remade.
    original = checksums(made)
    weights = next(k for k in after if str(k) == "classifier/model.safetensors")
    assert after[weights] == original[weights] != before[weights]
    for kept in ("generator/ema.safetensors", "synthetic/gmss.npz", "data/windows.npz"):
        key = next(k for k in after if str(k) == kept)
        assert after[key] == before[key]


def test_a_damaged_resume_checkpoint_falls_back_to_the_one_before(made, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(made, run)
    assert (run / "generator" / "state.pt.prev").is_file()
    truncate(run / "generator" / "state.pt")
    with open(run / "generator" / "metrics.jsonl", "a") as handle:
        handle.write('{"step": 9, "lo')  # a torn last line, as a crash mid-append leaves it
    capsys.readouterr()
    assert main(["train-generator", "--run-dir", str(run), *TINY[:-1],
                 "--set", "generator.steps=6"]) == 0
    out = capsys.readouterr().out
    assert "state.pt: damaged" in out and "resuming from the previous checkpoint, step 2" in out
    assert "is torn" in out


def _failing_writes(monkeypatch, error):
    import sasgda.utils.io as io

    def no_space(path, data):
        raise OSError(error, os.strerror(error), str(path.parent / f".{path.name}.x.tmp"))

    monkeypatch.setattr(io, "atomic_write_bytes", no_space)


@pytest.mark.parametrize("command", [
    ["prepare", "--dataset", "simulated", "--subject", "1"],
    ["train-generator"],
])
def test_a_full_disk_is_one_line_and_leaves_the_run_as_it_was(made, tmp_path, capsys,
                                                              monkeypatch, command):
    run = tmp_path / "run"
    shutil.copytree(made, run)
    shutil.rmtree(run / "generator")
    before = checksums(run)
    _failing_writes(monkeypatch, errno.ENOSPC)
    capsys.readouterr()
    assert main([command[0], "--run-dir", str(run), *command[1:], *TINY]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no space left on device" in err
    after = checksums(run)
    assert not [k for k in after if k not in before]  # nothing half-written
    assert {k: v for k, v in after.items() if k.name != "run_info.json"} == \
        {k: v for k, v in before.items() if k.name != "run_info.json"}


def test_a_run_folder_under_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "a-file").write_text("not a folder")
    assert main(["prepare", "--dataset", "simulated", "--subject", "1",
                 "--run-dir", str(tmp_path / "a-file" / "run"), *TINY]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("a-file: a file where a folder is needed") or "a-file" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; the check "
                    "needs a non-root user")
def test_an_unwritable_run_folder_is_one_line(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["prepare", "--dataset", "simulated", "--subject", "1", "--run-dir", str(run),
                 *TINY]) == 0
    run.chmod(0o500)
    try:
        assert main(["train-classifier", "--run-dir", str(run), *TINY]) == 2
        assert f"{run}: not writable" in capsys.readouterr().err
    finally:
        run.chmod(0o700)
