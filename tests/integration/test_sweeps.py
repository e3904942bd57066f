"""`sasgda sweep` over a tiny benchmark: the ratio and confidence sweeps, their caching, the
benchmark's runs left as they were, and the sweep section of `sasgda report`."""

from sasgda.cli import main
from sasgda.utils.io import load_json
from tests.integration.conftest import tiny_grid

SWEEP = ["--subjects", "1", "--ratios", "0.1", "--confidences", "0.03", "0.05", "--quiet"]


def _mtimes(folder):
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_sweep_then_report(generative_benchmark):
    out = generative_benchmark
    synthetic = _mtimes(out / "runs" / "s1-seed0" / "synthetic")
    cells = _mtimes(out / "cells")

    assert main(["sweep", "--out", str(out), *SWEEP]) == 0
    summary = load_json(out / "sweeps" / "cnn" / "s1-seed0.json")
    ratios = {(row["method"], row["ratio"]) for row in summary["ratio"]}
    assert ratios == {(m, r) for m in ("gmss", "sass") for r in (0.0, 0.1, 0.2)}
    assert [row["threshold"] for row in summary["confidence"]] == [0.03, 0.05]
    for row in summary["confidence"]:
        assert row["fid"] >= 0 and 0 <= row["cas"] <= 1 and 0 <= row["accuracy"] <= 1
    # The benchmark's own threshold (0.05 here) is its cell, not a new run.
    cell = load_json(out / "cells" / "s1_sass_cnn_seed0.json")
    assert summary["confidence"][1]["accuracy"] == cell["accuracy"]
    # The benchmark's synthetic sets and cells are untouched; its run got the quality metrics.
    assert _mtimes(out / "runs" / "s1-seed0" / "synthetic") == synthetic
    assert _mtimes(out / "cells") == cells
    assert set(load_json(out / "runs" / "s1-seed0" / "metrics.json")) == {"gmss", "sass"}

    # A rerun reuses every finished setting.
    settings = _mtimes(out / "sweeps" / "cnn" / "s1-seed0")
    assert main(["sweep", "--out", str(out), *SWEEP]) == 0
    assert {p: t for p, t in _mtimes(out / "sweeps" / "cnn" / "s1-seed0").items()
            if p.suffix == ".json" and p.parent.name == "s1-seed0"} == {
        p: t for p, t in settings.items() if p.suffix == ".json" and p.parent.name == "s1-seed0"}

    assert main(["report", "--out", str(out), "--quiet"]) == 0
    report = (out / "report.md").read_text()
    assert "Accuracy (%) against synthetic windows per real one" in report
    assert "SASS confidence threshold" in report
    for name in ("accuracy_vs_ratio-cnn.png", "confidence_sweep-cnn.png"):
        assert (out / "plots" / name).stat().st_size > 1000


def test_sweep_names_what_the_benchmark_run_lacks(generative_benchmark, capsys):
    out = generative_benchmark
    (out / "runs" / "s1-seed0" / "synthetic" / "gmss.npz").unlink()  # as if pruned
    assert main(["sweep", "--out", str(out), *SWEEP]) == 2
    err = capsys.readouterr().err
    assert "runs/s1-seed0/synthetic/gmss.npz: not found" in err
    assert "sasgda generate --strategy gmss" in err


def test_sweep_needs_finished_cells(tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(["benchmark", "--out", str(out), *tiny_grid(methods=("none",))]) == 0
    assert main(["sweep", "--out", str(out), *SWEEP]) == 2
    assert "no finished cnn cell for gmss, sass" in capsys.readouterr().err
