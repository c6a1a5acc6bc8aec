"""Reading runs and building a report load no scipy or scikit-learn: only compare and agreement need them."""

from __future__ import annotations

from tests.helpers.imports import modules_after

HEAVY_STATISTICS = ("scipy", "sklearn")


def _heavy(loaded: list[str]) -> list[str]:
    return [m for m in loaded if m.split(".")[0] in HEAVY_STATISTICS]


def test_the_metrics_package_imports_no_submodule() -> None:
    loaded = modules_after("import crosseval.metrics")
    assert [m for m in loaded if m.startswith("crosseval.metrics.")] == []
    assert _heavy(loaded) == []


def test_a_report_needs_neither_scipy_nor_scikit_learn() -> None:
    loaded = modules_after("import crosseval.report.summary, crosseval.report.tables, crosseval.report.html")
    assert _heavy(loaded) == []
    comparisons = modules_after("import crosseval.report.comparisons")
    assert {"scipy", "sklearn"} <= {m.split(".")[0] for m in comparisons}
