"""Which column names are direct identifiers of a claimant (docs/format.md): the one rule.

A column is judged by the meaning of its name, whatever the spelling: the name is cut into
lower-case words (at anything that is not a letter or digit, at camelCase and between letters
and digits: "SSN_last4" -> ssn last 4, "dateOfBirth" -> date of birth, "E-Mail" -> e mail)
and the words are matched against the kinds below. The loader drops every matching column of
every file before anything is stored, and the contract `extra_has_no_claimant_identifier`
calls the same function (registered in DuckDB as `ime_is_identifier`) on every stored `extra`
key, so the drop and the check cannot disagree.

Kept on purpose: professional and business names (examiner_name, insurer_name, "Carrier
Name", and names of places and things, "District Name", "File Name": the word that says whose
name it is is not a person in the claim), the birth year (claimant_birth_year is a canonical
column; a year is not a full birth date), and `claimant_id` in cases, which the loader reads
as a canonical column and pseudonymises. A canonical column is never dropped: the rule applies
to the columns left over, which would otherwise be kept in `extra`.

The rule errs towards dropping: a column wrongly taken for an identifier loses an unknown
column, one wrongly kept would store a claimant's identity.
"""

from __future__ import annotations

import re
import unicodedata

import duckdb

SQL_FUNCTION = "ime_is_identifier"

# Words for a person in the claim: a number or id qualified by one of them is the claimant's.
PERSON = frozenset(
    "claimant claimants patient patients worker workers employee employees injured applicant "
    "applicants insured member members beneficiary beneficiaries person individual subject "
    "dependent dependant spouse".split()
)
# Words that make a name professional or of a business, an office or a thing (docs/format.md: kept).
NOT_A_PERSON = frozenset(
    "examiner examiners doctor dr physician physicians provider providers practitioner "
    "clinician specialist surgeon therapist rater reviewer evaluator assessor author "
    "insurer insurers insurance carrier carriers payer payor plan employer employers company "
    "business firm organisation organization org agency vendor tpa administrator adjuster "
    "adjudicator attorney lawyer counsel solicitor representative rep judge alj court board "
    "panel office district region state county city country jurisdiction facility clinic "
    "hospital practice site location file sheet table column field source dataset product "
    "drug medication procedure diagnosis treatment body part category type code program "
    "programme guide guides edition specialty credential license licence user account brand "
    "group team department dept unit branch division network report form document series "
    "measure variable".split()
)
# Words that say which name of a person, between the name and the word that says whose it is.
NAME_MODIFIERS = frozenset(
    "first last full given middle family maiden sur fore nick legal preferred christian".split()
)
# Other languages' words for a name, read as "name".
NAME_SYNONYMS = frozenset("prenom nom".split())
NATIONAL_ID_WORDS = frozenset("ssn ssns sin nino socsec medicare medicaid passport mrn".split())
NATIONAL_ID_PHRASES = (
    ("social", "security"),
    ("social", "insurance"),
    ("national", "insurance"),
    ("national", "id"),
    ("national", "identifier"),
    ("health", "card"),
    ("nhs", "number"),
    ("nhs", "no"),
    ("medical", "record"),
    ("driver", "license"),
    ("driver", "licence"),
    ("drivers", "license"),
    ("drivers", "licence"),
    ("driving", "licence"),
    ("driving", "license"),
)
NUMBER_WORDS = frozenset("number numbers no nos num nr id ids identifier ref reference key".split())
BIRTH_WORDS = frozenset("dob birthdate birthdates birthday dateofbirth born".split())
DATE_WORDS = frozenset("date dt day dob".split())
YEAR_WORDS = frozenset("year yr yyyy decade".split())
ADDRESS_WORDS = frozenset("address addresses addr street streetaddress residence domicile".split())
PHONE_WORDS = frozenset(
    "phone phones telephone telephones tel mobile cell cellphone fax phonenumber telno".split()
)
EMAIL_WORDS = frozenset("email emails".split())
# Whole names that are an identifier once their words are run together ("DoB", "D.O.B.", "S.S.N.").
COMPACT = {
    **dict.fromkeys(("dob", "dateofbirth", "birthdate"), "birth date"),
    **dict.fromkeys(("ssn", "sin", "nino", "mrn"), "national id"),
    "email": "email",
}
# Person words written together with an id word ("ClaimantID" in capitals, "patientno").
PERSON_ID = re.compile(
    r"(claimant|patient|employee|applicant|member|beneficiary|worker)(id|no|num|nr|number|ref)"
)


def words(name: str) -> list[str]:
    """The lower-case words of a column name: "SSN_last4" -> ["ssn", "last", "4"]."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    spaced = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", ascii_name)
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", spaced)
    return re.findall(r"[a-z]+|[0-9]+", spaced.lower())


def _has_phrase(tokens: list[str], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    return any(tuple(tokens[i : i + n]) == phrase for i in range(len(tokens) - n + 1))


def _name_words(tokens: list[str]) -> list[str]:
    """Split run-together names ("CLAIMANTNAME" -> claimant name, "surname" -> sur name)."""
    out: list[str] = []
    for t in tokens:
        stem = t.removesuffix("s") if t.endswith("names") else t
        if t in NAME_SYNONYMS:
            out.append("name")
        elif stem.endswith("name") and len(stem) > 4:
            out += [stem[:-4], "name"]
        else:
            out.append(t)
    return out


def _names_a_person(tokens: list[str]) -> bool:
    """A name, unless the word before it (past first/last/...) or after "of" is not a person.

    "Claimant Surname", "first_name", "mothers_maiden_name": a person. "examiner_first_name",
    "Carrier Name", "District Name", "name_of_employer": a professional, business or place.
    """
    tokens = _name_words(tokens)
    for i, t in enumerate(tokens):
        if t not in ("name", "names"):
            continue
        j = i - 1
        while j >= 0 and tokens[j] in NAME_MODIFIERS:
            j -= 1
        whose = {tokens[j]} if j >= 0 else set()
        if i + 2 < len(tokens) and tokens[i + 1] == "of":
            whose.add(tokens[i + 2])
        if not whose & NOT_A_PERSON:
            return True
    return False


def identifier_kind(name: str) -> str | None:
    """The kind of claimant identifier a column name denotes, or None if it is none.

    Kinds: name, national id, birth date, address, phone, email, claimant id.
    """
    tokens = words(name)
    present = set(tokens)
    compact = "".join(tokens)
    if compact in COMPACT:
        return COMPACT[compact]
    if _names_a_person(tokens):
        return "name"
    if (
        present & NATIONAL_ID_WORDS
        or any(t.startswith("ssn") for t in tokens)
        or any(_has_phrase(tokens, p) for p in NATIONAL_ID_PHRASES)
        or any(
            _has_phrase(tokens, ("insurance", w)) for w in NUMBER_WORDS if w not in ("id", "ids")
        )
    ):
        return "national id"
    birth = present & BIRTH_WORDS or "birth" in present or any("birthdate" in t for t in tokens)
    if birth:
        # claimant_birth_year is canonical: a year alone is not a full birth date.
        if not (present & YEAR_WORDS and not present & DATE_WORDS and not present & BIRTH_WORDS):
            return "birth date"
    if present & ADDRESS_WORDS or any("address" in t for t in tokens):
        return "address"
    if present & PHONE_WORDS or any("phone" in t for t in tokens):
        return "phone"
    if (
        present & EMAIL_WORDS
        or _has_phrase(tokens, ("e", "mail"))
        or any("email" in t for t in tokens)
    ):
        return "email"
    for i, t in enumerate(tokens[:-1]):
        if t in PERSON and tokens[i + 1] in NUMBER_WORDS:
            return "claimant id"
    if any(PERSON_ID.fullmatch(t) for t in tokens):
        return "claimant id"
    return None


def is_identifier(name: str) -> bool:
    """True when a column of this name would hold a direct identifier of the claimant."""
    return identifier_kind(name) is not None


def register(con: duckdb.DuckDBPyConnection) -> None:
    """Make `is_identifier` callable from SQL as ime_is_identifier(name VARCHAR) -> BOOLEAN."""
    try:
        con.remove_function(SQL_FUNCTION)
    except duckdb.InvalidInputException:
        pass  # not registered on this connection yet
    con.create_function(
        SQL_FUNCTION,
        is_identifier,
        [duckdb.sqltypes.VARCHAR],
        duckdb.sqltypes.BOOLEAN,
        side_effects=False,
    )
