"""Characterisation reports: CSV, Markdown table and Pareto plot (error against LUTs).

Every file is written to a temporary file in the destination folder and renamed into place, so
an interrupted run never leaves a half-written report.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from pathlib import Path

__all__ = [
    "COLUMNS",
    "atomic_write",
    "to_csv",
    "to_markdown",
    "pareto_front",
    "short_label",
    "plot_pareto",
    "write_reports",
    "choose",
    "fronts_markdown",
]

#: Report columns, in order (keys of a characterisation result).
COLUMNS = [
    "unit",
    "kind",
    "width",
    "signed",
    "mae_pct",
    "wce_pct",
    "mre_pct",
    "wcre_pct",
    "ep_pct",
    "mse",
    "bias",
    "luts",
    "carry4",
    "depth",
    "lut_levels",
    "clock_ns",
    "dsps",
    "ffs",
    "rtl_matches_model",
    "n_pairs",
    "exhaustive",
]

_MD_COLUMNS = [
    ("unit", "unit"),
    ("mae_pct", "MAE %"),
    ("wce_pct", "WCE %"),
    ("mre_pct", "MRED %"),
    ("ep_pct", "EP %"),
    ("bias", "bias"),
    ("luts", "LUT"),
    ("carry4", "CARRY4"),
    ("depth", "depth"),
    ("lut_levels", "LUT levels"),
    ("clock_ns", "clock ns"),
    ("dsps", "DSP"),
    ("rtl_matches_model", "RTL = model"),
]


def current_umask() -> int:
    """The process umask (read by setting it and restoring it at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    The file gets the mode a plain ``open(path, "w")`` would give (0666 less the umask), not
    the private 0600 of the temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def _fmt(value, key: str = "") -> str:
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        if key == "mse":
            return f"{value:.4g}"
        if key == "bias":
            return f"{value:.4g}"
        return f"{value:.4f}".rstrip("0").rstrip(".") if value else "0"
    if value is None:
        return "-"
    return str(value)


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (int(v) if isinstance(v, bool) else v) for k, v in r.items()})
    return buf.getvalue()


def to_markdown(rows: list[dict], title: str | None = None, notes: list[str] | None = None) -> str:
    """A Markdown table, one section per (kind, width)."""
    out = []
    if title:
        out += [f"# {title}", ""]
    for line in notes or []:
        out.append(line)
    if notes:
        out.append("")
    widths = sorted({int(r.get("width", 0)) for r in rows if r.get("kind") == "mul"})
    for w in widths:
        out += fronts_markdown(rows, w)
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r.get("kind", "?"), r.get("width", 0)), []).append(r)
    names = {"mul": "Multipliers", "add": "Adders"}
    for (kind, width), grp in sorted(groups.items(), key=lambda kv: (kv[0][0] != "mul", kv[0][1])):
        out += [f"## {names.get(kind, kind)}, {width}-bit operands", ""]
        out.append("| " + " | ".join(h for _, h in _MD_COLUMNS) + " |")
        out.append("|" + "|".join("---" for _ in _MD_COLUMNS) + "|")
        for r in grp:
            out.append("| " + " | ".join(_fmt(r.get(k), k) for k, _ in _MD_COLUMNS) + " |")
        out.append("")
    return "\n".join(out)


def _num(v):
    try:
        return None if v is None or v == "" else float(v)
    except (TypeError, ValueError):
        return None


def _select(rows, kind="mul", width=8, signed=None):
    out = []
    for r in rows:
        if r.get("kind") != kind or int(r.get("width", 0)) != width:
            continue
        s = r.get("signed")
        s = s if isinstance(s, bool) else str(s).lower() in ("1", "true", "yes")
        if signed is not None and s != bool(signed):
            continue
        if _num(r.get("luts")) is None:
            continue
        out.append(r)
    return out


def choose(rows, *, kind="mul", width=8, signed=False, max_mred=None, max_mae=None,
           max_depth=None, max_clock=None) -> list[dict]:
    """Units meeting every given limit, cheapest (fewest LUTs, then lowest error) first.

    ``max_depth`` limits the Yosys ``ltp`` depth, ``max_clock`` the clock estimate (ns)."""
    keep = []
    for r in _select(rows, kind, width, signed):
        checks = [("mre_pct", max_mred), ("mae_pct", max_mae), ("depth", max_depth),
                  ("clock_ns", max_clock)]
        if all(lim is None or (_num(r.get(k)) is not None and _num(r.get(k)) <= lim)
               for k, lim in checks):
            keep.append(r)
    return sorted(keep, key=lambda r: (_num(r["luts"]), _num(r.get("mre_pct")) or 0.0))


def _front_rows(rows, metric):
    pts = [(_num(r["luts"]), _num(r.get(metric))) for r in rows]
    idx = pareto_front([(x, y if y is not None else float("inf")) for x, y in pts])
    return sorted((rows[i] for i in idx), key=lambda r: _num(r["luts"]))


_FRONT_COLS = [("unit", "unit"), ("luts", "LUT"), ("mre_pct", "MRED %"), ("mae_pct", "MAE %"),
               ("depth", "depth"), ("lut_levels", "LUT levels"), ("clock_ns", "clock ns")]


def _table(rows, cols=_FRONT_COLS) -> list[str]:
    out = ["| " + " | ".join(h for _, h in cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for r in rows:
        out.append("| " + " | ".join(_fmt(r.get(k), k) for k, _ in cols) + " |")
    return out


def fronts_markdown(rows, width: int = 8, mred_target: float = 2.0,
                    lut_share: float = 0.6) -> list[str]:
    """Markdown sections: the MRED and MAE Pareto fronts (against LUTs) of the ``width``-bit
    multipliers, unsigned and signed, and the cheapest unit at MRED <= ``mred_target`` %
    compared with the exact multiplier (also under the exact one's depth)."""
    out = []
    for signed in (False, True):
        sel = _select(rows, "mul", width, signed)
        if not sel:
            continue
        sname = "signed" if signed else "unsigned"
        for metric, label in (("mre_pct", "MRED"), ("mae_pct", "MAE")):
            out += [f"## Pareto front, {width}-bit {sname} multipliers: {label} against LUTs",
                    ""]
            out += _table(_front_rows(sel, metric)) + [""]
        exact = [r for r in sel if str(r["unit"]).startswith("exact:")]
        best = choose(rows, width=width, signed=signed, max_mred=mred_target)
        out += [f"## Cheapest {width}-bit {sname} multiplier at MRED <= {mred_target:g} %", ""]
        if exact:
            ex = exact[0]
            ex_l, ex_d = _num(ex["luts"]), _num(ex.get("depth"))
            lines = [f"Exact (`a*b` as Yosys maps it): {ex_l:g} LUT, depth {ex_d:g}, "
                     f"clock {_fmt(ex.get('clock_ns'))} ns; the target is at most "
                     f"{lut_share:.0%} of its LUTs ({lut_share * ex_l:.1f} LUT)."]
            picks = [("any depth", best[:1]),
                     (f"depth <= {ex_d:g} (exact's)",
                      choose(rows, width=width, signed=signed, max_mred=mred_target,
                             max_depth=ex_d)[:1])]
            for what, pick in picks:
                if pick:
                    r = pick[0]
                    share = _num(r["luts"]) / ex_l
                    ok = "meets" if share <= lut_share else "misses"
                    lines.append(f"- {what}: `{r['unit']}`, {_fmt(r['luts'])} LUT "
                                 f"({share:.1%} of exact, {ok} the {lut_share:.0%} target), "
                                 f"MRED {_fmt(r['mre_pct'])} %, MAE {_fmt(r['mae_pct'])} %, "
                                 f"depth {_fmt(r.get('depth'))}, LUT levels "
                                 f"{_fmt(r.get('lut_levels'))}, clock {_fmt(r.get('clock_ns'))} ns")
                else:
                    lines.append(f"- {what}: no unit")
            out += lines + [""]
    return out


def short_label(unit: str) -> str:
    """``drum:k=4,width=8,signed=1`` -> ``drum k=4`` (width and signedness are in the legend)."""
    name, _, rest = unit.partition(":")
    keep = [p for p in rest.split(",") if p and not p.startswith(("width=", "signed="))]
    return " ".join([name] + keep)


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points not dominated when minimising both coordinates (cost, error)."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], points[i][1]))
    front, best = [], float("inf")
    for i in order:
        if points[i][1] < best:
            front.append(i)
            best = points[i][1]
    return front


def plot_pareto(rows: list[dict], path: str | Path, title: str = "") -> Path:
    """Error (MAE % and MRED %) and logic depth against LUTs, one row of panels per unit kind
    and width.

    The Pareto front (fewest LUTs for a given error) is drawn per signedness; every point is
    labelled with its unit name.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["kind"], r["width"]), []).append(r)
    keys = sorted(groups, key=lambda k: (k[0] != "mul", k[1]))
    metrics = [("mae_pct", "MAE %"), ("mre_pct", "MRED %"), ("depth", "logic depth (ltp)")]
    fig, axes = plt.subplots(
        len(keys) or 1, 3, figsize=(21, 5.5 * max(1, len(keys))), squeeze=False
    )
    styles = {False: ("tab:blue", "o", "unsigned"), True: ("tab:red", "s", "signed")}
    for gi, key in enumerate(keys):
        grp = groups[key]
        for mi, (metric, label) in enumerate(metrics):
            ax = axes[gi][mi]
            for sgn in (False, True):
                pts = [r for r in grp if bool(r["signed"]) == sgn]
                if not pts:
                    continue
                color, marker, name = styles[sgn]
                pts = [r for r in pts if r.get("luts") is not None
                       and r.get(metric) is not None]
                if not pts:
                    continue
                xs = [r["luts"] for r in pts]
                ys = [r[metric] for r in pts]
                ax.scatter(xs, ys, c=color, marker=marker, label=name, alpha=0.75, zorder=3)
                front = pareto_front(list(zip(xs, ys, strict=True)))
                fx = [xs[i] for i in front]
                fy = [ys[i] for i in front]
                ax.step(fx, fy, where="post", color=color, lw=1.2, alpha=0.6, zorder=2)
                ax.scatter(fx, fy, facecolors="none", edgecolors="k", s=110, lw=1.2, zorder=4)
                same: dict[tuple, list[str]] = {}
                for r in pts:  # one label for points that coincide
                    same.setdefault((r["luts"], r[metric]), []).append(short_label(r["unit"]))
                for (x, y), labels in same.items():
                    ax.annotate(
                        " / ".join(labels),
                        (x, y),
                        fontsize=6.5,
                        xytext=(3, 3),
                        textcoords="offset points",
                        color=color,
                    )
            if metric != "depth":
                ax.set_yscale("symlog", linthresh=0.01)
            ax.set_xlabel("LUTs (synth_xilinx -nodsp)")
            ax.set_ylabel(label)
            kind_name = "multipliers" if key[0] == "mul" else "adders"
            ax.set_title(f"{key[1]}-bit {kind_name}: {label} vs LUTs (circled: Pareto front)")
            ax.grid(True, alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(loc="upper right", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return atomic_write(path, buf.getvalue())


def write_reports(rows: list[dict], outdir: str | Path, stem: str = "arith",
                  title: str = "Arithmetic unit library", notes: list[str] | None = None) -> dict:
    """Write ``<stem>.csv``, ``<stem>.md`` and ``<stem>_pareto.png`` into ``outdir``."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    csv_text = to_csv(rows)
    md_text = to_markdown(rows, title, notes)
    png = plot_pareto(rows, outdir / f"{stem}_pareto.png", title)
    return {
        "csv": atomic_write(outdir / f"{stem}.csv", csv_text),
        "md": atomic_write(outdir / f"{stem}.md", md_text),
        "png": png,
    }


FIGURES_BEGIN = "<!-- FIGURES"
FIGURES_END = "<!-- END FIGURES -->"


def update_block_readmes(rows: list[dict], cores_dir: str | Path, notes: str = "") -> list[Path]:
    """Write each built-in unit's rows into the figures section of ``cores/arith/<unit>/
    README.md`` (between the ``<!-- FIGURES ... -->`` and ``<!-- END FIGURES -->`` markers).
    Returns the files changed."""
    changed = []
    by_unit: dict[str, list[dict]] = {}
    for r in rows:
        by_unit.setdefault(str(r.get("unit", "")).split(":", 1)[0], []).append(r)
    for name, grp in sorted(by_unit.items()):
        readme = Path(cores_dir) / name / "README.md"
        if not readme.is_file():
            continue
        text = readme.read_text()
        start, end = text.find(FIGURES_BEGIN), text.find(FIGURES_END)
        if start < 0 or end < start:
            continue
        head_end = text.index("-->", start) + 3
        table = ["| " + " | ".join(h for _, h in _MD_COLUMNS) + " |",
                 "|" + "|".join("---" for _ in _MD_COLUMNS) + "|"]
        table += ["| " + " | ".join(_fmt(r.get(k), k) for k, _ in _MD_COLUMNS) + " |"
                  for r in grp]
        body = "\n".join(([notes, ""] if notes else []) + table)
        new = f"{text[:head_end]}\n{body}\n{text[end:]}"
        if new != text:
            atomic_write(readme, new)
            changed.append(readme)
    return changed
