"""`ime validate` writes the side-by-side report of the product's and the naive method."""

from __future__ import annotations

from ime.cli import main


def test_validate_writes_the_report_with_targets(tmp_path, capsys):
    out = tmp_path / "validation.md"
    assert (
        main(
            [
                "validate",
                "--seeds",
                "11",
                "--exams",
                "20000",
                "--out",
                str(out),
                "--realdata",
                str(tmp_path / "absent"),
            ]
        )
        == 0
    )
    text = out.read_text()
    assert "| adverse_opinion | product |" in text and "| adverse_opinion | naive |" in text
    assert "## Targets" in text and "Real data" not in text
    assert "ime validate --seeds 11 --exams 20000" in text
