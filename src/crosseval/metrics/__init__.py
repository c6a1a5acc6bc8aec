"""Statistics over judged runs: rates per round, means over rounds, cluster-bootstrap intervals,
breakdowns, unscored counts, paired comparisons of two runs and judge agreement.

Pure functions over typed records; runs are read only through `crosseval.engine.store.RunStore` and
the run's `manifest.json` (see `crosseval.metrics.runs`).

This package imports nothing: callers import the submodule they need (`crosseval.metrics.aggregate`,
`.agreement`, `.bootstrap`, `.breakdowns`, `.labels`, `.observations`, `.paired`, `.rates`, `.runs`,
`.unscored`, `.usage`), so reading a run does not load scipy or scikit-learn, which only the paired
test (`paired`) and agreement (`agreement`) need.
"""
