"""Every bad input of reports/bad_inputs.md, run for real: one line, the right exit code, no traceback, and
`config check` and `run` rejecting a config alike. The report must be what the cases give today."""

from __future__ import annotations

import bad_inputs
import pytest
from bad_inputs import CASES, REPORT, run_all, table

pytestmark = pytest.mark.slow  # runs the CLI about 150 times


@pytest.fixture(scope="module")
def results(shipped_model):
    return run_all()


def test_there_are_enough_cases_across_every_area():
    areas = {c.area for c in CASES}
    assert len(CASES) >= 60 and {"config", "model", "audio file", "device"} <= areas


def test_each_bad_input_gets_one_line_and_its_exit_code(results):
    for case, runs in results:
        for args, code, _first, stderr in runs:
            where = f"{case.area}: {case.what}: {' '.join(args[2:])}"
            assert "Traceback" not in stderr, where + "\n" + stderr
            assert code == case.exit, f"{where}: exit {code}, expected {case.exit}\n{stderr}"
            said = bad_inputs.error_lines(stderr)
            assert code == 0 or len(said) == 1, f"{where}: expected one line\n{stderr}"


def test_config_check_rejects_what_run_rejects(results):
    for case, runs in results:
        if len(runs) == 2:
            (_, check_code, _, _), (_, run_code, _, _) = runs
            assert check_code == run_code, case.what


def test_the_report_is_what_the_cases_give(results):
    assert REPORT.read_text() == table(results), "reports/bad_inputs.md is stale: run python tests/bad_inputs.py"
