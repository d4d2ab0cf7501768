"""Runs `table_clean` natively: `python -m pytest` from this directory."""

import csv
import io

from jobhost_plugin.testing import TestRun

import table_clean
from table_clean import EXAMPLE, job


def clean_table(outcome):
    (ref,) = outcome.references
    assert ref.name == "clean.csv" and ref.media_type == "text/csv"
    return list(csv.reader(io.StringIO(ref.data.decode())))


def test_the_example_cleans_as_documented():
    out = TestRun(job).config(EXAMPLE).run()
    assert out.error is None, out.error
    assert out.output["columns"] == ["name", "amount", "city"]
    assert out.output["dropped"] == {"empty": 1, "duplicate": 1, "missing_required": 0, "bad_number": 1}
    assert out.output["problems"] == [
        {"line": 4, "column": "amount", "value": "n/a", "reason": "not a number"}
    ]
    assert clean_table(out) == [["name", "amount", "city"], ["ada", "1200.5", "London"]]
    assert out.output["number_stats"]["amount"]["sum"] == 1200.5


def test_an_unknown_column_is_a_config_error_naming_it():
    out = TestRun(job).config({**EXAMPLE, "number_columns": ["price"]}).run()
    assert "no column 'price'" in str(out.error), out.error


def test_a_checkpointed_run_resumes_and_gives_the_same_result():
    rows = "\n".join(f"r{i},{i}" for i in range(100))
    config = {"csv": "id,n\n" + rows, "rows_per_chunk": 10, "number_columns": ["n"]}
    whole = TestRun(job).config(config).run()
    assert len(whole.checkpoints) == 9
    cut = TestRun(job).config(config).cancel_after(4).run()
    assert type(cut.error).__name__ == "Cancelled"
    resumed = TestRun(job).config(config).resume_from(cut.checkpoints[-1]).run()
    assert resumed.output["resumed_from_row"] == 40
    assert {**resumed.output, "resumed_from_row": None} == whole.output
    assert clean_table(resumed) == clean_table(whole)


def test_headers_are_snake_cased_and_made_unique():
    assert table_clean.snake_case("Unit Price (EUR)") == "unit_price_eur"
    assert table_clean.unique_headers(["a", "a", "b", "a"]) == ["a", "a_2", "b", "a_3"]


def test_the_schema_is_strict_and_documented():
    s = job.schema
    assert s["required"] == ["csv"] and s["additionalProperties"] is False
    assert s["properties"]["delimiter"]["enum"] == [",", ";", "\t", "|"]
    assert s["properties"]["rows_per_chunk"]["minimum"] == 10
    assert all("description" in p for p in s["properties"].values())


def test_the_hosts_job_type_key_is_dropped_and_other_unknown_keys_are_refused():
    assert TestRun(job).config({**EXAMPLE, "job_type": "table_clean"}).run().error is None
    out = TestRun(job).config({**EXAMPLE, "colour": "red"}).run()
    assert "unknown field 'colour'" in str(out.error), out.error
