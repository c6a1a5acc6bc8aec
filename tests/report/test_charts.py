"""Inline SVG charts: valid XML, values placed on the 0-100 scale, missing values marked, labels escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from crosseval.report.charts import Estimate, dumbbell_grid, grouped_bar_chart, heatmap

SVG = "{http://www.w3.org/2000/svg}"


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def test_bars_scale_with_the_value_and_carry_intervals() -> None:
    values = {
        ("awareness", "m<1>"): Estimate(50.0, 40.0, 60.0, 10),
        ("awareness", "m2"): Estimate(100.0),
        ("education", "m<1>"): Estimate(25.0, 20.0, 30.0, 10),
    }
    root = _parse(grouped_bar_chart(["awareness", "education"], ["m<1>", "m2"], values, title="t & u"))
    bars = root.findall(f".//{SVG}rect[@class='bar']")
    heights = [float(b.attrib["height"]) for b in bars]
    assert heights == [100.0, 200.0, 50.0]
    first_title = bars[0].find(f"{SVG}title")
    assert first_title is not None and first_title.text == "m<1> · awareness: 50.0% [40.0, 60.0] (n=10)"
    assert len(root.findall(f".//{SVG}path")) == 2, "one whisker per bar that has an interval"
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "n/a" in texts and "m<1>" in texts
    assert root.findtext(f"{SVG}title") == "t & u"


def test_heatmap_shades_by_value_and_hatches_missing_cells() -> None:
    values = {("Japan", "a"): Estimate(0.0), ("Japan", "b"): Estimate(100.0), ("Iran", "a"): Estimate(50.0)}
    svg = heatmap(["Japan", "Iran"], ["a", "b"], values, title="h", column_labels={"a": "A", "b": "B"})
    root = _parse(svg)
    cells = {
        c.findtext(f"{SVG}title"): c.attrib["fill"] for c in root.findall(f".//{SVG}rect[@class='cell']")
    }
    assert cells["Japan · A: 0.0%"] == "#f7fbff"
    assert cells["Japan · B: 100.0%"] == "#086870"
    assert len(cells) == 3
    pattern = root.find(f".//{SVG}pattern")
    assert pattern is not None
    pattern_id = pattern.attrib["id"]
    hatched = [r for r in root.iter(f"{SVG}rect") if r.attrib.get("fill") == f"url(#{pattern_id})"]
    assert len(hatched) == 1
    other = heatmap(["Japan"], ["a"], {}, title="other")
    assert f'id="{pattern_id}"' not in other, "two heatmaps on one page need distinct pattern ids"


def test_dumbbell_places_both_settings_on_one_track() -> None:
    pairs = {("Hindi", "a"): (Estimate(20.0), Estimate(70.0)), ("Thai", "a"): (None, Estimate(10.0))}
    root = _parse(
        dumbbell_grid(["Hindi", "Thai"], ["a"], pairs, title="d", pair_labels=("English", "Translated"))
    )
    dots = root.findall(f".//{SVG}circle[@class='dot']")
    assert len(dots) == 3
    hindi = [float(d.attrib["cx"]) for d in dots[:2]]
    assert hindi[1] - hindi[0] == (70.0 - 20.0) / 100 * 230.0
    joins = [line for line in root.iter(f"{SVG}line") if line.attrib.get("stroke-width") == "3"]
    assert len(joins) == 1, "a line joins the two dots only when both exist"


def test_dumbbell_sets_equal_values_apart_so_both_dots_show() -> None:
    pairs = {
        ("Hindi", "a"): (Estimate(100.0), Estimate(100.0)),
        ("Thai", "a"): (Estimate(0.0), Estimate(60.0)),
    }
    root = _parse(
        dumbbell_grid(["Hindi", "Thai"], ["a"], pairs, title="d", pair_labels=("English", "Translated"))
    )
    dots = root.findall(f".//{SVG}circle[@class='dot']")
    hindi, thai = dots[:2], dots[2:]
    assert hindi[0].attrib["cx"] == hindi[1].attrib["cx"]
    assert float(hindi[0].attrib["cy"]) < float(hindi[1].attrib["cy"]), (
        "coinciding dots must not hide each other"
    )
    assert thai[0].attrib["cy"] == thai[1].attrib["cy"], "dots apart stay on the row's line"
