"""Reports of judged runs: `summary.build_report` builds the typed `model.Report` (a row per run and
judge configuration), `comparisons` builds `compare` and `agreement` results, and `tables` (terminal,
Markdown, CSV), `html` (the self-contained page, charts from `charts`) and `server` (`crosseval view`)
render them; `Report.as_dict()` is what `--json` prints.
"""
