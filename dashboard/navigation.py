"""The dashboard's pages, in menu order. To add a page, add a file to views/ and a line here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

VIEWS = Path(__file__).parent / "views"


@dataclass(frozen=True)
class PageSpec:
    """One page: its file in views/, menu title, icon and menu section.

    Streamlit derives the page's URL from the file name (views/mmi.py -> /mmi), which also
    lets tests open a page by its file.
    """

    file: str
    title: str
    icon: str
    section: str
    # The roles whose menu lists the page (None: every role the app lets in).
    roles: tuple[str, ...] | None = None

    @property
    def path(self) -> Path:
        return VIEWS / self.file

    @property
    def url_path(self) -> str:
        return Path(self.file).stem

    @property
    def is_default(self) -> bool:
        """The first page is the app's home page, served at the root URL."""
        return self is PAGES[0]

    @property
    def url(self) -> str:
        """The page's URL relative to the app's root ('' for the home page)."""
        return "" if self.is_default else self.url_path


PAGES = (
    PageSpec("overview.py", "Overview", ":material/dashboard:", "Outcomes"),
    PageSpec("denials.py", "Denials and opinions", ":material/gavel:", "Outcomes"),
    PageSpec("mmi.py", "Time to MMI", ":material/timeline:", "Outcomes"),
    PageSpec("impairment.py", "Impairment", ":material/bar_chart:", "Outcomes"),
    PageSpec("examiners.py", "Examiners", ":material/groups:", "Examiners"),
    PageSpec("examiner_profile.py", "Examiner profile", ":material/person_search:", "Examiners"),
    PageSpec("our_examiners.py", "Our examiners", ":material/handshake:", "Examiners",
             roles=("insurer",)),
    PageSpec(
        "aggregate_audit.py", "Aggregate audit", ":material/account_balance:", "Decision-makers"
    ),
    PageSpec("data_quality.py", "Data quality", ":material/fact_check:", "About the data"),
    PageSpec("methods.py", "Methods", ":material/menu_book:", "About the data"),
    PageSpec("exports.py", "Exports", ":material/download:", "Take away"),
    PageSpec("audit_log.py", "Audit log", ":material/history:", "Take away"),
    PageSpec("reviews.py", "Reviews", ":material/rate_review:", "Examiners",
             roles=("regulator",)),
)
# An examiner (role examiner) sees this one page and nothing else.
EXAMINER_PAGE = PageSpec("examiner_home.py", "Your figures", ":material/person:", "You")
