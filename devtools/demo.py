"""Synthetic demo data in the canonical format (SPEC section 1), with planted examiner patterns.

`generate` writes examiners, cases, exams, decisions, treating_ratings and rulings (CSV or
Parquet) and a `truth.csv` naming the pattern planted in each examiner. The analytics never
read truth.csv; it exists so that a person (or a test) can check that the dashboard's flags
tell the true story.

How the data are made
---------------------
Examiners and insurers are drawn first (small tables). Exams are then made in fixed-size
chunks, each chunk holding whole cases, and appended to the output files, so ten million exams
never sit in memory at once. Every chunk has its own random stream derived from the seed and
the chunk number, so the output is byte-identical for a given (seed, n_exams).

A case is opened by its primary examiner, whose own profile sets the case mix (body part,
jurisdiction, representation, age), so case mix differs by examiner. A few cases get a second
or third exam (an addendum by the same examiner, or a claimant/panel/agreed/board exam by a
peer of the same specialty), which gives agreement data.

Each exam's adverse opinion (SPEC section 2) is drawn from one true logistic model:

    logit P(adverse) = BASE_LOGIT + case-mix effects + case random effect
                       + examiner noise (sd 0.10) + planted examiner effect

The case-mix effects use only features the product's expected-count model sees (claim type,
jurisdiction, body part, injury nature, age, represented, year), so a correct adjusted method
recovers the planted effects and nothing else. The opinion components (causation, further
treatment, zero rating at MMI) are then chosen to agree with that draw.

A power grid (`PowerGrid`, for `ime validate`) replaces the default patterns by examiners
planted at chosen odds ratios and volumes, each acting on its measure's own outcome.
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from scipy.special import ndtr
from tqdm import tqdm

# ---------------------------------------------------------------------------------------------
# Calendar. Fixed dates, never today's, so a seed gives the same files on any day.
# ---------------------------------------------------------------------------------------------


def _day(iso: str) -> int:
    """Return the ISO date as days since 1970-01-01."""
    return int(np.datetime64(iso, "D").astype(np.int64))


REFERENCE_END = _day("2025-12-31")  # nothing in the data is later than this
ACTIVITY_START = _day("2016-06-01")  # earliest first exam of a case
ACTIVITY_END = _day("2025-03-31")  # latest first exam; leaves room for follow-ups and decisions
YEAR_CENTRE = _day("2020-07-01")

# Exams per chunk: bounds memory (about 1 GiB peak) and is part of the output's identity.
CHUNK_EXAMS = 500_000
ENTITIES = ("examiners", "cases", "exams", "decisions", "treating_ratings", "rulings")

# ---------------------------------------------------------------------------------------------
# Enumerations of the canonical format (SPEC section 1).
# ---------------------------------------------------------------------------------------------

SPECIALTIES = (
    "orthopedic_surgery", "neurology", "psychiatry", "psychology", "physiatry",
    "occupational_medicine", "chiropractic", "other",
)
CREDENTIALS = ("MD", "DO", "DC", "PhD", "PsyD", "other")
BODY_PARTS = (
    "spine", "upper_extremity", "lower_extremity", "head", "psychiatric", "multiple", "other",
)
NATURES = (
    "strain", "fracture", "contusion", "disc_herniation", "repetitive_strain", "concussion",
    "nerve_injury", "mental_stress", "crush", "other",
)
JURISDICTIONS = ("CA", "NY", "FL", "TX", "IL", "PA", "GA", "NJ", "ON", "BC", "VIC", "NSW")
CLAIM_TYPES = ("workers_comp", "auto", "disability", "personal_injury", "other")
SEXES = ("F", "M", "X", "U")
REQUESTERS = ("insurer", "employer", "claimant", "board", "panel", "agreed", "other")
EXAM_TYPES = ("ime", "qme", "ame", "record_review", "addendum", "other")
CAUSATIONS = ("related", "partially_related", "not_related", "undetermined")
MMI_STATUSES = ("reached", "not_reached", "undetermined")
WORK_CAPACITIES = ("full_duty", "restricted", "no_work", "undetermined")
TREATMENTS = ("recommended", "not_recommended", "undetermined")
BENEFITS = ("medical", "temporary_disability", "permanent_disability", "all", "other")
DECISION_OUTCOMES = ("approved", "partially_denied", "denied", "terminated", "reduced")
RATER_ROLES = ("treating", "claimant_expert", "agreed", "other")
RULING_OUTCOMES = (
    "report_accepted", "report_rejected", "decision_upheld", "decision_reversed", "settled",
)

# ---------------------------------------------------------------------------------------------
# Examiners: specialty, credential and the body parts each specialty sees.
# ---------------------------------------------------------------------------------------------

SPECIALTY_SHARE = (0.30, 0.10, 0.09, 0.07, 0.13, 0.15, 0.10, 0.06)
# Rows: specialty; columns: CREDENTIALS.
CREDENTIAL_BY_SPECIALTY = np.array([
    [0.90, 0.10, 0, 0, 0, 0],
    [0.85, 0.15, 0, 0, 0, 0],
    [0.85, 0.15, 0, 0, 0, 0],
    [0, 0, 0, 0.70, 0.30, 0],
    [0.75, 0.25, 0, 0, 0, 0],
    [0.70, 0.30, 0, 0, 0, 0],
    [0, 0, 1.00, 0, 0, 0],
    [0.45, 0.15, 0, 0, 0, 0.40],
])
# Rows: specialty; columns: BODY_PARTS. Psychiatrists see psychiatric claims, orthopods limbs.
BODY_BY_SPECIALTY = np.array([
    [0.35, 0.25, 0.25, 0.02, 0.00, 0.10, 0.03],
    [0.35, 0.08, 0.04, 0.35, 0.05, 0.10, 0.03],
    [0.00, 0.00, 0.00, 0.03, 0.92, 0.05, 0.00],
    [0.00, 0.00, 0.00, 0.05, 0.90, 0.05, 0.00],
    [0.40, 0.15, 0.15, 0.05, 0.02, 0.18, 0.05],
    [0.25, 0.22, 0.20, 0.05, 0.03, 0.15, 0.10],
    [0.70, 0.08, 0.05, 0.05, 0.00, 0.10, 0.02],
    [0.15, 0.15, 0.15, 0.10, 0.05, 0.15, 0.25],
])
# How tightly an examiner's body-part mix follows the specialty's (Dirichlet concentration).
BODY_MIX_CONCENTRATION = 40.0
# Hard-case-mix examiners: body-part weights multiplied by these (spine, psychiatric, multiple).
HARD_BODY_TILT = np.array([3.0, 0.3, 0.3, 1.0, 3.0, 2.5, 0.3])
HARD_CASE_SPECIALTIES = (0, 1, 4, 5, 6)  # where the body-part mix can actually get harder

SURNAMES = (
    "Novak", "Patel", "Nguyen", "Kim", "Garcia", "Okafor", "Schmidt", "Rossi", "Cohen",
    "Murphy", "Kowalski", "Singh", "Chen", "Haddad", "Larsen", "Moreau", "Tanaka", "Silva",
    "Brennan", "Ivanova", "Fischer", "Lopez", "Walsh", "Dubois", "Jensen", "Khan", "Reyes",
    "Bauer", "Costa", "Ahmed", "Sullivan", "Yamamoto", "Petrov", "Horvat", "Nakamura",
    "Oconnell", "Andersen", "Romero", "Weber", "Kaplan", "Mendes", "Park", "Wright", "Hughes",
    "Foster", "Gupta", "Morales", "Becker", "Lindqvist", "Ortiz", "Fraser", "Duarte", "Klein",
    "Abbott", "Baker", "Carter", "Dalton", "Ellis", "Fleming", "Grant", "Hayes", "Ingram",
    "Jordan", "Keller", "Lambert", "Mason", "Nolan", "Owens", "Pearce", "Quinn", "Russo",
    "Shaw", "Turner", "Underwood", "Vance", "Warren", "Young", "Zimmerman", "Acosta", "Bishop",
    "Castillo", "Doyle", "Estrada", "Farrell", "Gallo", "Hoffman", "Iqbal", "Jovanovic",
    "Kelly", "Lindgren", "Marsh", "Nielsen", "Osei", "Pham", "Rahman", "Sato", "Tran",
    "Ueda", "Vargas", "Wagner", "Xu", "Yilmaz", "Zhou", "Adler", "Barros", "Conti", "Diaz",
    "Eriksen", "Ferreira", "Gomez", "Hansen", "Ito", "Jung", "Kovac", "Lund", "Meyer",
    "Navarro", "Olsen", "Perez", "Ramos", "Sharma", "Thompson", "Usman", "Vidal", "Wolf",
    "Yoon", "Zeller", "Aguilar", "Berg", "Cruz", "Dunn", "Engel", "Flores", "Greco",
    "Holm", "Ibrahim", "Jaeger", "Kruger", "Leone", "Molina", "Nash", "Ota", "Pereira",
    "Richter", "Santos", "Takahashi", "Ulrich", "Valdez", "Webb", "Yates", "Zamora", "Alvarez",
    "Brooks", "Chandra", "Delgado", "Evans", "Fuentes", "Gill", "Hart", "Islam", "Joshi",
)
INSURER_STEMS = (
    "Northbridge", "Keystone", "Summit", "Harbor", "Pinecrest", "Granite", "Lakeshore",
    "Meridian", "Bluewater", "Redwood", "Ironwood", "Silverline", "Crescent", "Frontier",
    "Heritage", "Liberty Bay", "Oakmont", "Prairie", "Sentinel", "Tidewater", "Union Point",
    "Westfield", "Cedar Ridge", "Evergreen", "Highland",
)
INSURER_KINDS = (
    "Mutual Insurance", "Casualty Co.", "Indemnity", "Assurance", "Claims Services (TPA)",
    "Self-Insured Group", "Compensation Fund", "General Insurance",
)

# ---------------------------------------------------------------------------------------------
# Jurisdictions: market share, representation, requester mix, rating guides.
# ---------------------------------------------------------------------------------------------

JURISDICTION_SHARE = (0.22, 0.12, 0.10, 0.10, 0.06, 0.07, 0.05, 0.05, 0.10, 0.04, 0.06, 0.03)
JURISDICTION_REGION = np.array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 2])  # US, Canada, Australia
JURISDICTION_REPRESENTED = np.array(
    [0.60, 0.50, 0.55, 0.30, 0.45, 0.40, 0.45, 0.50, 0.60, 0.45, 0.40, 0.45]
)
# Share of first exams retained by someone other than the insurer or employer.
JURISDICTION_OTHER_SIDE = np.array(
    [0.45, 0.20, 0.20, 0.35, 0.15, 0.15, 0.15, 0.15, 0.20, 0.15, 0.25, 0.25]
)
# Rows: jurisdiction; columns: claimant, board, panel, agreed, other. California's panel QMEs,
# Texas's designated doctors, Victoria's medical panels.
OTHER_SIDE_MIX = np.array([
    [0.25, 0.00, 0.55, 0.18, 0.02],
    [0.85, 0.12, 0.00, 0.00, 0.03],
    [0.70, 0.25, 0.00, 0.00, 0.05],
    [0.15, 0.80, 0.00, 0.02, 0.03],
    [0.80, 0.10, 0.00, 0.07, 0.03],
    [0.80, 0.10, 0.00, 0.07, 0.03],
    [0.80, 0.10, 0.00, 0.07, 0.03],
    [0.80, 0.10, 0.00, 0.07, 0.03],
    [0.80, 0.05, 0.00, 0.12, 0.03],
    [0.75, 0.10, 0.00, 0.12, 0.03],
    [0.45, 0.00, 0.45, 0.07, 0.03],
    [0.50, 0.10, 0.30, 0.07, 0.03],
])
# Rows: region; columns: CLAIM_TYPES. Ontario and Australia have large auto-injury schemes.
CLAIM_BY_REGION = np.array([
    [0.72, 0.10, 0.08, 0.08, 0.02],
    [0.25, 0.55, 0.12, 0.06, 0.02],
    [0.55, 0.30, 0.05, 0.08, 0.02],
])
JURISDICTION_GUIDES = (
    "AMA5", "NYS2012", "AMA5", "AMA4", "AMA6", "AMA6", "AMA5", "AMA6", "AMA4", "AMA5", "AMA4",
    "AMA5",
)
GUIDES_EDITIONS = ("AMA4", "AMA5", "AMA6", "NYS2012")
OFF_GUIDES_SHARE = 0.08  # ratings made under another edition than the jurisdiction's usual one

# ---------------------------------------------------------------------------------------------
# The true outcome model (logit scale) and clinical timing.
# ---------------------------------------------------------------------------------------------

BASE_LOGIT = -1.6
BODY_EFFECT = np.array([0.40, 0.0, 0.0, 0.10, 0.60, 0.30, -0.20])
NATURE_EFFECT = np.array([0.25, -0.40, 0.10, 0.20, 0.15, 0.10, 0.0, 0.10, -0.30, 0.0])
JURISDICTION_EFFECT = np.array(
    [0.0, 0.10, 0.30, 0.35, 0.0, 0.15, 0.25, 0.05, -0.10, -0.15, 0.10, 0.0]
)
CLAIM_EFFECT = np.array([0.0, 0.20, 0.35, 0.25, 0.0])
REPRESENTED_EFFECT = 0.45
AGE_EFFECT = 0.025  # per year of age over AGE_CENTRE
AGE_CENTRE = 44.0
YEAR_EFFECT = 0.03  # per year of exam date: a slow market-wide trend, not drift
CASE_EFFECT_SD = 0.8  # unmeasured severity shared by all exams of a case (gives agreement)
EXAMINER_NOISE_SD = 0.10  # small real variation among fair examiners

# Rows: body part; columns: NATURES.
NATURE_BY_BODY = np.array([
    [0.45, 0.05, 0.05, 0.30, 0.00, 0.00, 0.10, 0.00, 0.00, 0.05],
    [0.30, 0.20, 0.12, 0.00, 0.25, 0.00, 0.06, 0.00, 0.04, 0.03],
    [0.35, 0.25, 0.15, 0.00, 0.08, 0.00, 0.05, 0.00, 0.07, 0.05],
    [0.05, 0.10, 0.20, 0.00, 0.00, 0.55, 0.05, 0.00, 0.00, 0.05],
    [0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.95, 0.00, 0.05],
    [0.35, 0.20, 0.20, 0.05, 0.05, 0.05, 0.03, 0.02, 0.03, 0.02],
    [0.30, 0.10, 0.20, 0.00, 0.10, 0.00, 0.05, 0.00, 0.05, 0.20],
])
MMI_MEDIAN_DAYS = np.array([330.0, 240.0, 270.0, 300.0, 420.0, 400.0, 200.0])
NATURE_MMI_FACTOR = np.array([0.7, 1.2, 0.6, 1.2, 1.0, 0.9, 1.3, 1.0, 1.4, 1.0])
WPI_MEDIAN = np.array([9.0, 6.0, 6.0, 8.0, 10.0, 14.0, 4.0])
EXAM_LAG_MEDIAN_DAYS = 270.0  # injury to first exam
FAIR_WPI_FACTOR = 0.90  # IME examiners rate a little below the case's true impairment
BIASED_WPI_FACTOR = 0.65
TREATING_WPI_FACTOR = 1.30  # treating physicians rate above it

# Opinion components of an adverse exam (SPEC 2: not_related, or not_recommended, or MMI + 0%).
P_NOT_RELATED = 0.45
P_NO_TREATMENT = 0.55
P_NO_TREATMENT_IF_UNRELATED = 0.80
ZERO_ROUTE_LOGIT = 0.0  # logit of rating 0% at MMI as the adverse route, when one is rated

# ---------------------------------------------------------------------------------------------
# Planted patterns (written to truth.csv).
# ---------------------------------------------------------------------------------------------

PATTERNS = (
    "excess_adverse", "allegiance", "drift", "hard_case_mix", "zero_impairment", "early_mmi",
)
PLANTED_SHARE = 0.04  # of examiners, per pattern
PLANTED_MIN_VOLUME = 80  # expected exams; the brief asks >= 60, this leaves a margin
EXCESS_EFFECT_RANGE = (1.2, 1.5)
ALLEGIANCE_EFFECT = 1.5
ALLEGIANCE_OTHER_SIDE = 0.45  # a real mix of insurer-side and neutral retention
DRIFT_EFFECT = 1.5
ZERO_ROUTE_EFFECT = 3.0
EARLY_MMI_FACTOR = 0.5
MMI_CASE_SD = 0.6  # log-scale spread of a case's time to MMI around its body part and nature
MMI_VIEW_SD = 0.25  # log-scale spread of an examiner's view of the time to MMI, exam to exam

# The patterns a power grid can plant: those a measure should find (measures.registry's
# planted_by), each as an odds ratio on that measure's own outcome.
POWER_PATTERNS = ("excess_adverse", "allegiance", "drift", "zero_impairment", "early_mmi")


@dataclass(frozen=True)
class PowerGrid:
    """Examiners planted for a power study (`ime validate`) instead of the default patterns.

    For each pattern, `per_cell` examiners in every (odds ratio, volume) cell; every other
    examiner is fair. The odds ratio acts on the outcome the pattern's measure counts, given
    the case: excess_adverse on every adverse opinion; allegiance on adverse opinions when
    retained by an insurer or employer; drift on adverse opinions after the change date;
    zero_impairment on a 0% rating among rated exams at MMI; early_mmi on declaring MMI at
    the exam, given the body part, injury nature and time since injury. The volume is the
    examiner's expected number of exams.
    """

    odds_ratios: tuple[float, ...] = (1.5, 2.0, 3.0, 4.0)
    volumes: tuple[int, ...] = (50, 150, 500)
    per_cell: int = 1
    patterns: tuple[str, ...] = POWER_PATTERNS

    def __post_init__(self) -> None:
        unknown = set(self.patterns) - set(POWER_PATTERNS)
        if unknown:
            raise ValueError(
                f"power grid patterns must be among {', '.join(POWER_PATTERNS)}; got "
                f"{sorted(unknown)}"
            )
        if min(self.odds_ratios, default=0) <= 0 or min(self.volumes, default=0) < 1:
            raise ValueError("power grid odds ratios must be positive and volumes at least 1")
        if self.per_cell < 1:
            raise ValueError(f"per_cell must be at least 1, got {self.per_cell}")

    def cells(self) -> list[tuple[str, float, int]]:
        """(pattern, odds ratio, volume) of every planted examiner, in a fixed order."""
        return [
            (pattern, odds_ratio, volume)
            for pattern in self.patterns
            for odds_ratio in self.odds_ratios
            for volume in self.volumes
            for _ in range(self.per_cell)
        ]

    def exams(self) -> int:
        """The exams the planted examiners are expected to hold, together."""
        return sum(volume for _, _, volume in self.cells())


@dataclass(frozen=True)
class DemoSummary:
    """What `generate` wrote: paths, row counts, deliberately broken rows, and time taken."""

    out_dir: Path
    fmt: str
    seed: int
    n_exams: int
    paths: dict[str, Path]
    rows: dict[str, int]
    dirty_rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class _Examiners:
    """Examiner attributes, one array element per examiner (index = EX number - 1)."""

    ids: np.ndarray
    names: np.ndarray
    specialty: np.ndarray
    credential: np.ndarray
    home: np.ndarray
    board_certified: np.ndarray
    weight: np.ndarray  # share of first exams
    start: np.ndarray  # activity window, days
    end: np.ndarray
    body_cum: np.ndarray  # cumulative body-part probabilities (n x 7)
    represented_tilt: np.ndarray  # logit shift
    age_shift: np.ndarray  # years
    other_side_logit: np.ndarray  # logit of a non-insurer-side retention, added to jurisdiction's
    preferred_insurer: np.ndarray
    preferred_share: np.ndarray
    noise: np.ndarray
    pattern: np.ndarray  # index into ("fair",) + PATTERNS
    effect: np.ndarray  # planted effect written to truth.csv
    change_day: np.ndarray  # drift date, days (0 when none)
    mmi_factor: np.ndarray
    peers: list[tuple[np.ndarray, np.ndarray]]  # per specialty: (examiner indices, cum weights)
    # A power grid's planted odds ratio and expected volume (NaN and 0 when none); `grid`
    # says the odds ratios act on each measure's own outcome (PowerGrid).
    odds_ratio: np.ndarray | None = None
    volume: np.ndarray | None = None
    grid: bool = False


@dataclass
class _Insurers:
    """Insurer ids, names and market shares."""

    ids: np.ndarray
    names: np.ndarray
    cum_share: np.ndarray


@dataclass
class _Tables:
    """One chunk's output tables and the count of broken rows in each."""

    tables: dict[str, pa.Table]
    dirty: dict[str, int]


# ---------------------------------------------------------------------------------------------
# Small vectorised helpers.
# ---------------------------------------------------------------------------------------------


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """Return the logistic function of x."""
    return 1.0 / (1.0 + np.exp(-x))


def _cum(probs: np.ndarray) -> np.ndarray:
    """Return row-normalised cumulative probabilities, last column exactly 1."""
    p = np.asarray(probs, dtype=float)
    c = np.cumsum(p / p.sum(axis=-1, keepdims=True), axis=-1)
    c[..., -1] = 1.0
    return c


def _draw(rng: np.random.Generator, cum: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Draw one category per element; rows[i] picks the row of cumulative probabilities."""
    u = rng.random(len(rows))
    return (u[:, None] >= cum[rows]).sum(axis=1).astype(np.int16)


def _draw_fixed(rng: np.random.Generator, probs, n: int) -> np.ndarray:
    """Draw n categories from one probability vector."""
    return np.searchsorted(_cum(np.asarray(probs)), rng.random(n), side="right").astype(np.int16)


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """Return ids like E00000001 as an Arrow string array, built in C++ for speed."""
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers), pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(prefix, digits, "")


def _labels(labels: tuple[str, ...], codes: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    """Return category labels for integer codes (code len(labels) is the planted bad value)."""
    return pa.array(labels).take(pa.array(codes, mask=null))


def _dates(days: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    """Return a date32 array from days since the epoch."""
    return pa.array(days.astype(np.int32), type=pa.date32(), mask=null)


# ---------------------------------------------------------------------------------------------
# Examiners and insurers.
# ---------------------------------------------------------------------------------------------


def _examiner_count(n_exams: int) -> int:
    """Return the number of examiners for a data set of n_exams exams."""
    return int(np.clip(n_exams // 250, 60, 4000))


def _insurer_count(n_exams: int) -> int:
    """Return the number of insurers for a data set of n_exams exams."""
    return int(np.clip(round(2 * n_exams**0.25), 20, 60))


def _make_insurers(rng: np.random.Generator, n_exams: int) -> _Insurers:
    """Draw insurers with skewed (lognormal) market shares and fake business names."""
    n = _insurer_count(n_exams)
    combos = [f"{s} {k}" for s in INSURER_STEMS for k in INSURER_KINDS]
    names = np.array(combos, dtype=object)[rng.choice(len(combos), size=n, replace=False)]
    share = rng.lognormal(0.0, 1.2, n)
    ids = np.array([f"INS{i + 1:03d}" for i in range(n)], dtype=object)
    return _Insurers(ids=ids, names=names, cum_share=_cum(share))


def _examiner_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """Return n distinct fake professional names like 'Dr. A. Novak'."""
    initials = [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    combos = [f"Dr. {i}. {s}" for s in SURNAMES for i in initials]
    if n > len(combos):  # more examiners than combinations: add a second initial
        combos = [f"Dr. {i}. {j}. {s}" for s in SURNAMES for i in initials for j in initials]
    return np.array(combos, dtype=object)[rng.choice(len(combos), size=n, replace=False)]


def _assign_patterns(rng: np.random.Generator, specialty: np.ndarray,
                     expected: np.ndarray) -> np.ndarray:
    """Return a pattern index per examiner (0 = fair), only among examiners with enough volume."""
    n = len(specialty)
    pattern = np.zeros(n, dtype=np.int8)
    eligible = np.flatnonzero(expected >= PLANTED_MIN_VOLUME)
    per_pattern = max(2, round(PLANTED_SHARE * n))
    per_pattern = min(per_pattern, len(eligible) // (2 * len(PATTERNS)))
    # Hard case mix first: it needs specialties whose case mix can get harder.
    order = [PATTERNS.index("hard_case_mix")] + [
        i for i in range(len(PATTERNS)) if PATTERNS[i] != "hard_case_mix"
    ]
    for k in order:
        free = eligible[pattern[eligible] == 0]
        if PATTERNS[k] == "hard_case_mix":
            free = free[np.isin(specialty[free], HARD_CASE_SPECIALTIES)]
        chosen = rng.choice(free, size=min(per_pattern, len(free)), replace=False)
        pattern[chosen] = k + 1
    return pattern


def _assign_grid(rng: np.random.Generator, n: int,
                 grid: PowerGrid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return pattern index, odds ratio and volume per examiner: the grid's cells at random
    places among n examiners, every other examiner fair (odds ratio NaN, volume 0)."""
    cells = grid.cells()
    pattern = np.zeros(n, dtype=np.int8)
    odds_ratio = np.full(n, np.nan)
    volume = np.zeros(n, dtype=np.int64)
    rows = rng.choice(n, size=len(cells), replace=False)
    pattern[rows] = [PATTERNS.index(name) + 1 for name, _, _ in cells]
    odds_ratio[rows] = [o for _, o, _ in cells]
    volume[rows] = [v for _, _, v in cells]
    return pattern, odds_ratio, volume


def _make_examiners(rng: np.random.Generator, n_exams: int, n_insurers: int,
                    grid: PowerGrid | None = None) -> _Examiners:
    """Draw examiners: specialty, credentials, volume, case-mix profile and planted pattern.

    With a power grid, its planted examiners come on top of the usual number, each with the
    weight that gives its cell's volume; the other examiners share the remaining exams.
    """
    n = _examiner_count(n_exams) + (len(grid.cells()) if grid else 0)
    specialty = _draw_fixed(rng, SPECIALTY_SHARE, n)
    credential = _draw(rng, _cum(CREDENTIAL_BY_SPECIALTY), specialty)
    names = _examiner_names(rng, n)
    home = _draw_fixed(rng, JURISDICTION_SHARE, n)
    board = rng.random(n) < np.where(specialty == SPECIALTIES.index("chiropractic"), 0.35, 0.80)
    # Skewed volumes: a lognormal with sd 1 gives a few examiners many times the median.
    weight = rng.lognormal(0.0, 1.0, n)
    weight /= weight.sum()
    span = ACTIVITY_END - ACTIVITY_START
    duration = rng.uniform(0.35, 1.0, n) * span
    start = ACTIVITY_START + rng.random(n) * (span - duration)
    end = start + duration
    body = np.array([rng.dirichlet(BODY_MIX_CONCENTRATION * BODY_BY_SPECIALTY[s] + 0.01)
                     for s in specialty])
    represented_tilt = rng.normal(0.0, 0.5, n)
    age_shift = rng.normal(0.0, 3.0, n)
    other_side_logit = rng.normal(0.0, 0.7, n)
    preferred_insurer = rng.integers(0, n_insurers, n)
    preferred_share = rng.beta(2.0, 3.0, n)
    noise = rng.normal(0.0, EXAMINER_NOISE_SD, n)
    mmi_factor = rng.lognormal(0.0, 0.08, n)

    effect = np.zeros(n)
    change_day = np.zeros(n, dtype=np.int64)
    if grid is None:
        # Exams an examiner can expect: first exams plus follow-ups by peers (about 10% more).
        pattern = _assign_patterns(rng, specialty, weight * n_exams * 0.95)
        odds_ratio, volume = np.full(n, np.nan), np.zeros(n, dtype=np.int64)
        name_of = np.array(("fair",) + PATTERNS)[pattern]
        is_excess = name_of == "excess_adverse"
        effect[is_excess] = np.round(rng.uniform(*EXCESS_EFFECT_RANGE, is_excess.sum()), 2)
        effect[name_of == "allegiance"] = ALLEGIANCE_EFFECT
        effect[name_of == "drift"] = DRIFT_EFFECT
        effect[name_of == "zero_impairment"] = ZERO_ROUTE_EFFECT
        is_early = name_of == "early_mmi"
        effect[is_early] = round(math.log(EARLY_MMI_FACTOR), 3)
        mmi_factor[is_early] = EARLY_MMI_FACTOR
    else:
        planted_share = grid.exams() / n_exams
        if planted_share > 0.5:
            raise ValueError(
                f"the power grid plants {grid.exams():,} exams, more than half of n_exams "
                f"({n_exams:,}): raise n_exams or plant fewer cells"
            )
        pattern, odds_ratio, volume = _assign_grid(rng, n, grid)
        name_of = np.array(("fair",) + PATTERNS)[pattern]
        # Each exam's examiner is drawn by weight (first exams, addenda and peers' follow-ups
        # alike), so a weight of volume / n_exams gives about `volume` exams.
        planted = pattern > 0
        weight[~planted] *= (1 - planted_share) / weight[~planted].sum()
        weight[planted] = volume[planted] / n_exams
        effect[planted] = np.log(odds_ratio[planted])
        # The early-MMI odds act on the declaration itself (_add_opinions), not on the time.
        mmi_factor[name_of == "early_mmi"] = 1.0
    is_drift = name_of == "drift"
    change_day[is_drift] = np.round((start[is_drift] + end[is_drift]) / 2)
    is_hard = name_of == "hard_case_mix"
    body[is_hard] = body[is_hard] * HARD_BODY_TILT
    body /= body.sum(axis=1, keepdims=True)
    represented_tilt[is_hard] = 2.0
    age_shift[is_hard] = 10.0
    # Biased examiners are disproportionately retained by their favourite insurer.
    biased = np.isin(name_of, ("excess_adverse", "allegiance", "drift"))
    preferred_share[biased] = rng.beta(5.0, 3.0, biased.sum())
    # Examiners with planted effects get no extra noise: truth.csv states their full effect.
    noise[pattern > 0] = 0.0

    peers = []
    for s in range(len(SPECIALTIES)):
        members = np.flatnonzero(specialty == s)
        peers.append((members, _cum(weight[members]) if len(members) else np.array([1.0])))
    return _Examiners(
        ids=np.array([f"EX{i + 1:04d}" for i in range(n)], dtype=object), names=names,
        specialty=specialty, credential=credential, home=home, board_certified=board,
        weight=weight, start=start, end=end, body_cum=_cum(body),
        represented_tilt=represented_tilt, age_shift=age_shift,
        other_side_logit=other_side_logit, preferred_insurer=preferred_insurer,
        preferred_share=preferred_share, noise=noise, pattern=pattern, effect=effect,
        change_day=change_day, mmi_factor=mmi_factor, peers=peers,
        odds_ratio=odds_ratio, volume=volume, grid=grid is not None,
    )


def _examiners_table(ex: _Examiners, rng: np.random.Generator,
                     dirty_rate: float) -> tuple[pa.Table, int]:
    """Return the examiners table; a few fair examiners get an unreadable board_certified."""
    board = pa.array(np.where(ex.board_certified, "true", "false"))
    bad = (rng.random(len(ex.ids)) < dirty_rate) & (ex.pattern == 0)
    if bad.any():
        board = pc.replace_with_mask(board, pa.array(bad), pa.array(["maybe"] * int(bad.sum())))
    table = pa.table({
        "examiner_id": pa.array(ex.ids, pa.string()),
        "examiner_name": pa.array(ex.names, pa.string()),
        "specialty": _labels(SPECIALTIES, ex.specialty),
        "credential": _labels(CREDENTIALS, ex.credential),
        "license_state": _labels(JURISDICTIONS, ex.home),
        "board_certified": board,
    })
    return table, int(bad.sum())


# ---------------------------------------------------------------------------------------------
# Cases and exams of one chunk.
# ---------------------------------------------------------------------------------------------


def _exams_per_case(rng: np.random.Generator, n_exams: int) -> np.ndarray:
    """Return exams per case (mostly 1, some 2-3) summing exactly to n_exams."""
    k = _draw_fixed(rng, (0.86, 0.11, 0.03), n_exams).astype(np.int64) + 1
    total = np.cumsum(k)
    n_cases = int(np.searchsorted(total, n_exams)) + 1
    k = k[:n_cases]
    k[-1] -= total[n_cases - 1] - n_exams
    return k


def _make_cases(rng: np.random.Generator, ex: _Examiners, ins: _Insurers,
                n_cases: int) -> dict[str, np.ndarray]:
    """Draw cases; the primary examiner's profile sets the case mix."""
    e0 = np.searchsorted(np.cumsum(ex.weight), rng.random(n_cases) * ex.weight.sum())
    e0 = np.minimum(e0, len(ex.weight) - 1)
    body = _draw(rng, ex.body_cum, e0)
    nature = _draw(rng, _cum(NATURE_BY_BODY), body)
    # Examiners work mostly in their home jurisdiction, otherwise elsewhere in the same country.
    home = ex.home[e0]
    away = _draw_fixed(rng, JURISDICTION_SHARE, n_cases)
    same_region = JURISDICTION_REGION[away] == JURISDICTION_REGION[home]
    jur = np.where((rng.random(n_cases) < 0.88) | ~same_region, home, away).astype(np.int16)
    claim = _draw(rng, _cum(CLAIM_BY_REGION), JURISDICTION_REGION[jur])
    p_rep = _sigmoid(np.log(JURISDICTION_REPRESENTED[jur] / (1 - JURISDICTION_REPRESENTED[jur]))
                     + ex.represented_tilt[e0])
    represented = rng.random(n_cases) < p_rep
    age = np.clip(rng.normal(AGE_CENTRE + ex.age_shift[e0], 11.0), 18, 80)
    p_female = np.where(body == BODY_PARTS.index("psychiatric"), 0.60, 0.40)
    u = rng.random(n_cases)
    sex = np.select([u < p_female, u < p_female + 0.005, u < p_female + 0.02], [0, 2, 3], 1)
    # Insurer: the examiner's favourite with its preference share, else by market share.
    market = np.searchsorted(ins.cum_share, rng.random(n_cases), side="right")
    insurer = np.where(rng.random(n_cases) < ex.preferred_share[e0],
                       ex.preferred_insurer[e0], market)
    first_exam = np.round(ex.start[e0] + rng.random(n_cases) * (ex.end[e0] - ex.start[e0]))
    lag = np.clip(rng.lognormal(np.log(EXAM_LAG_MEDIAN_DAYS), 0.7, n_cases), 21, 2500)
    injury = (first_exam - np.round(lag)).astype(np.int64)
    injury_year = (injury.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64)
                   + 1970)
    birth_year = injury_year - np.floor(age).astype(np.int64) - (rng.random(n_cases) < 0.5)
    mmi_days = (MMI_MEDIAN_DAYS[body] * NATURE_MMI_FACTOR[nature]
                * rng.lognormal(0.0, MMI_CASE_SD, n_cases))
    return {
        "e0": e0, "body": body, "nature": nature, "jur": jur, "claim": claim,
        "represented": represented, "age": age, "sex": sex.astype(np.int16),
        "insurer": insurer, "first_exam": first_exam.astype(np.int64), "injury": injury,
        "injury_year": injury_year, "birth_year": birth_year,
        "birth_year_null": rng.random(n_cases) < 0.03,
        "mmi_days": mmi_days, "true_wpi": WPI_MEDIAN[body] * rng.lognormal(0.0, 0.8, n_cases),
        "case_effect": rng.normal(0.0, CASE_EFFECT_SD, n_cases),
    }


def _peer_of(rng: np.random.Generator, ex: _Examiners, e0: np.ndarray) -> np.ndarray:
    """Return, for each primary examiner, a volume-weighted examiner of the same specialty."""
    out = np.empty(len(e0), dtype=np.int64)
    spec = ex.specialty[e0]
    u = rng.random(len(e0))
    for s, (members, cum) in enumerate(ex.peers):
        rows = spec == s
        if rows.any():
            out[rows] = members[np.minimum(np.searchsorted(cum, u[rows], side="right"),
                                           len(members) - 1)]
    return out


def _make_exam_frame(rng: np.random.Generator, ex: _Examiners, cases: dict[str, np.ndarray],
                     per_case: np.ndarray) -> dict[str, np.ndarray]:
    """Lay out exams: examiner, requester, exam type and dates (opinions come later)."""
    n = int(per_case.sum())
    case = np.repeat(np.arange(len(per_case)), per_case)
    pos = np.arange(n) - np.repeat(np.cumsum(per_case) - per_case, per_case)
    first = pos == 0
    e0 = cases["e0"][case]
    jur = cases["jur"][case]
    # Follow-ups: an addendum by the same examiner, or a peer retained by the other side.
    addendum = ~first & (rng.random(n) < 0.30)
    peer = _peer_of(rng, ex, e0)
    examiner = np.where(first | addendum, e0, peer)

    p_other = _sigmoid(np.log(JURISDICTION_OTHER_SIDE[jur] / (1 - JURISDICTION_OTHER_SIDE[jur]))
                       + ex.other_side_logit[e0])
    allegiant = ex.pattern[e0] == PATTERNS.index("allegiance") + 1
    p_other = np.where(allegiant, ALLEGIANCE_OTHER_SIDE, p_other)
    other_side = ~first | (rng.random(n) < p_other)
    other_kind = _draw(rng, _cum(OTHER_SIDE_MIX), jur) + 2  # claimant .. other
    insurer_kind = (rng.random(n) < 0.12).astype(np.int16)  # employer vs insurer
    requester = np.where(other_side, other_kind, insurer_kind).astype(np.int16)
    first_requester = requester[np.flatnonzero(first)][case]
    requester = np.where(addendum, first_requester, requester).astype(np.int16)
    exam_type = _exam_type(rng, requester)
    exam_type[addendum] = EXAM_TYPES.index("addendum")

    gap = rng.uniform(30, 150, n)
    exam_day = cases["first_exam"][case] + np.round(pos * gap).astype(np.int64)
    # Late follow-ups are pulled back so that the report still falls before the end date.
    exam_day = np.minimum(exam_day, REFERENCE_END - 61)
    injury = cases["injury"][case]
    referral_lag = np.minimum(np.round(rng.uniform(7, 90, n)), exam_day - injury)
    referral = exam_day - referral_lag.astype(np.int64)
    referral_null = addendum | (rng.random(n) < 0.05)
    report = exam_day + np.minimum(np.round(rng.gamma(2.0, 8.0, n)), 60).astype(np.int64)
    report_null = rng.random(n) < 0.03
    return {
        "case": case, "pos": pos, "examiner": examiner, "requester": requester,
        "exam_type": exam_type, "exam_day": exam_day, "referral": referral,
        "referral_null": referral_null, "report": report, "report_null": report_null,
    }


def _exam_type(rng: np.random.Generator, requester: np.ndarray) -> np.ndarray:
    """Draw the exam type from who requested it (panel -> qme, agreed -> ame)."""
    # Rows: REQUESTERS; columns: EXAM_TYPES (addendum is set separately).
    by_requester = np.array([
        [0.88, 0, 0, 0.10, 0, 0.02],
        [0.88, 0, 0, 0.10, 0, 0.02],
        [0.85, 0, 0, 0.13, 0, 0.02],
        [0.85, 0, 0, 0.15, 0, 0.00],
        [0.00, 0.90, 0, 0.10, 0, 0.00],
        [0.00, 0, 0.90, 0.10, 0, 0.00],
        [0.70, 0, 0, 0.20, 0, 0.10],
    ])
    return _draw(rng, _cum(by_requester), requester)


def _planted_effect(ex: _Examiners, examiner: np.ndarray, requester: np.ndarray,
                    exam_day: np.ndarray) -> np.ndarray:
    """Return the planted logit effect on the adverse opinion of each exam."""
    pattern = ex.pattern[examiner]
    effect = ex.effect[examiner]
    insurer_side = requester <= REQUESTERS.index("employer")
    out = np.zeros(len(examiner))
    out = np.where(pattern == PATTERNS.index("excess_adverse") + 1, effect, out)
    out = np.where((pattern == PATTERNS.index("allegiance") + 1) & insurer_side, effect, out)
    after = exam_day >= ex.change_day[examiner]
    out = np.where((pattern == PATTERNS.index("drift") + 1) & after, effect, out)
    return out


def _odds_times(p: np.ndarray, odds_ratio: np.ndarray) -> np.ndarray:
    """Return the probabilities p with their odds multiplied by odds_ratio."""
    return odds_ratio * p / (1 - p + odds_ratio * p)


def _grid_early_mmi(rng: np.random.Generator, ex: _Examiners, examiner: np.ndarray,
                    elapsed: np.ndarray, median_days: np.ndarray,
                    reached: np.ndarray) -> np.ndarray:
    """Power grid: early-MMI examiners declare MMI with the odds a fair examiner would have
    for a case of this body part and injury nature this long after the injury, times their
    planted odds ratio.

    The fair probability is taken over the case's own unseen time to MMI (lognormal around
    the median of its body part and nature) and the examiner's view of it: given that unseen
    time the declaration is all but certain either way, and an odds ratio would change little.
    """
    early = ex.pattern[examiner] == PATTERNS.index("early_mmi") + 1
    spread = math.hypot(MMI_CASE_SD, MMI_VIEW_SD)
    fair = ndtr((np.log(np.maximum(elapsed, 1)) - np.log(median_days)) / spread)
    u = rng.random(len(examiner))
    planted = u < _odds_times(fair, np.where(early, ex.odds_ratio[examiner], 1.0))
    return np.where(early, planted, reached)


def _grid_zero_ratings(rng: np.random.Generator, ex: _Examiners, examiner: np.ndarray,
                       eta: np.ndarray, rated_at_mmi: np.ndarray,
                       adverse: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Power grid: zero-impairment examiners rate 0% (among exams rated at MMI) with the odds a
    fair examiner would have for the case times their planted odds ratio.

    Returns the adverse opinions and, where such an examiner rates at MMI, the 0% ratings
    (else None). A 0% rating at MMI is an adverse opinion, so the other adverse opinions of
    those exams are drawn to keep the adverse rate the case's, as far as the zeros allow.
    """
    target = rated_at_mmi & (ex.pattern[examiner] == PATTERNS.index("zero_impairment") + 1)
    u, v = rng.random(len(examiner)), rng.random(len(examiner))
    if not target.any():
        return adverse, None
    p_adverse = _sigmoid(eta)
    p_zero = _odds_times(p_adverse * _sigmoid(ZERO_ROUTE_LOGIT),
                         np.where(target, ex.odds_ratio[examiner], 1.0))
    zero = target & (u < p_zero)
    other_adverse = v < np.clip((p_adverse - p_zero) / (1 - p_zero), 0, 1)
    return np.where(target, zero | other_adverse, adverse), zero


def _add_opinions(rng: np.random.Generator, ex: _Examiners, cases: dict[str, np.ndarray],
                  exams: dict[str, np.ndarray],
                  grid_rng: np.random.Generator | None = None) -> None:
    """Draw MMI, the adverse opinion and its components, WPI and work capacity, in place.

    With a power grid (`grid_rng`, its own random stream), zero-impairment and early-MMI
    examiners are drawn by their planted odds ratios (_grid_zero_ratings, _grid_early_mmi).
    """
    case, examiner = exams["case"], exams["examiner"]
    n = len(case)
    body = cases["body"][case]
    exam_day, injury = exams["exam_day"], cases["injury"][case]
    planted = _planted_effect(ex, examiner, exams["requester"], exam_day)
    eta = (BASE_LOGIT + BODY_EFFECT[body] + NATURE_EFFECT[cases["nature"][case]]
           + JURISDICTION_EFFECT[cases["jur"][case]] + CLAIM_EFFECT[cases["claim"][case]]
           + REPRESENTED_EFFECT * cases["represented"][case]
           + AGE_EFFECT * (cases["age"][case] - AGE_CENTRE)
           + YEAR_EFFECT * (exam_day - YEAR_CENTRE) / 365.25
           + cases["case_effect"][case] + ex.noise[examiner] + planted)
    adverse = rng.random(n) < _sigmoid(eta)

    # MMI: reached when the time since injury exceeds the examiner's view of time to MMI;
    # otherwise the exam is a censored observation at exam_date.
    mmi_view = (cases["mmi_days"][case] * ex.mmi_factor[examiner]
                * rng.lognormal(0, MMI_VIEW_SD, n))
    reached = (exam_day - injury) >= mmi_view
    if grid_rng is not None:
        median_days = MMI_MEDIAN_DAYS[body] * NATURE_MMI_FACTOR[cases["nature"][case]]
        reached = _grid_early_mmi(grid_rng, ex, examiner, exam_day - injury, median_days,
                                  reached)
    undetermined = rng.random(n) < 0.05
    mmi_status = np.where(undetermined, 2, np.where(reached, 0, 1)).astype(np.int16)
    reached = mmi_status == 0
    at_exam = rng.random(n) < 0.30  # "at MMI as of today"
    mmi_day = np.where(at_exam, exam_day, injury + np.round(mmi_view).astype(np.int64))
    mmi_day = np.clip(mmi_day, injury, exam_day)
    rated = (reached & (rng.random(n) < 0.90)) | ((mmi_status == 1) & (rng.random(n) < 0.03))

    zero_examiner = ex.pattern[examiner] == PATTERNS.index("zero_impairment") + 1
    grid_zero = None
    if grid_rng is not None:
        adverse, grid_zero = _grid_zero_ratings(grid_rng, ex, examiner, eta, reached & rated,
                                                adverse)

    # Components of an adverse opinion; a non-adverse exam has none of them.
    zero_bonus = np.where(zero_examiner & ~ex.grid, ex.effect[examiner], 0.0)
    zero = adverse & reached & rated & (rng.random(n) < _sigmoid(ZERO_ROUTE_LOGIT + zero_bonus))
    if grid_zero is not None:
        zero = np.where(zero_examiner & reached & rated, grid_zero, zero)
    unrelated = adverse & (rng.random(n) < P_NOT_RELATED)
    p_no_treat = np.where(unrelated, P_NO_TREATMENT_IF_UNRELATED, P_NO_TREATMENT)
    no_treat = adverse & (rng.random(n) < p_no_treat)
    no_treat |= adverse & ~(zero | unrelated | no_treat)  # at least one component
    causation = np.where(unrelated, 2, _draw_fixed(rng, (0.70, 0.22, 0, 0.08), n))
    treatment = np.where(no_treat, 1, _draw_fixed(rng, (0.82, 0, 0.18), n))

    biased = (planted > 0) | (zero_examiner & (ex.effect[examiner] > 0))
    factor = np.where(biased, BIASED_WPI_FACTOR, FAIR_WPI_FACTOR)
    wpi = np.clip(np.round(cases["true_wpi"][case] * factor * rng.lognormal(0, 0.3, n)), 1, 100)
    wpi = np.where(zero, 0, wpi)
    jur = cases["jur"][case]
    usual = np.array([GUIDES_EDITIONS.index(g) for g in JURISDICTION_GUIDES])[jur]
    other = np.where(usual == GUIDES_EDITIONS.index("AMA6"), 1, 2)
    guides = np.where(rng.random(n) < OFF_GUIDES_SHARE, other, usual).astype(np.int16)
    work = np.where(adverse, _draw_fixed(rng, (0.55, 0.30, 0.07, 0.08), n),
                    _draw_fixed(rng, (0.22, 0.48, 0.20, 0.10), n))
    exams.update({
        "adverse": adverse, "biased": biased, "mmi_status": mmi_status, "mmi_day": mmi_day,
        "mmi_null": ~reached, "rated": rated, "wpi": wpi.astype(np.int16),
        "guides": guides, "causation": causation.astype(np.int16),
        "treatment": treatment.astype(np.int16), "work": work.astype(np.int16),
    })


# ---------------------------------------------------------------------------------------------
# Downstream tables: decisions, treating ratings, rulings.
# ---------------------------------------------------------------------------------------------


def _make_decisions(rng: np.random.Generator,
                    exams: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Draw the insurer's decision after most exams; denial depends strongly on the opinion."""
    n = len(exams["case"])
    has = rng.random(n) < 0.85
    base = np.where(exams["report_null"], exams["exam_day"], exams["report"])
    late = rng.random(n) < 0.07  # beyond the 90-day window: only linkable by exam_id
    delay = np.where(late, rng.uniform(91, 200, n), rng.uniform(2, 90, n))
    day = base + np.round(delay).astype(np.int64)
    keep = has & (day <= REFERENCE_END)
    adverse = exams["adverse"]
    outcome_cum = _cum(np.array([
        [0.76, 0.10, 0.07, 0.02, 0.05],  # opinion not adverse
        [0.14, 0.14, 0.47, 0.17, 0.08],  # adverse opinion
    ]))
    outcome = _draw(rng, outcome_cum, adverse.astype(np.int64))
    benefit_cum = _cum(np.array([
        [0.50, 0.38, 0.00, 0.08, 0.04],  # no rating
        [0.15, 0.05, 0.70, 0.10, 0.00],  # rated: permanent disability at stake
    ]))
    benefit = _draw(rng, benefit_cum, exams["rated"].astype(np.int64))
    exam_null = rng.random(n) < 0.15
    idx = np.flatnonzero(keep)
    return {
        "exam_row": idx, "day": day[idx], "outcome": outcome[idx], "benefit": benefit[idx],
        "exam_null": exam_null[idx],
    }


def _make_treating(rng: np.random.Generator, cases: dict[str, np.ndarray],
                   exams: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Draw one treating-side rating for about 30% of cases that an IME rated."""
    rated_rows = np.flatnonzero(exams["rated"])
    _, first = np.unique(exams["case"][rated_rows], return_index=True)
    rows = rated_rows[first]  # the first rated exam of each rated case
    rows = rows[rng.random(len(rows)) < 0.30]
    case = exams["case"][rows]
    injury = cases["injury"][case]
    day = exams["exam_day"][rows] + np.round(rng.uniform(-120, 120, len(rows))).astype(np.int64)
    day = np.clip(day, injury + 1, REFERENCE_END)
    role = _draw_fixed(rng, (0.90, 0.07, 0.02, 0.01), len(rows))
    wpi = np.clip(np.round(cases["true_wpi"][case] * TREATING_WPI_FACTOR
                           * rng.lognormal(0, 0.3, len(rows))), 0, 100)
    mmi = np.maximum(day - np.round(rng.uniform(0, 90, len(rows))).astype(np.int64), injury)
    return {
        "case": case, "day": day, "role": role, "wpi": wpi.astype(np.int16), "mmi": mmi,
        "mmi_null": rng.random(len(rows)) < 0.40,
    }


def _make_rulings(rng: np.random.Generator, exams: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Draw later rulings on ~15% of exams; biased adverse reports fare worse."""
    n = len(exams["case"])
    adverse, biased = exams["adverse"], exams["biased"]
    has = rng.random(n) < np.where(adverse, 0.22, 0.10)
    base = np.where(exams["report_null"], exams["exam_day"], exams["report"])
    day = base + np.round(rng.uniform(60, 540, n)).astype(np.int64)
    level = adverse.astype(np.int64) + (adverse & biased)
    outcome_cum = _cum(np.array([
        [0.42, 0.10, 0.22, 0.08, 0.18],  # not adverse
        [0.33, 0.16, 0.22, 0.12, 0.17],  # adverse, fair examiner
        [0.18, 0.32, 0.12, 0.22, 0.16],  # adverse, biased examiner
    ]))
    outcome = _draw(rng, outcome_cum, level)
    # exam_id is left blank only on first exams, so (case, exam, date) stays a unique key.
    exam_null = (exams["pos"] == 0) & (rng.random(n) < 0.05)
    idx = np.flatnonzero(has & (day <= REFERENCE_END))
    return {"exam_row": idx, "day": day[idx], "outcome": outcome[idx],
            "exam_null": exam_null[idx]}


# ---------------------------------------------------------------------------------------------
# Deliberately broken rows, the way real exports are broken.
# ---------------------------------------------------------------------------------------------


def _dirty_rows(rng: np.random.Generator, n: int, rate: float, kinds: int) -> np.ndarray:
    """Return a kind per row: -1 for clean rows, else which break to apply."""
    kind = np.full(n, -1, dtype=np.int16)
    if rate <= 0 or n == 0:
        return kind
    rows = np.flatnonzero(rng.random(n) < rate)
    kind[rows] = rng.integers(0, kinds, len(rows))
    return kind


def _break_ids(ids: pa.Array, mask: np.ndarray, bad_prefix: str, numbers: np.ndarray,
               width: int) -> pa.Array:
    """Replace masked ids with ids that reference nothing (another prefix)."""
    if not mask.any():
        return ids
    bad = _ids(bad_prefix, numbers[mask], width)
    return pc.replace_with_mask(ids, pa.array(mask), bad)


# ---------------------------------------------------------------------------------------------
# Chunk -> Arrow tables.
# ---------------------------------------------------------------------------------------------


@dataclass
class _Offsets:
    """Running id counters across chunks."""

    exam: int = 0
    case: int = 0
    decision: int = 0


def _cases_table(rng: np.random.Generator, cases: dict[str, np.ndarray], ins: _Insurers,
                 case_no: np.ndarray, rate: float, width: int) -> tuple[pa.Table, int]:
    """Return the cases table; broken rows get a bad enum, a late birth year or no claimant."""
    n = len(case_no)
    kind = _dirty_rows(rng, n, rate, 4)
    claim = np.where(kind == 0, len(CLAIM_TYPES), cases["claim"])
    sex = np.where(kind == 1, len(SEXES), cases["sex"])
    birth = np.where(kind == 2, cases["injury_year"] + 1 + (case_no % 3), cases["birth_year"])
    birth_null = cases["birth_year_null"] & (kind != 2)
    claimant = _ids("P", case_no, width)
    table = pa.table({
        "case_id": _ids("C", case_no, width),
        "claimant_id": pc.if_else(pa.array(kind == 3), pa.nulls(n, pa.string()), claimant),
        "insurer_id": _labels(tuple(ins.ids), cases["insurer"]),
        "insurer_name": _labels(tuple(ins.names), cases["insurer"]),
        "claim_type": _labels(CLAIM_TYPES + ("work comp",), claim),
        "jurisdiction": _labels(JURISDICTIONS, cases["jur"]),
        "injury_date": _dates(cases["injury"]),
        "body_part": _labels(BODY_PARTS, cases["body"]),
        "injury_nature": _labels(NATURES, cases["nature"]),
        "claimant_birth_year": pa.array(birth, pa.int32(), mask=birth_null),
        "claimant_sex": _labels(SEXES + ("female",), sex),
        "represented": pa.array(cases["represented"]),
    })
    return table, int((kind >= 0).sum())


def _exams_table(rng: np.random.Generator, ex: _Examiners, cases: dict[str, np.ndarray],
                 exams: dict[str, np.ndarray], exam_no: np.ndarray, case_no: np.ndarray,
                 rate: float, width: int) -> tuple[pa.Table, int]:
    """Return the exams table with a few broken rows (bad enum, dates, wpi, missing/bad refs)."""
    n = len(exam_no)
    kind = _dirty_rows(rng, n, rate, 5)
    exam_day = exams["exam_day"].copy()
    injury = cases["injury"][exams["case"]]
    before = kind == 1  # exam dated before the injury; referral dropped so one rule breaks
    exam_day[before] = injury[before] - 1 - (exam_no[before] % 300)
    referral_null = exams["referral_null"] | before
    wpi = np.where(kind == 2, 130, exams["wpi"])
    wpi_null = ~exams["rated"] & (kind != 2)
    requester = np.where(kind == 0, len(REQUESTERS), exams["requester"])
    examiner_null = kind == 3
    case_ids = _break_ids(_ids("C", case_no[exams["case"]], width), kind == 4, "CX",
                          case_no[exams["case"]], width)
    table = pa.table({
        "exam_id": _ids("E", exam_no, width),
        "case_id": case_ids,
        "examiner_id": _labels(tuple(ex.ids), exams["examiner"], examiner_null),
        "requested_by": _labels(REQUESTERS + ("attorney",), requester),
        "exam_type": _labels(EXAM_TYPES, exams["exam_type"]),
        "referral_date": _dates(exams["referral"], referral_null),
        "exam_date": _dates(exam_day),
        "report_date": _dates(exams["report"], exams["report_null"]),
        "causation": _labels(CAUSATIONS, exams["causation"]),
        "mmi_status": _labels(MMI_STATUSES, exams["mmi_status"]),
        "mmi_date": _dates(exams["mmi_day"], exams["mmi_null"]),
        "wpi_percent": pa.array(wpi, pa.int16(), mask=wpi_null),
        "guides_edition": _labels(GUIDES_EDITIONS, exams["guides"], wpi_null),
        "work_capacity": _labels(WORK_CAPACITIES, exams["work"]),
        "further_treatment": _labels(TREATMENTS, exams["treatment"]),
    })
    return table, int((kind >= 0).sum())


def _decisions_table(rng: np.random.Generator, dec: dict[str, np.ndarray],
                     exams: dict[str, np.ndarray], exam_no: np.ndarray, case_no: np.ndarray,
                     first_id: int, rate: float, width: int) -> tuple[pa.Table, int]:
    """Return the decisions table; broken rows get a bad outcome, no date or a bad case."""
    n = len(dec["exam_row"])
    kind = _dirty_rows(rng, n, rate, 3)
    rows = dec["exam_row"]
    cases = case_no[exams["case"][rows]]
    outcome = np.where(kind == 0, len(DECISION_OUTCOMES), dec["outcome"])
    table = pa.table({
        "decision_id": _ids("D", np.arange(first_id, first_id + n), width),
        "case_id": _break_ids(_ids("C", cases, width), kind == 2, "CX", cases, width),
        "exam_id": pc.if_else(pa.array(dec["exam_null"]), pa.nulls(n, pa.string()),
                              _ids("E", exam_no[rows], width)),
        "decision_date": _dates(dec["day"], kind == 1),
        "benefit": _labels(BENEFITS, dec["benefit"]),
        "outcome": _labels(DECISION_OUTCOMES + ("pending",), outcome),
    })
    return table, int((kind >= 0).sum())


def _treating_table(rng: np.random.Generator, tr: dict[str, np.ndarray], case_no: np.ndarray,
                    rate: float, width: int) -> tuple[pa.Table, int]:
    """Return treating_ratings; broken rows get wpi 130 or an unknown rater role."""
    n = len(tr["case"])
    kind = _dirty_rows(rng, n, rate, 2)
    wpi = np.where(kind == 0, 130, tr["wpi"])
    role = np.where(kind == 1, len(RATER_ROLES), tr["role"])
    table = pa.table({
        "case_id": _ids("C", case_no[tr["case"]], width),
        "rater_role": _labels(RATER_ROLES + ("nurse",), role),
        "rating_date": _dates(tr["day"]),
        "wpi_percent": pa.array(wpi, pa.int16()),
        "mmi_date": _dates(tr["mmi"], tr["mmi_null"]),
    })
    return table, int((kind >= 0).sum())


def _rulings_table(rng: np.random.Generator, ru: dict[str, np.ndarray],
                   exams: dict[str, np.ndarray], exam_no: np.ndarray, case_no: np.ndarray,
                   rate: float, width: int) -> tuple[pa.Table, int]:
    """Return rulings; broken rows get an unknown outcome or no ruling date."""
    n = len(ru["exam_row"])
    kind = _dirty_rows(rng, n, rate, 2)
    rows = ru["exam_row"]
    outcome = np.where(kind == 0, len(RULING_OUTCOMES), ru["outcome"])
    table = pa.table({
        "case_id": _ids("C", case_no[exams["case"][rows]], width),
        "exam_id": pc.if_else(pa.array(ru["exam_null"]), pa.nulls(n, pa.string()),
                              _ids("E", exam_no[rows], width)),
        "ruling_date": _dates(ru["day"], kind == 1),
        "outcome": _labels(RULING_OUTCOMES + ("remanded",), outcome),
    })
    return table, int((kind >= 0).sum())


def _make_chunk(seed: int, chunk: int, n_exams: int, ex: _Examiners, ins: _Insurers,
                offsets: _Offsets, dirty_rate: float, width: int) -> _Tables:
    """Generate one chunk of whole cases with exactly n_exams exams, and advance the offsets."""
    # An independent stream per chunk and per purpose: broken rows never shift the clean data.
    rng = np.random.default_rng([seed, 1, chunk])
    dirty_rng = np.random.default_rng([seed, 2, chunk])
    per_case = _exams_per_case(rng, n_exams)
    cases = _make_cases(rng, ex, ins, len(per_case))
    exams = _make_exam_frame(rng, ex, cases, per_case)
    _add_opinions(rng, ex, cases, exams,
                  np.random.default_rng([seed, 4, chunk]) if ex.grid else None)
    dec = _make_decisions(rng, exams)
    tr = _make_treating(rng, cases, exams)
    ru = _make_rulings(rng, exams)

    case_no = np.arange(offsets.case + 1, offsets.case + 1 + len(per_case))
    exam_no = np.arange(offsets.exam + 1, offsets.exam + 1 + n_exams)
    tables, dirty = {}, {}
    tables["cases"], dirty["cases"] = _cases_table(
        dirty_rng, cases, ins, case_no, dirty_rate, width)
    tables["exams"], dirty["exams"] = _exams_table(
        dirty_rng, ex, cases, exams, exam_no, case_no, dirty_rate, width)
    tables["decisions"], dirty["decisions"] = _decisions_table(
        dirty_rng, dec, exams, exam_no, case_no, offsets.decision + 1, dirty_rate, width)
    tables["treating_ratings"], dirty["treating_ratings"] = _treating_table(
        dirty_rng, tr, case_no, dirty_rate, width)
    tables["rulings"], dirty["rulings"] = _rulings_table(
        dirty_rng, ru, exams, exam_no, case_no, dirty_rate, width)
    offsets.case += len(per_case)
    offsets.exam += n_exams
    offsets.decision += tables["decisions"].num_rows
    return _Tables(tables=tables, dirty=dirty)


# ---------------------------------------------------------------------------------------------
# Writing.
# ---------------------------------------------------------------------------------------------


class _Writer:
    """Appends Arrow tables to one CSV or Parquet file."""

    def __init__(self, path: Path, schema: pa.Schema, fmt: str):
        self.path = path
        self.rows = 0
        if fmt == "parquet":
            self._sink = None
            self._writer = pq.ParquetWriter(path, schema, compression="zstd")
        else:
            # Header written by hand: pyarrow would quote the column names.
            self._sink = open(path, "wb")  # noqa: SIM115 - closed in close()
            self._sink.write((",".join(schema.names) + "\n").encode())
            options = pacsv.WriteOptions(include_header=False, quoting_style="none")
            self._writer = pacsv.CSVWriter(self._sink, schema, write_options=options)

    def write(self, table: pa.Table) -> None:
        """Append a table (same schema) to the file."""
        self._writer.write_table(table)
        self.rows += table.num_rows

    def close(self) -> None:
        """Flush and close the file."""
        self._writer.close()
        if self._sink is not None:
            self._sink.close()


def _write_truth(path: Path, ex: _Examiners) -> None:
    """Write truth.csv: one row per examiner with its planted pattern (or 'fair').

    With a power grid, two more columns: the planted odds ratio and the examiner's expected
    volume (blank for fair examiners), and effect is the log of the odds ratio.
    """
    # The measure that should find each pattern is the registry's (Measure.planted_by); the
    # import waits until here because the registry brings the statistics stack with it.
    from measures.registry import MEASURES

    found_by = {m.planted_by: m.name for m in MEASURES.values() if m.planted_by}
    names = ("fair",) + PATTERNS
    notes = {
        "fair": f"no planted effect (examiner noise sd {EXAMINER_NOISE_SD} on the logit)",
        "excess_adverse": "logit +effect on the adverse opinion, every exam",
        "allegiance": "logit +effect on the adverse opinion only when requested_by is "
                      "insurer or employer; 0 when claimant/board/panel/agreed/other",
        "drift": "logit +effect on the adverse opinion for exams on or after change_date",
        "hard_case_mix": "no examiner effect; case mix heavy in spine/psychiatric/multiple, "
                         "represented and older claimants, so the raw adverse rate is high",
        "zero_impairment": "logit +effect on rating 0% at MMI as the adverse route among "
                           "rated exams; the overall adverse rate is unchanged",
        "early_mmi": f"time to MMI multiplied by {EARLY_MMI_FACTOR} (effect = log time ratio)",
    }
    header = ("examiner_id", "pattern", "measure", "effect", "change_date", "note")
    if ex.grid:
        notes.update({
            "zero_impairment": "odds of a 0% rating among exams rated at MMI multiplied by "
                               "odds_ratio given the case (a 0% rating is an adverse opinion)",
            "early_mmi": "odds of declaring MMI at the exam multiplied by odds_ratio, given the "
                         "body part, injury nature and time since injury",
        })
        header += ("odds_ratio", "volume")
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for i, ex_id in enumerate(ex.ids):
            name = names[ex.pattern[i]]
            change = (str(np.datetime64(int(ex.change_day[i]), "D"))
                      if name == "drift" else "")
            effect = f"{ex.effect[i]:g}"
            row = (ex_id, name, found_by.get(name, "none"), effect, change, notes[name])
            if ex.grid:
                planted = ex.pattern[i] > 0
                row += (f"{ex.odds_ratio[i]:g}" if planted else "",
                        str(ex.volume[i]) if planted else "")
            w.writerow(row)


def generate(out_dir: Path, n_exams: int = 50_000, seed: int = 0, fmt: str = "csv",
             dirty_rate: float = 0.001, progress: bool = False,
             power_grid: PowerGrid | None = None) -> DemoSummary:
    """Write a seeded synthetic data set with planted examiner patterns into out_dir.

    Parameters
    ----------
    out_dir : Path
        Folder to write into (created if missing); existing files of the same names are
        replaced.
    n_exams : int
        Number of exams (rows of exams); the other tables scale with it.
    seed : int
        Seed of every random draw: the same (seed, n_exams, fmt, dirty_rate) gives
        byte-identical files.
    fmt : str
        "csv" or "parquet" for the six entity files; truth.csv is always CSV.
    dirty_rate : float
        Share of rows deliberately broken in each file (0 gives perfectly clean data).
    progress : bool
        Show a tqdm progress bar over exams.
    power_grid : PowerGrid, optional
        Plant the grid's examiners (pattern x odds ratio x volume) on top of the usual
        number of examiners, instead of the default patterns; truth.csv then also gives each
        planted examiner's odds ratio and volume. None (the default) plants PATTERNS.

    Returns
    -------
    DemoSummary
        Paths, row counts, broken-row counts per entity, and seconds taken.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', got {fmt!r}")
    if n_exams < 1:
        raise ValueError(f"n_exams must be at least 1, got {n_exams}")
    if not 0 <= dirty_rate < 1:
        raise ValueError(f"dirty_rate must be in [0, 1), got {dirty_rate}")
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    width = max(8, len(str(n_exams)))

    rng = np.random.default_rng([seed, 0])
    ins = _make_insurers(rng, n_exams)
    ex = _make_examiners(rng, n_exams, len(ins.ids), power_grid)
    examiners, dirty_examiners = _examiners_table(ex, np.random.default_rng([seed, 3]),
                                                  dirty_rate)
    paths = {name: out_dir / f"{name}.{fmt}" for name in ENTITIES}
    dirty = dict.fromkeys(ENTITIES, 0)
    dirty["examiners"] = dirty_examiners
    writers: dict[str, _Writer] = {}
    offsets = _Offsets()
    bar = tqdm(total=n_exams, unit="exam", unit_scale=True, disable=not progress,
               desc="demo data")
    try:
        writers["examiners"] = _Writer(paths["examiners"], examiners.schema, fmt)
        writers["examiners"].write(examiners)
        for chunk, start in enumerate(range(0, n_exams, CHUNK_EXAMS)):
            size = min(CHUNK_EXAMS, n_exams - start)
            out = _make_chunk(seed, chunk, size, ex, ins, offsets, dirty_rate, width)
            for name, table in out.tables.items():
                if name not in writers:
                    writers[name] = _Writer(paths[name], table.schema, fmt)
                writers[name].write(table)
                dirty[name] += out.dirty[name]
            bar.update(size)
    finally:
        bar.close()
        for w in writers.values():
            w.close()
    paths["truth"] = out_dir / "truth.csv"
    _write_truth(paths["truth"], ex)
    rows = {name: w.rows for name, w in writers.items()}
    rows["truth"] = len(ex.ids)
    return DemoSummary(out_dir=out_dir, fmt=fmt, seed=seed, n_exams=n_exams, paths=paths,
                       rows=rows, dirty_rows=dirty, seconds=time.perf_counter() - started)


__all__ = ["DemoSummary", "PowerGrid", "generate"]
