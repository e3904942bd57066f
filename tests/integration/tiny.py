"""Tiny settings for the integration tests that make whole runs on simulated data: seconds, not
minutes, yet every stage runs (generator checkpoints included)."""

TINY_RUN = [
    "--set", "data.sim_gestures=3", "--set", "data.sim_rep_seconds=1.5",
    "--set", "classifier.train.epochs=2", "--set", "downstream.train.epochs=1",
    "--set", "downstream.augmented_epochs=1", "--set", "evaluate.train.epochs=1",
    "--set", "generator.base_channels=8", "--set", "generator.channel_mults=[1,2]",
    "--set", "generator.n_heads=2", "--set", "generator.steps=4",
    "--set", "generator.checkpoint_every=2", "--set", "generator.batch_size=16",
    "--set", "sampler.steps=3", "--set", "sampler.ratio=0.2",
    "--set", "conditions.max_rounds=2", "--set", "conditions.confidence=0.0", "--quiet",
]
