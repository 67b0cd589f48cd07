"""The painted charts draw what they are given (bars scale with values; empty says so)."""

from __future__ import annotations

from decimal import Decimal

from PySide6.QtGui import QColor

from o2c_desktop.ui.widgets.charts import PALETTE, BarChart, HorizontalBarChart, LineChart, Point


def colour_pixels(widget, colour: str) -> int:  # type: ignore[no-untyped-def]
    image = widget.grab().toImage()
    target = QColor(colour).rgb()
    return sum(
        1
        for x in range(0, image.width(), 2)
        for y in range(0, image.height(), 2)
        if image.pixel(x, y) == target
    )


def test_bar_heights_follow_the_values(qtbot) -> None:  # type: ignore[no-untyped-def]
    chart = BarChart("Aging", str)
    qtbot.addWidget(chart)
    chart.resize(500, 300)
    chart.set_points([Point("current", Decimal(100)), Point("1-30", Decimal(50))])
    big, small = colour_pixels(chart, PALETTE[0]), colour_pixels(chart, PALETTE[1])
    assert big > 0 and small > 0
    assert 1.6 < big / small < 2.4  # twice the value, about twice the area
    assert "1-30: 50" in chart.toolTip()


def test_empty_charts_paint_without_data(qtbot) -> None:  # type: ignore[no-untyped-def]
    for chart in (BarChart("a", str), HorizontalBarChart("b", str), LineChart("c", str)):
        qtbot.addWidget(chart)
        chart.resize(300, 200)
        assert not chart.grab().isNull()
        assert colour_pixels(chart, PALETTE[4]) == 0


def test_line_and_ranking_paint_their_points(qtbot) -> None:  # type: ignore[no-untyped-def]
    line = LineChart("DSO", str)
    ranking = HorizontalBarChart("Top", str)
    for chart in (line, ranking):
        qtbot.addWidget(chart)
        chart.resize(500, 300)
    line.set_points([Point(m, Decimal(v)) for m, v in (("Jan", 40), ("Feb", 55), ("Mar", 45))])
    ranking.set_points([Point("C1", Decimal(10)), Point("C2", Decimal(5))])
    assert colour_pixels(line, "#1f4e79") > 0
    assert colour_pixels(ranking, PALETTE[4]) > 0
