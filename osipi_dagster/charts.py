"""The ingestion report's four charts as PNG bytes, drawn with matplotlib's Agg renderer from the frames of
``osipi_dagster.transforms.report``. Figures are built directly (no ``pyplot``): no global state, safe in any
thread of a Dagster run, no display needed. matplotlib is imported when a chart is drawn, not when the
definitions load (its import takes a second, and its first one in a fresh environment logs a font-cache notice)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Every chart is WIDTH_INCHES × HEIGHT_INCHES at DPI: 1000 × 500 pixels.
WIDTH_INCHES, HEIGHT_INCHES, DPI = 10.0, 5.0, 100
MAX_TEMPLATES = 12  # stacked bars and box plots stay readable; the rest are summed as "other"


def _figure(columns: int = 1) -> tuple[Figure, list]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure, [figure.add_subplot(1, columns, i + 1) for i in range(columns)]


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)  # no bbox_inches="tight": the size stays as declared
    return buffer.getvalue()


def _nothing_yet(axes, what: str) -> None:
    axes.text(0.5, 0.5, f"No data yet: {what}", ha="center", va="center", transform=axes.transAxes)
    axes.set_axis_off()


def throughput_chart(throughput: pl.DataFrame) -> bytes:
    """Rows per loaded hour (bars) and the values/s of each hour's latest load (line, right axis)."""
    figure, (axes,) = _figure()
    figure.suptitle("pi_timeseries: values per hour partition, and load speed")
    if throughput.is_empty():
        _nothing_yet(axes, "materialise partitions of pi_timeseries")
        return _png(figure)
    hours = throughput["hour"].dt.replace_time_zone(None).to_numpy()
    axes.bar(hours, throughput["rows"].to_numpy(), width=1 / 24 * 0.9, align="edge", color="tab:blue", label="rows")
    axes.set_ylabel("values in the table (rows per hour)")
    axes.set_xlabel("hour (UTC)")
    speed = throughput.filter(pl.col("values_per_second").is_not_null())
    if not speed.is_empty():
        right = axes.twinx()
        right.plot(
            speed["hour"].dt.replace_time_zone(None).to_numpy() + np.timedelta64(30, "m"),
            speed["values_per_second"].to_numpy(),
            "o-",
            color="tab:orange",
            markersize=3,
            label="values/s of the latest load",
        )
        right.set_ylabel("values/s of the hour's latest load")
        right.set_ylim(bottom=0)
        right.legend(loc="upper right")
    axes.legend(loc="upper left")
    figure.autofmt_xdate()
    return _png(figure)


def sampling_interval_chart(intervals: pl.DataFrame) -> bytes:
    """Histogram of the tags' median sampling intervals, log-spaced bins on a log x axis."""
    figure, (axes,) = _figure()
    figure.suptitle("Sampling interval: median time between values, per tag")
    if intervals.is_empty():
        _nothing_yet(axes, "materialise partitions of pi_timeseries")
        return _png(figure)
    seconds = intervals["median_interval_seconds"].to_numpy()
    seconds = seconds[seconds > 0]
    low, high = np.log10(max(seconds.min(), 1e-3)), np.log10(seconds.max())
    bins = np.logspace(low - 0.05, high + 0.05, 40)
    axes.hist(seconds, bins=bins, color="tab:green")
    axes.set_xscale("log")
    axes.set_xlabel("median interval between values (seconds, log scale)")
    axes.set_ylabel("tags")
    axes.set_title(f"{intervals.height:,} tags", fontsize="small")
    return _png(figure)


def af_elements_chart(per_level: pl.DataFrame) -> bytes:
    """AF elements per tree level, stacked by template."""
    figure, (axes,) = _figure()
    figure.suptitle("AF elements per level and template")
    if per_level.is_empty():
        _nothing_yet(axes, "materialise pi_af_elements")
        return _png(figure)
    depths = sorted(per_level["depth"].unique().to_list())
    totals = per_level.group_by("template").agg(pl.col("elements").sum()).sort("elements", descending=True)
    shown = totals["template"].head(MAX_TEMPLATES).to_list()
    frame = per_level.with_columns(
        template=pl.when(pl.col("template").is_in(shown)).then("template").otherwise(pl.lit("other"))
    )
    bottom = np.zeros(len(depths))
    for template in shown + (["other"] if totals.height > len(shown) else []):
        counts = frame.filter(pl.col("template") == template).group_by("depth").agg(pl.col("elements").sum())
        by_depth = dict(zip(counts["depth"].to_list(), counts["elements"].to_list(), strict=True))
        heights = np.array([by_depth.get(d, 0) for d in depths])
        axes.bar([str(d) for d in depths], heights, bottom=bottom, label=template)
        bottom += heights
    axes.margins(y=0.08)
    axes.set_xlabel("level (0 = directly under the AF database)")
    axes.set_ylabel("elements")
    axes.legend(fontsize="small", ncols=2)
    return _png(figure)


def event_frames_chart(per_template: pl.DataFrame, durations: pl.DataFrame) -> bytes:
    """Left: event frames per template (closed and open). Right: durations of closed frames per template."""
    figure, (counts, spread) = _figure(columns=2)
    figure.suptitle("Event frames per template, and their durations")
    if per_template.is_empty():
        _nothing_yet(counts, "materialise pi_event_frames")
        spread.set_axis_off()
        return _png(figure)
    top = per_template.head(MAX_TEMPLATES).reverse()  # most frequent at the top of a horizontal bar chart
    templates = top["template"].to_list()
    closed = (top["frames"] - top["open_frames"]).to_numpy()
    counts.barh(templates, closed, color="tab:blue", label="closed")
    counts.barh(templates, top["open_frames"].to_numpy(), left=closed, color="tab:red", label="open")
    counts.set_xlabel("event frames")
    counts.legend(fontsize="small")
    boxes = [durations.filter(pl.col("template") == t)["duration_seconds"].to_numpy() / 3600 for t in templates]
    with_data = [(t, b[b > 0]) for t, b in zip(templates, boxes, strict=True) if (b > 0).any()]
    if with_data:
        spread.boxplot([b for _, b in with_data], orientation="horizontal", tick_labels=[t for t, _ in with_data])
        spread.set_xscale("log")
        spread.set_xlabel("duration of closed frames (hours, log scale)")
    else:
        _nothing_yet(spread, "no closed frames")
    return _png(figure)
