"""Times in free text, as months before the screening date.

"2 months ago", "x 3 yrs", "sober six years", "in March", "MI 2/2024", "until 2019",
"last summer", "years ago". A partial date is read as the latest day it can mean, so an
event never looks older, and a remission never looks longer, than the text allows. Vague
times give a lower bound ("years ago" is at least two years; "weeks ago" at least two
weeks) or, when not even that is known ("in college"), only that it was in the past.
"""

from __future__ import annotations

import calendar
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta

DAYS_PER_MONTH = 365.25 / 12
_UNIT_MONTHS = {
    "d": 1 / DAYS_PER_MONTH,
    "w": 7 / DAYS_PER_MONTH,
    "m": 1.0,
    "y": 12.0,
}
_MONTHS = {
    name.lower(): index
    for index in range(1, 13)
    for name in (calendar.month_name[index], calendar.month_abbr[index])
}
_MONTHS["sept"] = 9
_SEASON_END = {"winter": 2, "spring": 5, "summer": 8, "fall": 11, "autumn": 11}

_UNIT = r"(?P<unit>days?|d|weeks?|wks?|w|months?|mos?|mths?|years?|yrs?|y)(?!\s*-?\s*(?:old\b|o\b|/o))"
_MONTH = r"(?P<month>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"


@dataclass(frozen=True)
class TimeMention:
    """A time found in a sentence.

    Args:
        start: character offset in the sentence.
        end: end offset in the sentence.
        text: the words.
        months: months before the screening date (or the length of a state); ``None``
            when only "in the past" is known.
        at_least: ``months`` is a lower bound ("years ago").
        habit: a frequency ("daily", "currently"): it goes on now.
        kind: ``point`` (an event's time: "2 months ago", "in 2019", "until 2023"),
            ``since`` (the start of something that goes on: "since 2019") or
            ``length`` (how long: "for 5 years", "x 3 yrs", "six years").
    """

    start: int
    end: int
    text: str
    months: float | None
    at_least: bool = False
    habit: bool = False
    kind: str = "point"


def find_times(
    sentence: str, today: date, number_words: Mapping[str, float]
) -> list[TimeMention]:
    """Every time mention in a sentence, left to right, without overlaps."""
    patterns = _patterns(_number_pattern(tuple(number_words)))
    found: list[TimeMention] = []
    taken: list[tuple[int, int]] = []
    for kind, pattern in patterns:
        for match in pattern.finditer(sentence):
            span = match.span()
            if any(span[0] < end and start < span[1] for start, end in taken):
                continue
            mention = _read(kind, match, today, number_words)
            if mention is not None:
                mention = _with_kind(mention, sentence, kind == "duration")
                found.append(mention)
                taken.append(span)
    return sorted(found, key=lambda m: m.start)


_AGO = re.compile(r"(?:ago|prior|back|earlier|before)$", re.IGNORECASE)
_SINCE = re.compile(
    r"\b(?:since|from)\s+(?:early\s+|late\s+|mid-?\s*)?$", re.IGNORECASE
)


def _with_kind(mention: TimeMention, sentence: str, duration: bool) -> TimeMention:
    if mention.habit:
        return mention
    before = sentence[max(0, mention.start - 14) : mention.start]
    if _SINCE.search(before):
        return replace(mention, kind="since")
    if duration and not _AGO.search(mention.text.strip()):
        return replace(mention, kind="length")  # "for 5 years", "x 3 yrs"
    return mention


def _read(
    kind: str, match: re.Match[str], today: date, words: Mapping[str, float]
) -> TimeMention | None:
    groups = match.groupdict()
    text = match.group(0)
    start, end = match.span()
    if kind == "duration":
        n = _to_number(groups["n"], words)
        if n is None:
            return None
        shorthand = "w" if groups.get("weeks") else "m" if groups.get("months") else ""
        return TimeMention(start, end, text, n * _unit(shorthand or groups["unit"]))
    if kind == "vague":
        unit = _unit(groups["unit"])
        least = {"d": 2, "w": 2, "m": 2, "y": 2}[groups["unit"][0].lower()]
        return TimeMention(start, end, text, least * unit, at_least=True)
    if kind == "relative":
        return _relative(groups, start, end, text, today)
    if kind == "date":
        day = _latest_day(groups, today)
        if day is None or day > today:
            return None
        return TimeMention(start, end, text, _months_between(day, today))
    return TimeMention(start, end, text, None)  # "in college": past, not how long


def _relative(
    groups: dict[str, str | None], start: int, end: int, text: str, today: date
) -> TimeMention | None:
    if groups.get("habit"):
        return TimeMention(start, end, text, 0.0, habit=True)
    word = (groups.get("rel") or "").lower()
    if word in ("yesterday", "last night", "this morning", "today", "tonight"):
        return TimeMention(start, end, text, 0.0)
    if word.startswith("this "):
        return TimeMention(start, end, text, 0.0)
    unit = (groups.get("relunit") or "").lower()
    if unit in _SEASON_END:
        # "last summer": the end of the most recent such season before now
        month = _SEASON_END[unit]
        year = today.year if month < today.month else today.year - 1
        day = date(year, month, calendar.monthrange(year, month)[1])
        return TimeMention(start, end, text, _months_between(day, today))
    if unit in ("week", "weekend", "month", "year"):
        return TimeMention(start, end, text, _UNIT_MONTHS[unit[0]])
    return None


def _latest_day(groups: dict[str, str | None], today: date) -> date | None:
    year_text = groups.get("year") or groups.get("year2")
    month_text = groups.get("month") or groups.get("nmonth") or groups.get("nmonth2")
    season = (groups.get("season") or "").lower()
    year = _year(year_text) if year_text else None
    if month_text is not None:
        month = (
            int(month_text)
            if month_text.isdigit()
            else _MONTHS.get(month_text.lower()[:4].rstrip("."))
            or _MONTHS.get(month_text.lower()[:3])
        )
        if month is None or not 1 <= month <= 12:
            return None
        if year is None:
            # "in March": the most recent March that has begun; "last June" in June
            # is a year ago
            last = (groups.get("prefix") or "").lower() == "last"
            year = (
                today.year
                if month < today.month or (month == today.month and not last)
                else today.year - 1
            )
        if date(year, month, 1) > today:
            return None  # not yet
        return min(today, date(year, month, calendar.monthrange(year, month)[1]))
    if season and season in _SEASON_END:
        end_month = _SEASON_END[season]
        if year is None:
            year = today.year if end_month < today.month else today.year - 1
        if season == "winter":
            year += 1 if year_text else 0  # winter 2024 ends in February 2025
        return min(
            today, date(year, end_month, calendar.monthrange(year, end_month)[1])
        )
    if year is not None and date(year, 1, 1) <= today:
        return min(today, date(year, 12, 31))
    return None


def _year(text: str) -> int | None:
    value = int(text)
    if value < 100:
        value += 2000
    return value if 1900 <= value <= 2100 else None


def _months_between(day: date, today: date) -> float:
    return max(0.0, (today - day) / timedelta(days=1) / DAYS_PER_MONTH)


def _unit(text: str) -> float:
    return _UNIT_MONTHS[text[0].lower()]


def _to_number(text: str | None, words: Mapping[str, float]) -> float | None:
    if text is None:
        return None
    cleaned = text.strip().lower()
    try:
        return float(cleaned)
    except ValueError:
        return words.get(cleaned)


@functools.cache
def _number_pattern(words: tuple[str, ...]) -> str:
    """Digits, or one of the number words (longest first)."""
    names = sorted(words, key=len, reverse=True)
    alternatives = "|".join(re.escape(n) for n in names)
    return rf"(?P<n>\d+(?:\.\d+)?|(?:{alternatives})\b)"


_CACHE: dict[str, list[tuple[str, re.Pattern[str]]]] = {}


def _patterns(number: str) -> list[tuple[str, re.Pattern[str]]]:
    cached = _CACHE.get(number)
    if cached is not None:
        return cached
    flags = re.IGNORECASE
    year = r"(?P<year>(?:19|20)\d\d)"
    patterns = [
        # 3/2024, 03/2024, 3/15/2024, 2024-03
        (
            "date",
            re.compile(
                r"(?<![\d/])(?P<nmonth>0?[1-9]|1[0-2])/(?:\d{1,2}/)?(?P<year>(?:19|20)\d\d)\b"
                r"|\b(?P<year2>(?:19|20)\d\d)-(?P<nmonth2>0[1-9]|1[0-2])\b",
                flags,
            ),
        ),
        # March 2024, Mar '24, March of 2023
        (
            "date",
            re.compile(
                rf"\b{_MONTH}\.?,?\s+(?:of\s+)?(?:{year}|'(?P<year2>\d\d))\b",
                flags,
            ),
        ),
        # in March, since March, last March, early June ("may" alone is a verb)
        (
            "date",
            re.compile(
                rf"\b(?P<prefix>in|since|until|till|through|by|from|last|during|around|before|after|of)\s+(?:early\s+|late\s+|mid-?\s*)?{_MONTH}\b",
                flags,
            ),
        ),
        (
            "date",
            re.compile(
                rf"\b(?:(?:last|this)\s+)?(?P<season>winter|spring|summer|fall|autumn)\s+(?:of\s+)?{year}\b",
                flags,
            ),
        ),
        # in 2019, since 2019, until 2019, 2019
        (
            "date",
            re.compile(
                rf"(?<![\d/.-]){year}(?![\d/])(?!\s*(?:mg|mcg|ml|units?|iu|kcal|cal|mmhg|%))",
                flags,
            ),
        ),
        # clinical shorthand: 10/52 (weeks), 3/12 ago (months)
        (
            "duration",
            re.compile(
                r"(?:\bx\s*|×\s*)?(?<![\d/])(?P<n>\d{1,2})/(?:(?P<weeks>52)\b|(?P<months>12)(?=\s+ago\b))"
                r"(?:\s*(?:ago|prior|back|earlier|before))?",
                flags,
            ),
        ),
        (
            "duration",
            re.compile(
                rf"(?:\bx\s*|×\s*)?\b{number}(?:ish)?\s*(?:-|\s)?\s*(?:\+\s*)?{_UNIT}\b(?:\s*(?:ago|prior|back|earlier|before))?",
                flags,
            ),
        ),
        (
            "duration",
            re.compile(
                rf"(?:\bx|×)\s*(?P<n>\d+(?:\.\d+)?)\s*{_UNIT}\b",
                flags,
            ),
        ),
        (
            "vague",
            re.compile(
                rf"\b(?:(?:many|several|a\s+few|few|some|a\s+couple(?:\s+of)?)\s+)?{_UNIT}\s+(?:ago|back|earlier|before)\b",
                flags,
            ),
        ),
        (
            "relative",
            re.compile(
                r"\b(?P<rel>yesterday|last\s+night|this\s+morning|today|tonight|this\s+(?:week|month))\b"
                r"|\b(?:last|past|previous)\s+(?P<relunit>week|weekend|month|year|winter|spring|summer|fall|autumn)\b"
                r"|\b(?P<habit>daily|nightly|every\s+(?:day|night|morning|evening|weekend)|most\s+(?:days|nights|weekends)|on\s+weekends|weekly|currently|ongoing|still\s+(?:uses|using|drinks|drinking|smokes|smoking))\b",
                flags,
            ),
        ),
        (
            "past",
            re.compile(
                r"\b(?:in|during|since)\s+(?:college|high\s+school|grad(?:uate)?\s+school|university|(?:her|his|my|their)\s+(?:teens|twenties|thirties|20s|30s|youth|childhood))\b"
                r"|\bas\s+a\s+(?:teen(?:ager)?|kid|child|young\s+adult|student)\b"
                r"|\b(?:decades|long)\s+ago\b|\byears\s+and\s+years\s+ago\b",
                flags,
            ),
        ),
    ]
    _CACHE[number] = patterns
    return patterns
