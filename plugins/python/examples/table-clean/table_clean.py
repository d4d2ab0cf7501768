"""`table_clean`: cleans a CSV table — trims cells, normalises header names,
drops empty, duplicate and incomplete rows, parses number columns — and
returns the clean CSV as an output reference with a report of what changed.

A long table is processed in chunks: progress, cancellation and a checkpoint
after each, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Literal

from jobhost_plugin import Cancelled, Context, InvalidConfig, JobType, SideEffects, spec

MINIMAL = {"csv": "Name , Amount ,City\n ada ,1200,London\n\nbob,80,Paris\n"}

EXAMPLE = {
    "csv": "Name , Amount ,City\n ada ,\"1,200.50\",London\n\nbob,n/a,Paris\n ada ,\"1,200.50\",London\n",
    "number_columns": ["amount"],
    "deduplicate": True,
}


@dataclass
class Config:
    """Config of a table_clean job."""

    csv: str = field(
        metadata=spec(
            "The table as CSV text; its first row names the columns.",
            min_length=1,
            max_length=500_000,
        )
    )
    delimiter: Literal[",", ";", "\t", "|"] = field(
        default=",", metadata=spec("The character between cells.", examples=[";"])
    )
    normalize_headers: bool = field(
        default=True,
        metadata=spec("Rewrite column names in snake_case (`Unit Price` becomes `unit_price`)."),
    )
    trim: bool = field(default=True, metadata=spec("Strip spaces around every cell."))
    drop_empty_rows: bool = field(default=True, metadata=spec("Drop rows whose cells are all empty."))
    deduplicate: bool = field(
        default=False, metadata=spec("Keep only the first of identical rows (after cleaning).")
    )
    required_columns: list[str] = field(
        default_factory=list,
        metadata=spec(
            "Drop rows with an empty cell in any of these columns (names after normalising).",
            max_items=100,
            examples=[["name"]],
        ),
    )
    number_columns: list[str] = field(
        default_factory=list,
        metadata=spec(
            "Parse these columns as numbers (`1,200.50`, `$3`, `4%` are read as 1200.5, 3, 4);"
            " rows where one does not parse are dropped and reported.",
            max_items=100,
            examples=[["amount"]],
        ),
    )
    rows_per_chunk: int = field(
        default=2_000,
        metadata=spec(
            "Rows between progress reports, cancellation checks and checkpoints.",
            minimum=10,
            maximum=100_000,
        ),
    )


job = JobType(
    "table_clean",
    "1.0.0",
    "Clean a table",
    config=Config,
    description=(
        "Cleans CSV text: trims cells, snake_cases header names, drops empty, duplicate and"
        " incomplete rows, parses number columns. Returns counts, the first problems found and"
        " per-number-column statistics; the clean table is the output reference `clean.csv`."
    ),
    user_facing_description="Tidy up a CSV table and see what was removed and why.",
    examples=[MINIMAL, EXAMPLE],
    interrupted="resume",
    side_effects=SideEffects(read_only=True, idempotent=True, destructive=False),
)

_NUMBER_JUNK = re.compile(r"[\s,$€£%]")
MAX_PROBLEMS = 20


def snake_case(name: str) -> str:
    """`Unit Price (EUR)` → `unit_price_eur`."""
    words = re.findall(r"[A-Za-z0-9]+", name.replace("_", " "))
    return "_".join(w.lower() for w in words) or "column"


def parse_number(text: str) -> float | None:
    """A number from a cell written for people, or None."""
    cleaned = _NUMBER_JUNK.sub("", text)
    if not cleaned:
        return None
    try:
        value = float(cleaned)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def unique_headers(names: list[str]) -> list[str]:
    """Headers made unique by suffixing repeats: `a`, `a_2`, `a_3`."""
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}_{seen[n]}")
    return out


@job.run
def run(config: Config, ctx: Context) -> dict:
    rows = list(csv.reader(io.StringIO(config.csv), delimiter=config.delimiter))
    if not rows:
        raise InvalidConfig("csv: the table has no header row")
    header = [c.strip() if config.trim else c for c in rows[0]]
    if config.normalize_headers:
        header = [snake_case(h) for h in header]
    header = unique_headers(header)
    for list_name in ("required_columns", "number_columns"):
        for name in getattr(config, list_name):
            if name not in header:
                raise InvalidConfig(f"{list_name}: no column {name!r}; the columns are {header}")
    body = rows[1:]

    state = ctx.resume_from()
    if state and state.get("total") == len(body) and state.get("header") == header:
        resumed_from = state["next"]
        ctx.info(f"resuming at row {resumed_from} of {len(body)}")
    else:
        resumed_from = None
        state = {
            "header": header,
            "total": len(body),
            "next": 0,
            "out": [],
            "dropped": {"empty": 0, "duplicate": 0, "missing_required": 0, "bad_number": 0},
            "problems": [],
        }
    required = [header.index(c) for c in config.required_columns]
    numbers = [header.index(c) for c in config.number_columns]
    seen = {tuple(r) for r in state["out"]} if config.deduplicate else set()

    while state["next"] < len(body):
        if ctx.cancelled():
            raise Cancelled()
        end = min(state["next"] + config.rows_per_chunk, len(body))
        for i in range(state["next"], end):
            clean_row(config, body[i], i + 2, header, required, numbers, seen, state)
        state["next"] = end
        ctx.progress(end * 100 // max(1, len(body)), f"{end} of {len(body)} rows")
        if end < len(body):
            ctx.save_checkpoint_json(state)

    out = io.StringIO()
    writer = csv.writer(out, delimiter=config.delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(state["out"])
    ctx.add_inline_reference("clean.csv", "text/csv", out.getvalue())
    stats = {}
    for col in numbers:
        values = [float(r[col]) for r in state["out"] if r[col] != ""]
        if values:
            stats[header[col]] = {
                "count": len(values),
                "min": min(values),
                "max": max(values),
                "sum": sum(values),
                "mean": sum(values) / len(values),
            }
    ctx.info(f"kept {len(state['out'])} of {len(body)} rows")
    return {
        "columns": header,
        "rows_in": len(body),
        "rows_out": len(state["out"]),
        "dropped": state["dropped"],
        "problems": state["problems"],
        "number_stats": stats,
        "resumed_from_row": resumed_from,
    }


def clean_row(config, raw, line, header, required, numbers, seen, state) -> None:
    """Cleans one row into `state["out"]`, or counts why it was dropped."""
    row = [c.strip() if config.trim else c for c in raw]
    row = (row + [""] * len(header))[: len(header)]
    if config.drop_empty_rows and all(c.strip() == "" for c in row):
        state["dropped"]["empty"] += 1
        return
    for col in required:
        if row[col].strip() == "":
            state["dropped"]["missing_required"] += 1
            problem(state, line, header[col], row[col], "empty in a required column")
            return
    for col in numbers:
        if row[col].strip() == "":
            continue
        value = parse_number(row[col])
        if value is None:
            state["dropped"]["bad_number"] += 1
            problem(state, line, header[col], row[col], "not a number")
            return
        row[col] = repr(int(value)) if value.is_integer() else repr(value)
    if config.deduplicate:
        key = tuple(row)
        if key in seen:
            state["dropped"]["duplicate"] += 1
            return
        seen.add(key)
    state["out"].append(row)


def problem(state, line, column, value, reason) -> None:
    if len(state["problems"]) < MAX_PROBLEMS:
        state["problems"].append({"line": line, "column": column, "value": value[:100], "reason": reason})
