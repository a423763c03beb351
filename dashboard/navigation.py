"""The dashboard's pages, in menu order. To add a page, add a file to views/ and a line here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

VIEWS = Path(__file__).parent / "views"


@dataclass(frozen=True)
class PageSpec:
    """One page: its file in views/, menu title, icon, URL path and menu section."""

    file: str
    title: str
    icon: str
    url_path: str
    section: str

    @property
    def path(self) -> Path:
        return VIEWS / self.file


PAGES = (
    PageSpec("overview.py", "Overview", ":material/dashboard:", "overview", "Outcomes"),
    PageSpec("denials.py", "Denials and opinions", ":material/gavel:", "denials", "Outcomes"),
    PageSpec("mmi.py", "Time to MMI", ":material/timeline:", "mmi", "Outcomes"),
    PageSpec("impairment.py", "Impairment", ":material/bar_chart:", "impairment", "Outcomes"),
    PageSpec("data_quality.py", "Data quality", ":material/fact_check:", "data-quality", "About the data"),
    PageSpec("methods.py", "Methods", ":material/menu_book:", "methods", "About the data"),
)
