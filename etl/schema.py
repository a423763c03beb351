"""The canonical input format of docs/format.md, as data: one source of truth for every rule."""

from __future__ import annotations

from dataclasses import dataclass, field

TEXT, DATE, BOOL, INT, NUMBER, ENUM = "text", "date", "bool", "int", "number", "enum"

# DuckDB storage type of each logical type.
SQL_TYPES = {
    TEXT: "VARCHAR",
    DATE: "DATE",
    BOOL: "BOOLEAN",
    INT: "BIGINT",
    NUMBER: "DOUBLE",
    ENUM: "VARCHAR",
}

TRUE_WORDS = ("true", "yes", "y", "1", "t")
FALSE_WORDS = ("false", "no", "n", "0", "f")


@dataclass(frozen=True)
class Column:
    """One column of an entity and the rules its values must keep."""

    name: str
    kind: str = TEXT
    required: bool = False
    values: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class Reference:
    """A column whose non-null values must exist as a key of another entity."""

    column: str
    entity: str
    target: str


@dataclass(frozen=True)
class RowRule:
    """A rule across columns: `violation` is a SQL predicate, TRUE for a row that breaks it.

    The predicate reads the typed columns of the staged rows (alias `t`) and, when `join` is
    set, one other entity's table (alias `j`) joined on it.
    """

    name: str
    column: str
    violation: str
    message: str
    join: tuple[str, str, str] | None = None  # (entity, local column, target column)


@dataclass(frozen=True)
class Entity:
    """One file type of the canonical format."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    references: tuple[Reference, ...] = ()
    rules: tuple[RowRule, ...] = field(default=())

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


SPECIALTIES = (
    "orthopedic_surgery",
    "neurology",
    "psychiatry",
    "psychology",
    "physiatry",
    "occupational_medicine",
    "chiropractic",
    "other",
)
BODY_PARTS = (
    "spine",
    "upper_extremity",
    "lower_extremity",
    "head",
    "psychiatric",
    "multiple",
    "other",
)

EXAMINERS = Entity(
    name="examiners",
    key=("examiner_id",),
    columns=(
        Column("examiner_id", required=True),
        Column("examiner_name"),
        Column("specialty", ENUM, values=SPECIALTIES),
        Column("credential", ENUM, values=("MD", "DO", "DC", "PhD", "PsyD", "other")),
        Column("license_state"),
        Column("board_certified", BOOL),
    ),
)

CASES = Entity(
    name="cases",
    key=("case_id",),
    columns=(
        Column("case_id", required=True),
        Column("claimant_id", required=True),
        Column("insurer_id", required=True),
        Column("insurer_name"),
        Column(
            "claim_type",
            ENUM,
            values=("workers_comp", "auto", "disability", "personal_injury", "other"),
        ),
        Column("jurisdiction"),
        Column("injury_date", DATE, required=True),
        Column("body_part", ENUM, values=BODY_PARTS),
        Column("injury_nature"),
        Column("claimant_birth_year", INT, low=1900),
        Column("claimant_sex", ENUM, values=("F", "M", "X", "U")),
        Column("represented", BOOL),
    ),
    rules=(
        RowRule(
            "not_in_future",
            "injury_date",
            "t.injury_date > current_date",
            "injury_date is in the future",
        ),
        RowRule(
            "birth_year_before_injury",
            "claimant_birth_year",
            "t.claimant_birth_year > year(t.injury_date)",
            "claimant_birth_year is after the injury year",
        ),
    ),
)

EXAMS = Entity(
    name="exams",
    key=("exam_id",),
    columns=(
        Column("exam_id", required=True),
        Column("case_id", required=True),
        Column("examiner_id", required=True),
        Column(
            "requested_by",
            ENUM,
            values=("insurer", "employer", "claimant", "board", "panel", "agreed", "other"),
        ),
        Column(
            "exam_type",
            ENUM,
            values=("ime", "qme", "ame", "record_review", "addendum", "other"),
        ),
        Column("referral_date", DATE),
        Column("exam_date", DATE, required=True),
        Column("report_date", DATE),
        Column(
            "causation",
            ENUM,
            values=("related", "partially_related", "not_related", "undetermined"),
        ),
        Column("mmi_status", ENUM, values=("reached", "not_reached", "undetermined")),
        Column("mmi_date", DATE),
        Column("wpi_percent", NUMBER, low=0, high=100),
        Column("guides_edition"),
        Column(
            "work_capacity",
            ENUM,
            values=("full_duty", "restricted", "no_work", "undetermined"),
        ),
        Column(
            "further_treatment",
            ENUM,
            values=("recommended", "not_recommended", "undetermined"),
        ),
    ),
    references=(
        Reference("case_id", "cases", "case_id"),
        Reference("examiner_id", "examiners", "examiner_id"),
    ),
    rules=(
        RowRule(
            "referral_not_after_exam",
            "referral_date",
            "t.referral_date > t.exam_date",
            "referral_date is after exam_date",
        ),
        RowRule(
            "report_not_before_exam",
            "report_date",
            "t.report_date < t.exam_date",
            "report_date is before exam_date",
        ),
        RowRule(
            "mmi_date_required_when_reached",
            "mmi_date",
            "t.mmi_status = 'reached' AND t.mmi_date IS NULL",
            "mmi_date is required when mmi_status is reached",
        ),
        RowRule(
            "mmi_not_after_report",
            "mmi_date",
            "t.mmi_date > coalesce(t.report_date, t.exam_date)",
            "mmi_date is after report_date (or exam_date)",
        ),
        RowRule(
            "exam_not_before_injury",
            "exam_date",
            "t.exam_date < j.injury_date",
            "exam_date is before the case's injury_date",
            join=("cases", "case_id", "case_id"),
        ),
        RowRule(
            "mmi_not_before_injury",
            "mmi_date",
            "t.mmi_date < j.injury_date",
            "mmi_date is before the case's injury_date",
            join=("cases", "case_id", "case_id"),
        ),
    ),
)

DECISIONS = Entity(
    name="decisions",
    key=("decision_id",),
    columns=(
        Column("decision_id", required=True),
        Column("case_id", required=True),
        Column("exam_id"),
        Column("decision_date", DATE, required=True),
        Column(
            "benefit",
            ENUM,
            values=("medical", "temporary_disability", "permanent_disability", "all", "other"),
        ),
        Column(
            "outcome",
            ENUM,
            values=("approved", "partially_denied", "denied", "terminated", "reduced"),
        ),
    ),
    references=(
        Reference("case_id", "cases", "case_id"),
        Reference("exam_id", "exams", "exam_id"),
    ),
)

TREATING_RATINGS = Entity(
    name="treating_ratings",
    key=("case_id", "rater_role", "rating_date"),
    columns=(
        Column("case_id", required=True),
        Column(
            "rater_role",
            ENUM,
            required=True,
            values=("treating", "claimant_expert", "agreed", "other"),
        ),
        Column("rating_date", DATE, required=True),
        Column("wpi_percent", NUMBER, low=0, high=100),
        Column("mmi_date", DATE),
    ),
    references=(Reference("case_id", "cases", "case_id"),),
)

RULINGS = Entity(
    name="rulings",
    key=("case_id", "exam_id", "ruling_date"),
    columns=(
        Column("case_id", required=True),
        Column("exam_id"),
        Column("ruling_date", DATE, required=True),
        Column(
            "outcome",
            ENUM,
            values=(
                "report_accepted",
                "report_rejected",
                "decision_upheld",
                "decision_reversed",
                "settled",
            ),
        ),
    ),
    references=(
        Reference("case_id", "cases", "case_id"),
        Reference("exam_id", "exams", "exam_id"),
    ),
)

DECISION_COUNTS = Entity(
    name="decision_counts",
    key=("maker_id", "group_name", "period"),
    columns=(
        Column("maker_id", required=True),
        Column("group_name"),
        Column("period"),
        Column("n_decisions", INT, required=True, low=0),
        Column("n_adverse", INT, required=True, low=0),
        Column("n_expected", NUMBER, low=0),
        # Extension: which published series a row comes from, so that series loaded into one
        # database are compared within themselves, never pooled.
        Column("source"),
    ),
    rules=(
        RowRule(
            "adverse_within_decisions",
            "n_adverse",
            "t.n_adverse > t.n_decisions",
            "n_adverse is greater than n_decisions",
        ),
    ),
)

# In load order: an entity's references point only to entities before it.
ENTITIES: dict[str, Entity] = {
    e.name: e
    for e in (EXAMINERS, CASES, EXAMS, DECISIONS, TREATING_RATINGS, RULINGS, DECISION_COUNTS)
}

# The column holding the claimant's identity: replaced by a keyed hash before anything is stored.
CLAIMANT_COLUMN = ("cases", "claimant_id")

# Direct identifiers of a claimant (docs/format.md) are recognised by etl.identifiers.

# ZIP and postal codes are cut to their first three characters (docs/format.md).
ZIP_PATTERN = r"(^|_)(zip|zip_?code|postal_?code|postcode)$"
