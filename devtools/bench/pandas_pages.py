"""The pandas baselines: every page's figures computed the way an analyst would (read
Parquet, merge, group by, compute), timed by phase and checked against the product's.
"""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

from devtools.bench.results import FILTER_HOME


class PhaseTimer:
    """Named phases of a pandas computation (read, merge, figures, flags)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - started


COUNT_COLUMNS = (
    "n_exams",
    "n_causation",
    "n_not_related",
    "n_rated",
    "n_zero_wpi",
    "n_treatment_opinion",
    "n_no_treatment",
    "n_capacity_opinion",
    "n_full_duty",
    "n_adverse",
    "n_with_decision",
    "n_denied",
    "n_partially_denied",
)


def _read(folder: Path, table: str, columns: list[str], filters: dict) -> object:
    import pandas as pd

    wanted = list(dict.fromkeys([*columns, *(c for c in filters if FILTER_HOME[c] == table)]))
    # Dates straight to datetime64 (pyarrow's default is Python date objects): the fast way.
    return pd.read_parquet(
        folder / f"{table}.parquet", columns=wanted, to_pandas_kwargs={"date_as_object": False}
    )


def _exams(
    folder: Path,
    filters: dict,
    t: PhaseTimer,
    exam_cols: list[str],
    case_cols: list[str],
    specialty: bool = True,
    decisions: bool = False,
):
    """Exams joined to their case (and examiner), filtered, with the post-exam decision."""
    with t.phase("read"):
        exams = _read(folder, "exams", ["exam_id", "case_id", "examiner_id", *exam_cols], filters)
        cases = _read(folder, "cases", ["case_id", *case_cols], filters)
        examiners = (
            _read(folder, "examiners", ["examiner_id", "specialty"], filters)
            if (specialty or "specialty" in filters)
            else None
        )
        dec = (
            _read(
                folder,
                "decisions",
                ["decision_id", "case_id", "exam_id", "decision_date", "outcome"],
                {},
            )
            if decisions
            else None
        )
    with t.phase("merge"):
        df = exams.merge(cases, on="case_id")
        if examiners is not None:
            df = df.merge(examiners, on="examiner_id", how="left")
            df["specialty"] = df["specialty"].fillna("other")
        for column, values in filters.items():
            df = df[df[column].isin(values)]
        if dec is not None:
            df["outcome"] = _post_exam_outcome(df, dec)
    return df


def _post_exam_outcome(df, decisions):
    """The decision linked to the exam, else the first on the case within 90 days of the report."""
    import pandas as pd

    keys = df[["exam_id", "case_id"]]
    linked = decisions[decisions["exam_id"].notna()].merge(keys, on=["exam_id", "case_id"])
    anchor = df["report_date"].fillna(df["exam_date"])
    unlinked = (
        decisions[decisions["exam_id"].isna()]
        .drop(columns="exam_id")
        .merge(keys.assign(anchor=anchor), on="case_id")
    )
    within = (unlinked["decision_date"] >= unlinked["anchor"]) & (
        unlinked["decision_date"] <= unlinked["anchor"] + pd.Timedelta(days=90)
    )
    candidates = pd.concat(
        [
            linked.assign(unlinked=False),
            unlinked[within].drop(columns="anchor").assign(unlinked=True),
        ],
        ignore_index=True,
    )
    first = candidates.sort_values(["exam_id", "unlinked", "decision_date", "decision_id"])
    first = first.drop_duplicates("exam_id").set_index("exam_id")["outcome"]
    return df["exam_id"].map(first)


def _indicators(df):
    """One 0/1 column per count of the rates_* queries (SPEC 2 denominators)."""
    import pandas as pd

    causation, wpi = df["causation"], df["wpi_percent"]
    out = pd.DataFrame(
        {
            "n_exams": 1,
            "n_causation": causation.isin(("related", "partially_related", "not_related")),
            "n_not_related": causation.eq("not_related"),
            "n_rated": wpi.notna(),
            "n_zero_wpi": wpi.eq(0),
            "n_treatment_opinion": df["further_treatment"].isin(("recommended", "not_recommended")),
            "n_no_treatment": df["further_treatment"].eq("not_recommended"),
            "n_capacity_opinion": df["work_capacity"].isin(("full_duty", "restricted", "no_work")),
            "n_full_duty": df["work_capacity"].eq("full_duty"),
        },
        index=df.index,
    )
    out["n_adverse"] = (
        out["n_not_related"] | out["n_no_treatment"] | (df["mmi_status"].eq("reached") & wpi.eq(0))
    )
    if "outcome" in df:
        out["n_with_decision"] = df["outcome"].notna()
        out["n_denied"] = df["outcome"].isin(("denied", "terminated"))
        out["n_partially_denied"] = df["outcome"].isin(("partially_denied", "reduced"))
    return out.astype("int64")


def _monthly(df, ind):
    month = df["exam_date"].to_numpy().astype("datetime64[M]").astype("datetime64[us]")
    return ind.groupby(month).sum().rename_axis("exam_month").reset_index()


def _mmi_counts(df):
    import numpy as np
    import pandas as pd

    reached = df["mmi_status"].eq("reached").to_numpy()
    seen = df["mmi_status"].notna().to_numpy()
    days = np.where(
        reached,
        (df["mmi_date"] - df["injury_date"]).dt.days,
        (df["exam_date"] - df["injury_date"]).dt.days,
    )
    keep = seen & ~np.isnan(days)
    counts = pd.DataFrame(
        {"days_injury_to_mmi": days[keep].astype("int64"), "event": reached[keep]}
    )
    grouped = counts.groupby("days_injury_to_mmi")["event"].agg(["sum", "size"])
    return pd.DataFrame(
        {
            "group_value": "all",
            "days_injury_to_mmi": grouped.index.to_numpy(),
            "n_event": grouped["sum"].to_numpy(),
            "n_censored": (grouped["size"] - grouped["sum"]).to_numpy(),
        }
    )


EXAM_OPINIONS = [
    "exam_date",
    "report_date",
    "causation",
    "mmi_status",
    "mmi_date",
    "wpi_percent",
    "guides_edition",
    "work_capacity",
    "further_treatment",
    "requested_by",
]
CASE_FEATURES_RAW = [
    "insurer_id",
    "claim_type",
    "jurisdiction",
    "injury_date",
    "body_part",
    "injury_nature",
    "claimant_sex",
    "represented",
    "claimant_birth_year",
]


def _flag_inputs(df):
    """The engine's two inputs, as examiner_patterns and examiner_exam_sequence give them."""
    import numpy as np
    import pandas as pd

    age = df["injury_date"].dt.year - df["claimant_birth_year"]
    band = np.select(
        [df["claimant_birth_year"].isna(), age < 30, age < 45, age < 55, age < 65],
        ["unknown", "under_30", "30_44", "45_54", "55_64"],
        "65_plus",
    )
    features = pd.DataFrame(
        {
            "examiner_id": df["examiner_id"],
            "specialty": df["specialty"],
            "claim_type": df["claim_type"],
            "jurisdiction": df["jurisdiction"],
            "body_part": df["body_part"],
            "injury_nature": df["injury_nature"],
            "age_band": band,
            "claimant_sex": df["claimant_sex"],
            "represented": df["represented"].map({True: "true", False: "false"}),
            "requested_by": df["requested_by"],
            "exam_year": df["exam_date"].dt.year.astype(str),
        }
    )
    ind = _indicators(df)
    seen = df["mmi_status"].notna()
    reached = df["mmi_status"].eq("reached")
    # fct_exams.injury_to_exam_band: the band's first day.
    since_injury = (df["exam_date"] - df["injury_date"]).dt.days.to_numpy()
    edges = np.array([30, 60, 90, 120, 150, 180, 240, 300, 365, 450, 540, 730, 1095])
    band_start = np.concatenate(([0], edges))[np.searchsorted(edges, since_injury, side="right")]
    patterns = (
        features.assign(
            guides_edition=df["guides_edition"], injury_to_exam_band=band_start.astype(str)
        )
        .join(ind[["n_exams", "n_adverse", "n_with_decision", "n_denied", "n_rated", "n_zero_wpi"]])
        .assign(n_mmi_opinion=seen.astype(int), n_mmi_reached=(seen & reached).astype(int))
        .groupby(
            list(features.columns) + ["guides_edition", "injury_to_exam_band"],
            dropna=False,
            as_index=False,
        )
        .sum()
    )
    days = np.where(
        reached,
        (df["mmi_date"] - df["injury_date"]).dt.days,
        (df["exam_date"] - df["injury_date"]).dt.days,
    )
    sequence = features.assign(
        exam_date=df["exam_date"],
        exam_id=df["exam_id"],
        is_adverse=ind["n_adverse"].astype(bool),
        mmi_reached=reached.astype("boolean").where(seen),
        days_injury_to_mmi=np.where(seen, days, np.nan),
    ).sort_values(["examiner_id", "exam_date", "exam_id"], ignore_index=True)
    return patterns, sequence


# The case-mix measures of the pandas way: their names and their columns of _flag_inputs.
_PANDAS_BINARY = {
    "adverse_opinion": ("n_exams", "n_adverse"),
    "denial": ("n_with_decision", "n_denied"),
    "zero_impairment": ("n_rated", "n_zero_wpi"),
    "early_mmi": ("n_mmi_opinion", "n_mmi_reached"),
}


def _flag_tables(df):
    """The engine's inputs the analyst's way: models fitted on every exam, scored in pandas.

    Returns the per-examiner sums the engine's grouped pass gives (measures.engine) for the
    adverse-opinion, denial, zero-impairment and early-MMI measures, and the drift input. (The
    product fits its models on a hash sample of at most FlagSettings.casemix_sample exams:
    above that size the expected counts differ slightly, and the agreement check says by how
    much.)
    """
    import numpy as np
    from scipy import special

    from imestats.casemix import fit_casemix
    from measures.casemix import CASE_FEATURES
    from measures.registry import MEASURES

    patterns, sequence = _flag_inputs(df)
    scored = patterns.copy()
    models, sums = {}, []
    for name, (trials, events) in _PANDAS_BINARY.items():
        model = MEASURES[name].model
        features = [*CASE_FEATURES, *model.extra_features, "specialty"]
        has_trials = (patterns[trials] > 0).to_numpy()
        counts = (
            patterns[has_trials]
            .groupby(features, dropna=False, as_index=False)[[trials, events]]
            .sum()
        )
        models[name] = fit_casemix(counts, features, trials, events)
        p = np.zeros(len(patterns))
        p[has_trials] = models[name].predict(patterns[has_trials])
        n = patterns[trials].to_numpy(dtype=float)
        scored[f"n_{name}"] = patterns[trials]
        scored[f"o_{name}"] = patterns[events]
        scored[f"e_{name}"] = n * p
        scored[f"v_{name}"] = n * p * (1 - p)
        sums += [f"n_{name}", f"o_{name}", f"e_{name}", f"v_{name}"]
    units = scored.groupby("examiner_id", as_index=False).agg(
        specialty=("specialty", "first"), **{c: (c, "sum") for c in sums}
    )
    rated = sequence[sequence["is_adverse"].notna()]
    risks = rated[["examiner_id", "exam_date", "is_adverse"]].assign(
        eta_adverse=special.logit(models["adverse_opinion"].predict(rated))
    )
    return units, risks


def _flags(df):
    """The examiner flags from pandas inputs, through the engine's own statistics."""
    return _flags_from(*_flag_tables(df))


def _flags_from(units, risks):
    """The engine's own statistics (each measure's score) on the pandas way's sums."""
    import pandas as pd

    from measures import drift
    from measures.base import DEFAULT_SETTINGS, View
    from measures.binary import score_binary

    view = View(con=None, scope=None, filters=None, units=units)
    frames = [score_binary(name, view, DEFAULT_SETTINGS) for name in _PANDAS_BINARY]
    batches = drift.batches_from_exams(risks, DEFAULT_SETTINGS)
    frames += [drift.score_batches(batches, DEFAULT_SETTINGS)]
    return pd.concat([f for f in frames if not f.empty], ignore_index=True)


def _overview_prepare(folder, filters, t):
    return {"df": _exams(folder, filters, t, EXAM_OPINIONS, CASE_FEATURES_RAW, decisions=True)}


def _trend_periods(monthly):
    """The Overview's trend points the pandas way: the finest of month, quarter and year
    whose median period over the whole span (empty periods included) holds
    MIN_EXAMS_PER_PERIOD exams, each period's counts, and whether it is thin (fewer).

    Written apart from dashboard.periods (resampling, not periods reindexed), so the agreement
    check compares two ways of choosing the grain.
    """
    from dashboard.periods import MIN_EXAMS_PER_PERIOD

    by_month = monthly.set_index("exam_month")
    for rule in ("MS", "QS", "YS"):
        exams = by_month["n_exams"].resample(rule).sum()
        if rule == "YS" or exams.median() >= MIN_EXAMS_PER_PERIOD:
            break
    counts = by_month.resample(rule).sum()
    counts = counts[counts["n_exams"] > 0].rename_axis("period").reset_index()
    counts["thin"] = counts["n_exams"] < MIN_EXAMS_PER_PERIOD
    return counts


def _overview_compute(frames, t):
    from dashboard import analysis

    df = frames["df"]
    with t.phase("figures"):
        ind = _indicators(df)
        totals = ind.sum().to_frame().T
        totals["n_examiners"] = df["examiner_id"].nunique()
        monthly = _monthly(df, ind)
        trend = _trend_periods(monthly)
        analysis.rates_long(trend, ["period", "thin"], ("adverse", "denied", "zero_wpi"))
        analysis.rates_long(
            analysis.overall_counts(totals.drop(columns="n_examiners")),
            [],
            ("adverse", "denied", "partially_denied", "zero_wpi"),
        )
        mmi_counts = _mmi_counts(df)
        analysis.kaplan_meier_by_group(mmi_counts)
    with t.phase("flags"):
        flags = _flags(df)
    return {
        "overview_totals": totals,
        "rates_by_month": monthly,
        "trend_periods": trend,
        "mmi_counts": mmi_counts,
        "flags": flags,
    }


def _denials_prepare(folder, filters, t):
    cols = [
        "exam_date",
        "report_date",
        "causation",
        "mmi_status",
        "wpi_percent",
        "work_capacity",
        "further_treatment",
    ]
    return {"df": _exams(folder, filters, t, cols, ["insurer_id"], specialty=False, decisions=True)}


def _denials_compute(frames, t):
    from dashboard import analysis

    df = frames["df"]
    with t.phase("figures"):
        ind = _indicators(df)
        by = (
            ind.groupby(df["insurer_id"].fillna("unknown"))
            .sum()
            .rename_axis("group_value")
            .reset_index()
        )
        measures = tuple(analysis.MEASURES)
        analysis.rates_long(by, ["group_value"], measures)
        analysis.rates_long(analysis.overall_counts(by), [], measures)
        monthly = _monthly(df, ind)
        analysis.rates_long(monthly, ["exam_month"], measures)
    return {"rates_by_group": by, "rates_by_month": monthly}


def _mmi_prepare(folder, filters, t):
    df = _exams(
        folder,
        filters,
        t,
        ["exam_date", "mmi_status", "mmi_date"],
        ["injury_date"],
        specialty=False,
    )
    return {"df": df}


def _mmi_compute(frames, t):
    from dashboard import analysis

    with t.phase("figures"):
        counts = _mmi_counts(frames["df"])
        analysis.kaplan_meier_by_group(counts)
    return {"mmi_counts": counts}


def _impairment_prepare(folder, filters, t):
    df = _exams(folder, filters, t, ["exam_date", "wpi_percent", "guides_edition"], [])
    with t.phase("read"):
        treating = _read(
            folder, "treating_ratings", ["case_id", "rater_role", "rating_date", "wpi_percent"], {}
        )
    return {"df": df, "treating": treating}


def _impairment_compute(frames, t):
    import pandas as pd

    from dashboard import analysis

    df, treating = frames["df"], frames["treating"]
    with t.phase("figures"):
        volumes = (
            df.assign(zero=df["wpi_percent"].eq(0))
            .groupby("examiner_id")
            .agg(
                specialty=("specialty", "first"),
                n_exams=("exam_id", "size"),
                n_rated=("wpi_percent", "count"),
                n_zero_wpi=("zero", "sum"),
            )
            .reset_index()
        )
        rated = volumes[volumes["n_rated"] > 0].sort_values(
            ["n_rated", "examiner_id"], ascending=[False, True]
        )
        examiner = rated["examiner_id"].iloc[0]
        specialty = rated["specialty"].iloc[0]
        df[df["wpi_percent"].notna()]["guides_edition"].fillna("unknown").value_counts()
        peers = df[(df["specialty"] == specialty) & df["wpi_percent"].notna()]
        counts = (
            peers.groupby(["examiner_id", "specialty", "wpi_percent"])
            .size()
            .rename("n_exams")
            .reset_index()
        )
        analysis.compare_wpi(counts, examiner)
        analysis.violin_values(counts, examiner)
        mine = df[(df["examiner_id"] == examiner) & df["wpi_percent"].notna()]
        ratings = treating[treating["rater_role"].eq("treating") & treating["wpi_percent"].notna()]
        both = mine[["exam_id", "case_id", "exam_date", "wpi_percent"]].merge(
            ratings.rename(columns={"wpi_percent": "treating_wpi_percent"}), on="case_id"
        )
        both["days_apart"] = (both["rating_date"] - both["exam_date"]).abs()
        nearest = both.sort_values(["exam_id", "days_apart", "rating_date"]).drop_duplicates(
            "exam_id"
        )
        pairs = (
            nearest.groupby(["wpi_percent", "treating_wpi_percent"])
            .size()
            .rename("n_pairs")
            .reset_index()
            .rename(columns={"wpi_percent": "ime_wpi_percent"})
        )
        analysis.rating_gap(pairs)
    return {
        "examiner_volumes": volumes,
        "wpi_counts": counts,
        "rating_pair_counts": pairs,
        "_examiner": pd.Series([examiner]),
    }


def _volumes(df):
    """examiner_volumes: examiner, specialty, exams, rated exams, zero ratings."""
    return (
        df.assign(zero=df["wpi_percent"].eq(0))
        .groupby("examiner_id")
        .agg(
            specialty=("specialty", "first"),
            n_exams=("exam_id", "size"),
            n_rated=("wpi_percent", "count"),
            n_zero_wpi=("zero", "sum"),
        )
        .reset_index()
    )


def _examiners_compute(frames, t):
    from dashboard import examiner_figures as examiners

    df = frames["df"]
    with t.phase("figures"):
        volumes = _volumes(df)
    with t.phase("flags"):
        flags = _flags(df)
    with t.phase("figures"):
        examiners.examiner_table(flags, volumes, "adverse_opinion", None)
        examiners.funnel_geometry(flags[flags["measure"] == "adverse_opinion"])
    return {"examiner_volumes": volumes, "flags": flags}


def _profile_prepare(folder, filters, t):
    import numpy as np

    frames = _overview_prepare(folder, filters, t)
    with t.phase("read"):
        rulings = _read(folder, "rulings", ["exam_id", "outcome"], {})
        treating = _read(
            folder, "treating_ratings", ["case_id", "rater_role", "rating_date", "wpi_percent"], {}
        )
    with t.phase("merge"):
        df = frames["df"]
        ruled = rulings[rulings["exam_id"].notna()].assign(
            rejected=rulings["outcome"].eq("report_rejected"),
            reversed=rulings["outcome"].eq("decision_reversed"),
        )
        per_exam = ruled.groupby("exam_id").agg(
            n_rulings=("outcome", "size"),
            rejected=("rejected", "any"),
            reversed=("reversed", "any"),
        )
        df = df.join(per_exam, on="exam_id")
        df["n_rulings"] = df["n_rulings"].fillna(0)
        retained = df["requested_by"]
        df["retained_by"] = np.where(
            retained.isin(("insurer", "employer")),
            "insurer_or_employer",
            np.where(
                retained.isin(("claimant", "board", "panel", "agreed")),
                "claimant_or_neutral",
                "other",
            ),
        )
    return {"df": df, "treating": treating}


def _nearest_treating(mine, treating):
    """rating_pair_counts for some rated exams: the treating rating nearest in time, counted."""
    ratings = treating[treating["rater_role"].eq("treating") & treating["wpi_percent"].notna()]
    both = mine[["exam_id", "case_id", "exam_date", "wpi_percent"]].merge(
        ratings.rename(columns={"wpi_percent": "treating_wpi_percent"}), on="case_id"
    )
    both["days_apart"] = (both["rating_date"] - both["exam_date"]).abs()
    nearest = both.sort_values(["exam_id", "days_apart", "rating_date"]).drop_duplicates("exam_id")
    return (
        nearest.groupby(["wpi_percent", "treating_wpi_percent"])
        .size()
        .rename("n_pairs")
        .reset_index()
        .rename(columns={"wpi_percent": "ime_wpi_percent"})
    )


def _causation_counts(pairs):
    """Pairs of exams of the same case counted per pair of causation opinions."""
    both = pairs.dropna(subset=["causation", "other_causation"])
    counts = both.groupby(["causation", "other_causation"]).size().rename("n_pairs").reset_index()
    return counts.assign(n_other_examiners=both["other_examiner_id"].nunique())


def _profile_compute(frames, t):
    import numpy as np
    import pandas as pd

    from dashboard import examiner_figures as examiners
    from measures.base import FlagSettings
    from measures.drift import batches_from_exams, charts_of, drift_path, drift_threshold

    df, treating = frames["df"], frames["treating"]
    with t.phase("figures"):
        volumes = _volumes(df)
        ranked = volumes.sort_values(["n_exams", "examiner_id"], ascending=[False, True])
        examiner, specialty = ranked["examiner_id"].iloc[0], ranked["specialty"].iloc[0]
    with t.phase("flags"):
        tables = _flag_tables(df)
        flags = _flags_from(*tables)
    with t.phase("figures"):
        examiners.explanations(examiners.examiner_measures(flags, examiner), examiner)
        peers = df[df["specialty"] == specialty]
        requesters = (
            peers.assign(
                cohort=np.where(peers["examiner_id"] == examiner, "examiner", "peers"),
                requested_by=peers["requested_by"].fillna("unknown"),
                n_adverse=_indicators(peers)["n_adverse"],
            )
            .groupby(["cohort", "requested_by", "retained_by"])
            .agg(n_exams=("exam_id", "size"), n_adverse=("n_adverse", "sum"))
            .reset_index()
        )
        sides = examiners.allegiance_rates(requesters, specialty)
        examiners.cohort_totals(sides, list(examiners.SIDES.values()))
        insurers = (
            df.assign(insurer_id=df["insurer_id"].fillna("unknown"))
            .groupby(["examiner_id", "specialty", "insurer_id"])
            .size()
            .rename("n_exams")
            .reset_index()
        )
        examiners.referrals(insurers, examiner)
    with t.phase("flags"):
        threshold = drift_threshold(flags)
        risks = tables[1]
        mine = risks[risks["examiner_id"] == examiner]
        charts = charts_of(batches_from_exams(mine, FlagSettings()))
        if threshold is not None and charts:
            drift_path(charts[0], threshold)
    with t.phase("figures"):
        rated = df[["exam_id", "case_id", "examiner_id", "causation", "wpi_percent"]]
        multi = rated[rated["case_id"].duplicated(keep=False)]
        pairs = multi.merge(multi, on="case_id", suffixes=("", "_other"))
        pairs = pairs[pairs["examiner_id"] != pairs["examiner_id_other"]]
        shared = pairs.rename(
            columns={"examiner_id_other": "other_examiner_id", "causation_other": "other_causation"}
        )
        examiners.causation_agreement(_causation_counts(shared[shared["examiner_id"] == examiner]))
        examiners.causation_agreement(
            _causation_counts(shared[shared["exam_id"] < shared["exam_id_other"]])
        )
        mine = df[(df["examiner_id"] == examiner) & df["wpi_percent"].notna()]
        treating_pairs = _nearest_treating(mine, treating)
        examiners.treating_agreement(treating_pairs)
        rulings = (
            df.groupby("examiner_id")
            .agg(
                specialty=("specialty", "first"),
                n_exams=("exam_id", "size"),
                n_ruled=("n_rulings", lambda s: int((s > 0).sum())),
                n_report_rejected=("rejected", lambda s: int(s.eq(True).sum())),
                n_decision_reversed=("reversed", lambda s: int(s.eq(True).sum())),
            )
            .reset_index()
        )
        examiners.rulings_rates(rulings, examiner)
    return {
        "examiner_volumes": volumes,
        "flags": flags,
        "examiner_adverse_by_requester": requesters,
        "examiner_insurer_counts": insurers,
        "rating_pair_counts": treating_pairs,
        "examiner_rulings": rulings,
        "_examiner": pd.Series([examiner]),
    }


PANDAS_WAY: dict[str, tuple[Callable, Callable]] = {
    "overview.py": (_overview_prepare, _overview_compute),
    "denials.py": (_denials_prepare, _denials_compute),
    "mmi.py": (_mmi_prepare, _mmi_compute),
    "impairment.py": (_impairment_prepare, _impairment_compute),
    "examiners.py": (_overview_prepare, _examiners_compute),
    "examiner_profile.py": (_profile_prepare, _profile_compute),
}

# Pages with nothing an analyst would compute: load bookkeeping, static text, the export form,
# the audit log, and published decision counts (the demo data have none, so the page stops at
# its empty state).
NO_ANALYST_EQUIVALENT = {
    "data_quality.py",
    "methods.py",
    "aggregate_audit.py",
    "exports.py",
    "audit_log.py",
}

# What each pandas figure is checked against: report query, parameters, keys, and whether the
# query takes the examiner the page picked.
AGREEMENT = {
    "overview_totals": ("overview_totals", {}, [], False),
    "rates_by_month": ("rates_by_month", {}, ["exam_month"], False),
    "mmi_counts": ("mmi_counts", {"group_by": "all"}, ["group_value", "days_injury_to_mmi"], False),
    "rates_by_group": ("rates_by_group", {"dimension": "insurer_id"}, ["group_value"], False),
    "examiner_volumes": ("examiner_volumes", {}, ["examiner_id", "specialty"], False),
    "wpi_counts": (
        "wpi_counts",
        {"body_part": None, "guides_edition": None},
        ["examiner_id", "specialty", "wpi_percent"],
        True,
    ),
    "rating_pair_counts": (
        "rating_pair_counts",
        {"body_part": None, "guides_edition": None},
        ["ime_wpi_percent", "treating_wpi_percent"],
        True,
    ),
    "examiner_adverse_by_requester": (
        "examiner_adverse_by_requester",
        {},
        ["cohort", "requested_by", "retained_by"],
        True,
    ),
    "examiner_insurer_counts": (
        "examiner_insurer_counts",
        {},
        ["examiner_id", "specialty", "insurer_id"],
        False,
    ),
    "examiner_rulings": ("examiner_rulings", {}, ["examiner_id", "specialty"], False),
}


def _same_counts(product, mine, keys: list[str]) -> str | None:
    """None when both tables hold the same counts per key, else what differs."""
    import pandas as pd

    counts = [c for c in product.columns if c.startswith("n_")]

    def norm(frame):
        frame = frame.copy()
        for k in keys:
            col = frame[k]
            is_date = pd.api.types.is_datetime64_any_dtype(col.dtype)
            frame[k] = col.dt.strftime("%Y-%m-%d") if is_date else col.astype(str)
        frame = frame[keys + counts]
        return frame.sort_values(keys, ignore_index=True) if keys else frame.reset_index(drop=True)

    a, b = norm(product), norm(mine)
    if len(a) != len(b):
        return f"{len(a)} rows in the product, {len(b)} in pandas"
    if keys and not a[keys].equals(b[keys]):
        return "different groups"
    diff = [c for c in counts if not (a[c].to_numpy("int64") == b[c].to_numpy("int64")).all()]
    return f"counts differ in {', '.join(diff)}" if diff else None


def _same_flags(stored, mine) -> str | None:
    """None when pandas flags the same examiners with the same expected counts as the product,
    on the measures the pandas way computes (_PANDAS_BINARY, early MMI among them, and drift)."""
    stored = stored[stored["measure"].isin(set(mine["measure"]))]
    a = stored.set_index(["examiner_id", "measure"]).sort_index()
    b = mine.set_index(["examiner_id", "measure"]).sort_index()
    if not a.index.equals(b.index):
        return "different examiners or measures"
    same = bool((a["flagged"].astype(bool) == b["flagged"].astype(bool)).all())
    gap = float((a["expected"] - b["expected"]).abs().max())
    if same and gap <= 1e-6 * max(1.0, float(a["expected"].abs().max())):
        return None
    return f"same flagged set: {same}; largest gap in expected counts {gap:.3g}"


def _agreement(figures: dict, db: str, filters: dict) -> dict:
    """The pandas figures against the product's (same query, same filters)."""
    import queries
    from dashboard import periods

    con = queries.connect(Path(db))
    flt = queries.Filters(**{k: tuple(v) for k, v in filters.items()})
    checked, differs = [], []
    examiner = figures["_examiner"].iloc[0] if "_examiner" in figures else None
    for name, mine in figures.items():
        if name.startswith("_"):
            continue
        if name == "flags":
            if filters:
                # Filtered flags are computed afresh by the page: compared at the default view.
                continue
            problem = _same_flags(queries.run(con, "stored_flags"), mine)
        elif name == "trend_periods":
            # The page's trend points: its monthly query summed to the grain it chooses.
            monthly = queries.run(con, "rates_by_month", filters=flt)
            product = periods.aggregate(monthly, periods.choose_grain(monthly))
            problem = _same_counts(product, mine, ["period", "thin"])
        else:
            query, params, keys, by_examiner = AGREEMENT[name]
            if by_examiner:
                params = {**params, "examiner_id": examiner}
            problem = _same_counts(queries.run(con, query, filters=flt, **params), mine, keys)
        checked.append(name)
        if problem:
            differs.append(f"{name}: {problem}")
    con.close()
    return {"checked": checked, "differs": differs}


def worker_pandas(page: str, filters: dict, parquet: str, db: str) -> dict:
    """The analyst's way for one page: cold (read, merge, compute), then warm (compute again)."""
    prepare, compute = PANDAS_WAY[page]
    out = {}
    t = PhaseTimer()
    frames = prepare(Path(parquet), filters, t)
    figures = compute(frames, t)
    out["cold"] = {**t.seconds, "total": sum(t.seconds.values())}
    t = PhaseTimer()
    compute(frames, t)
    out["warm"] = {**t.seconds, "total": sum(t.seconds.values())}
    out["rows"] = int(len(frames["df"]))
    out["agreement"] = _agreement(figures, db, filters)
    return out
