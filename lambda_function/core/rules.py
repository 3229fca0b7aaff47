"""What a customer may send, on every path: the one home of each input rule.

/v1 (pydantic and its msgspec fast path), the Open Inference Protocol (JSON and binary tensors),
CSV and Parquet files, and dataset jobs all apply these definitions, each with its own decoder;
tests/rules/test_differential.py sends the same customers through every path and checks that each is
scored with the same probability everywhere or refused everywhere. README "Input rules" is this
module in a table.

- **customer_ID**: text of 1 to ID_MAX_LENGTH characters, not all blank. Required.
- **Blank**: made only of the BLANK characters (what Python's `str.isspace` calls white space;
  the same set in every regular-expression engine here, written out, as `\\s` differs between them).
- **S_2**: text; blanks around it are ignored, and a blank or absent S_2 is a missing date (the
  customer's earliest statement); otherwise a real calendar date YYYY-MM-DD, optionally followed by a
  time of day and an offset, which are ignored. Numbers and booleans are refused.
- **A model input that is numeric**: a number (JSON number; V2 FP/INT/UINT tensor; a numeric Parquet
  column; a CSV cell that reads as a number). Missing: JSON null or absent, a Parquet null, an empty
  CSV cell, and NaN where the encoding has it (binary tensors, Parquet, CSV `nan`). An infinite
  number is refused. Text is refused.
- **A model input that is categorical**: text of at most CODE_MAX_LENGTH characters or a number;
  `0`, `0.0`, `"0"` and `"0.0"` are one category; blank text is missing. A value never seen in
  training encodes as all zeros (reported as unseen).
- **Booleans** are neither numbers nor categories: refused in every model input (JSON true, a V2
  BOOL tensor, a Parquet boolean column).
- **Missing spellings**: only the ones above. In a CSV file, only an empty cell is missing: `NA`,
  `null`, `N/A` are text, as they are in JSON and Parquet.
- **Other fields**: fields of the AmEx layout that the model does not read, and fields outside it,
  are not read, whatever their type; /v1 names the unknown ones in `warnings`.
- **Limits**: MAX_BATCH customers per HTTP request (at least 1, settings.py); explain at most
  MAX_EXPLAIN reasons per customer.
"""

from __future__ import annotations

# Python's str.isspace() characters, written out: every engine reads a character class of
# literal characters alike, where `\s` means a different set in each (Python, Rust, RE2, ECMA).
BLANK = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
NOT_BLANK_PATTERN = f"[^{BLANK}]"  # somewhere in the text: it is not blank

ID_MAX_LENGTH = 256
CUSTOMER_ID_RULE = f"a string of 1 to {ID_MAX_LENGTH} characters, not all blank"

CODE_MAX_LENGTH = 64  # a categorical's value sent as text
MAX_EXPLAIN = 20

# A statement date: a real calendar date YYYY-MM-DD, optionally with a time of day and an offset,
# which are ignored (a statement is a day's). One regular expression, read alike by pyarrow (RE2),
# pydantic (Rust), Python and the published JSON schema; [0-9], not \\d, which some engines read
# as any Unicode digit.
_YEAR = "(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})"
_MONTH_DAY = (
    "(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    "|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    "|02-(?:0[1-9]|1[0-9]|2[0-8]))"
)
_LEAP_YEAR = "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
_TIME = (
    "(?:[T ](?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:[.][0-9]{1,9})?)?"
    "(?:Z|[+-](?:[01][0-9]|2[0-3])(?::?[0-5][0-9])?)?)?"
)
_DATE = f"(?:{_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29){_TIME}"
STATEMENT_DATE_PATTERN = f"^{_DATE}$"  # the text once stripped of blanks
# What a client may send as S_2 text: a date with blanks around it, or only blanks (missing).
STATEMENT_DATE_TEXT_PATTERN = f"^[{BLANK}]*(?:{_DATE})?[{BLANK}]*$"
STATEMENT_DATE_RULE = "a date YYYY-MM-DD, optionally with a time of day hh:mm[:ss[.f]] and an offset"

# In CSV files, the cells that mean "missing": only the empty one. pyarrow's default list
# (NA, N/A, null, nan, ...) would read a D_64 of "NA", or a customer "null", as missing.
CSV_MISSING = [""]


def is_blank(text: str) -> bool:
    """Empty, or only BLANK characters (str.strip removes exactly those)."""
    return not text.strip()
