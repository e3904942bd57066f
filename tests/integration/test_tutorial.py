"""docs/tutorial-npz.md runs as written, on tiny settings."""

import re
import shlex
from pathlib import Path

from sasgda.cli import main

TUTORIAL = Path(__file__).resolve().parents[2] / "docs" / "tutorial-npz.md"
TINY = ["--set", "classifier.train.epochs=2", "--set", "downstream.train.epochs=1",
        "--set", "downstream.augmented_epochs=1", "--set", "generator.steps=4",
        "--set", "generator.base_channels=8", "--set", "generator.channel_mults=[1,2]",
        "--set", "generator.n_heads=2", "--set", "generator.batch_size=16",
        "--set", "sampler.steps=3", "--set", "sampler.ratio=0.2",
        "--set", "conditions.confidence=0", "--set", "conditions.max_rounds=2", "--quiet"]


def test_the_tutorial_commands_run_as_written(tmp_path, monkeypatch):
    text = TUTORIAL.read_text()
    monkeypatch.chdir(tmp_path)
    exec(compile(re.search(r"```python\n(.*?)```", text, re.S).group(1), "tutorial", "exec"), {})
    commands = [line for block in re.findall(r"```bash\n(.*?)```", text, re.S)
                for line in block.strip().splitlines()]
    assert len(commands) == 5
    for command in commands:
        words = shlex.split(command)
        assert words[0] == "sasgda"
        extra = TINY if words[1] not in ("datasets", "report") else []
        assert main([*words[1:], *extra]) == 0, command
    report = (tmp_path / "runs" / "my-benchmark" / "report.md").read_text()
    assert "| cnn | sass |" in report and "n too small" in report
    assert (tmp_path / "runs" / "anna" / "report.md").is_file()
