import numpy as np

from sasgda.viz.tables import per_subject, subject_table, summary_table


def _cells(subjects=("1", "2", "3", "10"), bases=(0.70, 0.80, 0.75, 0.60)):
    cells = []
    for s, base in zip(subjects, bases, strict=True):
        for seed in (0, 1):
            cells.append(dict(subject=s, method="none", backbone="cnn", seed=seed,
                              accuracy=base + 0.01 * seed, macro_f1=base))
            cells.append(dict(subject=s, method="sass", backbone="cnn", seed=seed,
                              accuracy=base + 0.05 + 0.01 * seed, macro_f1=base + 0.04))
    return cells


def test_seeds_are_averaged_within_subjects_in_numeric_order():
    acc = per_subject(_cells(), "none", "cnn", "accuracy")
    assert list(acc) == ["1", "2", "3", "10"]
    np.testing.assert_allclose(acc["1"], 0.705)


def test_summary_reports_gain_and_pairs_subjects():
    table = summary_table(_cells(), methods=["none", "sass"])
    row = next(line for line in table.splitlines() if "| sass |" in line)
    assert "+5.0" in row and "4 x 2" in row
    # Four pairs cannot give a two-sided exact p below 2 / 2**4 = 0.125: no p-value is printed.
    assert "n too small" in row and "0.125" not in row
    # The best method of the backbone is in bold, the others not.
    assert "| **76.8 ± 8.5** | **75.2 ± 8.5** |" in row
    assert "**" not in next(line for line in table.splitlines() if "| none |" in line)


def test_summary_gives_a_p_value_from_six_subjects():
    cells = _cells(tuple("123456"), (0.70, 0.80, 0.75, 0.60, 0.65, 0.72))
    row = next(line for line in summary_table(cells).splitlines() if "| sass |" in line)
    assert "| 0.031 |" in row and "6 x 2" in row  # six pairs all improving: 2 / 2**6


def test_gains_pair_runs_of_the_same_seed_when_seeds_are_uneven():
    # Seed 1 of `none` is missing for every subject: the gain compares seed 0 with seed 0 (+5),
    # not sass's mean over seeds 0 and 1 with none's seed 0 (+5.5).
    cells = [c for c in _cells() if not (c["method"] == "none" and c["seed"] == 1)]
    table = summary_table(cells, methods=["none", "sass"])
    rows = {line.split(" | ")[1]: line for line in table.splitlines()[2:]}
    assert "+5.0" in rows["sass"] and "4 x 2" in rows["sass"]
    assert "4 x 1 |" in rows["none"]
    cells = [c for c in _cells() if not (c["subject"] == "1" and c["seed"] == 1)]
    assert "4 x 1-2" in summary_table(cells, methods=["none", "sass"])


def test_subject_table_has_a_mean_row():
    table = subject_table(_cells(), "cnn", methods=["none", "sass"])
    assert table.splitlines()[-1].startswith("| mean | 71.8 | **76.8** |")  # best in bold


def test_subject_table_means_only_subjects_with_every_method():
    cells = [c for c in _cells() if not (c["subject"] == "10" and c["method"] == "sass")]
    table = subject_table(cells, "cnn", methods=["none", "sass"])
    last = table.splitlines()[-1]
    # Subject 10 (none only) is listed but left out of both means: (70.5 + 80.5 + 75.5) / 3.
    assert "| 10 | 60.5 |  |" in table
    assert last.startswith("| mean of 3 complete | 75.5 | **80.5** |")
