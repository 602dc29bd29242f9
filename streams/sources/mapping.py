"""The canonical market registry: every mapping of markets.md §3 (129 entries) plus early payout.

BetPawa's ``marketType.id`` is the canonical market id and its price names the canonical outcome
names; SportyBet markets (``id`` + ``specifier``) and Bet9ja odds keys (``S_<CODE>[@<PARAM>]_<SUFFIX>``)
are translated *into* those terms, never the other way. Each entry lists its outcomes as
``(betpawa name, sportybet desc, bet9ja suffix)``; ``None`` means the book has no such outcome (an
outcome without a BetPawa name is dropped, which makes the market incomplete).

Entries without a BetPawa id are competitor-only (``unsupported_platform``); entries without any
outcome can never produce a quote (``no_matching_outcomes``). The data below was generated once
from the table in markets.md and is checked against it by the tests.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from streams.sources.model import Outcome, Quote

__all__ = [
    "B9_HANDICAP_CODES",
    "B9_SPLITS",
    "B9_TOTAL_CODES",
    "EARLY_PAYOUT",
    "REGISTRY",
    "SB_HANDICAP_IDS",
    "SB_TIME_WINDOW_IDS",
    "SB_TOTAL_IDS",
    "SB_VARIANT_IDS",
    "MarketEntry",
    "OutcomeMap",
    "by_bet9ja",
    "by_betpawa",
    "by_sportybet",
    "canonical_outcomes",
    "fair_total",
    "merge_quotes",
]

# unmapped reasons (counted per market in ParsedEvent.unmapped)
UNKNOWN_MARKET: Final = "unknown_market"
UNSUPPORTED_PLATFORM: Final = "unsupported_platform"
UNKNOWN_PARAM_MARKET: Final = "unknown_param_market"
NO_MATCHING_OUTCOMES: Final = "no_matching_outcomes"
INVALID_SPECIFIER: Final = "invalid_specifier"
INVALID_ODDS: Final = "invalid_odds"


@dataclass(frozen=True, slots=True)
class OutcomeMap:
    betpawa: str | None
    sportybet: str | None
    bet9ja: str | None


@dataclass(frozen=True, slots=True)
class MarketEntry:
    canonical: str
    betpawa_id: str | None
    sportybet_id: str | None
    bet9ja_key: str | None  # "S_<CODE>"
    outcomes: tuple[OutcomeMap, ...]

    def betpawa_names(self) -> tuple[str, ...]:
        return tuple(o.betpawa for o in self.outcomes if o.betpawa is not None)

    def expected(self, book: str) -> frozenset[str]:
        """BetPawa names this book can supply (the full set for a complete market)."""
        return frozenset(o.betpawa for o in self.outcomes if o.betpawa is not None and getattr(o, book) is not None)


Triple = tuple[str | None, str | None, str | None]


def _e(canonical: str, bp: str | None, sb: str | None, b9: str | None, outcomes: Iterable[Triple]) -> MarketEntry:
    return MarketEntry(canonical, bp, sb, b9, tuple(OutcomeMap(*o) for o in outcomes))


def _correct_score_ft() -> tuple[Triple, ...]:
    shared = [f"{h}:{a}" for h in range(5) for a in range(5) if (h, a) not in ((3, 4), (4, 3), (4, 4))]
    rows: list[Triple] = [(s.replace(":", "-"), s, s) for s in shared]
    rows += [(s, None, None) for s in ("0-5", "0-6", "1-5", "5-0", "5-1", "6-0")]  # BetPawa only
    rows += [(None, s, s) for s in ("3:4", "4:3", "4:4")]  # competitors only: dropped
    rows.append(("Other", "Other", "OTH"))
    return tuple(rows)


CORRECT_SCORE_FT: Final = _correct_score_ft()

REGISTRY: Final[tuple[MarketEntry, ...]] = (
    _e("1x2_ft", "3743", "1", "S_1X2", (("1", "Home", "1"), ("X", "Draw", "X"), ("2", "Away", "2"))),
    _e(
        "double_chance_ft",
        "4693",
        "10",
        "S_DC",
        (("1X", "Home or Draw", "1X"), ("X2", "Draw or Away", "X2"), ("12", "Home or Away", "12")),
    ),
    _e("btts_ft", "3795", "29", "S_GGNG", (("Yes", "Yes", "Y"), ("No", "No", "N"))),
    _e("over_under_ft", "5000", "18", "S_OU", (("Over", "Over", "O"), ("Under", "Under", "U"))),
    _e(
        "htft",
        "4706",
        "47",
        "S_HTFT",
        (
            ("1/1", "Home/Home", "1/1"),
            ("1/X", "Home/Draw", "1/X"),
            ("1/2", "Home/Away", "1/2"),
            ("X/1", "Draw/Home", "X/1"),
            ("X/X", "Draw/Draw", "X/X"),
            ("X/2", "Draw/Away", "X/2"),
            ("2/1", "Away/Home", "2/1"),
            ("2/X", "Away/Draw", "2/X"),
            ("2/2", "Away/Away", "2/2"),
        ),
    ),
    _e("handicap_3way_ft", "4724", "14", "S_1X2HND", (("1", "Home", "1H"), ("X", "Draw", "XH"), ("2", "Away", "2H"))),
    _e("asian_handicap_ft", "3774", "16", "S_AH", (("1", "Home", "1"), ("2", "Away", "2"))),
    _e("draw_no_bet_ft", "4703", "11", "S_DNB", (("1", "Home", "1"), ("2", "Away", "2"))),
    _e("correct_score_ft", "4429", "45", "S_CSFT", CORRECT_SCORE_FT),
    _e("odd_even_ft", "4833", "26", "S_OE", (("Odd", "Odd", "OD"), ("Even", "Even", "EV"))),
    _e("1x2_1h", "3668", "60", "S_1X21T", (("1", "Home", "1"), ("X", "Draw", "X"), ("2", "Away", "2"))),
    _e("over_under_1h", "4958", "68", "S_OU1T", (("Over", "Over", "O"), ("Under", "Under", "U"))),
    _e("1x2_2h", "3685", "83", "S_1X22T", (("1", "Home", "1"), ("X", "Draw", "X"), ("2", "Away", "2"))),
    _e("1x2_10min", "28000173", "105", "S_1X21ST10MIN", (("1", "Home", "1"), ("X", "Draw", "X"), ("2", "Away", "2"))),
    _e("over_under_2h", "4976", "90", "S_OU2T", (("Over", "Over", "O"), ("Under", "Under", "U"))),
    _e("home_over_under_ft", "5006", "19", None, (("Over", "Over", None), ("Under", "Under", None))),
    _e("away_over_under_ft", "5003", "20", None, (("Over", "Over", None), ("Under", "Under", None))),
    _e(
        "haou_combined",
        None,
        None,
        "S_HAOU",
        ((None, None, "OH"), (None, None, "UH"), (None, None, "OA"), (None, None, "UA")),
    ),
    _e(
        "double_chance_1h",
        "4673",
        "63",
        "S_DC1T",
        (("1X", "Home or Draw", "1X"), ("X2", "Draw or Away", "X2"), ("12", "Home or Away", "12")),
    ),
    _e("btts_1h", "3789", "75", "S_GGNG1T", (("Yes", "Yes", "Y"), ("No", "No", "N"))),
    _e("draw_no_bet_1h", "4697", "64", "S_DNB1T", (("1", "Home", "1"), ("2", "Away", "2"))),
    _e("draw_no_bet_2h", "4700", "86", "S_DNB2T", (("1", "Home", "1"), ("2", "Away", "2"))),
    _e(
        "correct_score_1h",
        "3819",
        "81",
        "S_CS1T",
        (("0-0", "0:0", "0:0"), ("1-0", "1:0", "1:0"), ("0-1", "0:1", "0:1"), ("1-1", "1:1", "1:1")),
    ),
    _e("home_win_to_nil_ft", "5051", "33", "S_HOMEWINNIL", (("Yes", "Yes", "Y"), ("No", "No", "N"))),
    _e("away_win_to_nil_ft", "5042", "34", "S_AWAYWINNIL", (("Yes", "Yes", "Y"), ("No", "No", "N"))),
    _e("home_clean_sheet_ft", "3816", "31", "S_CLEANSH", (("Yes", "Yes", "Y"), ("No", "No", "N"))),
    _e("away_clean_sheet_ft", "3807", "32", "S_CLEANSA", (("Yes", "Yes", "Y"), ("No", "No", "N"))),
    _e("asian_handicap_1h", "3747", "66", "S_AH1T", (("1", "Home", "1"), ("2", "Away", "2"))),
    _e("handicap_3way_1h", "4716", "65", "S_1X2HNDHT", (("1", "Home", "1"), ("X", "Draw", "X"), ("2", "Away", "2"))),
    _e("odd_even_1h", "4794", "74", "S_OE1T", (("Odd", "Odd", "OD"), ("Even", "Even", "EV"))),
    _e("home_clean_sheet_1h", "3810", "76", None, (("Yes", "Yes", "Y"), ("No", "No", "N"))),
    _e("away_clean_sheet_1h", "3801", "77", None, (("Yes", "Yes", "Y"), ("No", "No", "N"))),
    _e("home_over_under_1h", "4964", "69", "S_HA1HOU", (("Over", "Over", "HO"), ("Under", "Under", "HU"))),
    _e("away_over_under_1h", "4961", "70", "S_HA1HOU", (("Over", "Over", "AO"), ("Under", "Under", "AU"))),
    _e(
        "exact_goals_1h",
        "4898",
        "71",
        "S_GOALS1T",
        (("0", "0", "0"), ("1", "1", "1"), ("2+", None, None), (None, "2", "2"), (None, "3+", "3")),
    ),
    _e("asian_handicap_2h", "3756", "88", "S_AH2T", (("1", "Home", "1"), ("2", "Away", "2"))),
    _e("handicap_3way_2h", "4720", "87", "S_1X2HND2TN", (("1", "Home", "1"), ("X", "Draw", "X"), ("2", "Away", "2"))),
    _e("btts_2h", "3792", "95", "S_GGNG2T", (("Yes", "Yes", "Y"), ("No", "No", "N"))),
    _e(
        "double_chance_2h",
        "4681",
        "85",
        "S_DC2T",
        (("1X", "Home or Draw", "1X"), ("X2", "Draw or Away", "X2"), ("12", "Home or Away", "12")),
    ),
    _e("odd_even_2h", "4809", "94", "S_OE2T", (("Odd", "Odd", "OD"), ("Even", "Even", "EV"))),
    _e(
        "correct_score_2h",
        "4063",
        "98",
        "S_CS2T",
        (("0-0", "0:0", "0:0"), ("1-0", "1:0", "1:0"), ("0-1", "0:1", "0:1"), ("1-1", "1:1", "1:1")),
    ),
    _e("home_clean_sheet_2h", "3813", "96", None, (("Yes", "Yes", "Y"), ("No", "No", "N"))),
    _e("away_clean_sheet_2h", "3804", "97", None, (("Yes", "Yes", "Y"), ("No", "No", "N"))),
    _e("home_over_under_2h", "4982", "91", "S_HA2HOU", (("Over", "Over", "HO"), ("Under", "Under", "HU"))),
    _e("away_over_under_2h", "4979", "92", "S_HA2HOU", (("Over", "Over", "AO"), ("Under", "Under", "AU"))),
    _e("exact_goals_2h", "4912", "93", "S_GOALS2T", (("0", "0", "0"), ("1", "1", "1"), ("2+", "2+", "2"))),
    _e("home_odd_even_ft", "4842", "27", "S_OEHOME", (("Odd", "Odd", "OD"), ("Even", "Even", "EV"))),
    _e("away_odd_even_ft", "4836", "28", "S_OEAWAY", (("Odd", "Odd", "OD"), ("Even", "Even", "EV"))),
    _e(
        "highest_scoring_half",
        "4728",
        "52",
        "S_HIGHHALF",
        (("First Half", "1st Half", "1"), ("Equal", "Equal", "E"), ("Second Half", "2nd Half", "2")),
    ),
    _e(
        "home_highest_scoring_half",
        "4736",
        "53",
        "S_HOMEHIGHHALF",
        (("First Half", "1st Half", "1"), ("Equal", "Equal", "E"), ("Second Half", "2nd Half", "2")),
    ),
    _e(
        "away_highest_scoring_half",
        "4732",
        "54",
        "S_AWAYHIGHHALF",
        (("First Half", "1st Half", "1"), ("Equal", "Equal", "E"), ("Second Half", "2nd Half", "2")),
    ),
    _e("home_win_both_halves", "1096805", "48", "S_HOMEWINBOTH", (("Yes", "Yes", "Y"), ("No", "No", "N"))),
    _e("away_win_both_halves", "1096808", "49", "S_AWAYWINBOTH", (("Yes", "Yes", "Y"), ("No", "No", "N"))),
    _e("home_win_either_half", "1096806", "50", "S_HOMEWINHALF", (("Yes", "Yes", "Y"), ("No", "No", "N"))),
    _e("away_win_either_half", "1096809", "51", "S_AWAYWINHALF", (("Yes", "Yes", "Y"), ("No", "No", "N"))),
    _e("home_score_both_halves", "1096807", "56", "S_HOMESCOREBOTH", (("Yes", "Yes", "Y"), ("No", "No", "N"))),
    _e("away_score_both_halves", "1096814", "57", "S_AWAYSCOREBOTH", (("Yes", "Yes", "Y"), ("No", "No", "N"))),
    _e(
        "exact_goals_ft",
        "4926",
        "21",
        "S_GOALS",
        (
            ("0", "0", "0"),
            ("1", "1", "1"),
            ("2", "2", "2"),
            ("3", "3", "3"),
            ("4", "4", "4"),
            ("5", "5", "5"),
            ("6+", "6+", "6"),
        ),
    ),
    _e(
        "home_exact_goals_ft",
        "4942",
        "23",
        "S_HOMEGOALS",
        (("0", "0", "0"), ("1", "1", "1"), ("2", "2", "2"), ("3+", "3+", "3")),
    ),
    _e(
        "away_exact_goals_ft",
        "4938",
        "24",
        "S_AWAYGOALS",
        (("0", "0", "0"), ("1", "1", "1"), ("2", "2", "2"), ("3+", "3+", "3")),
    ),
    _e(
        "which_team_to_score",
        "1096782",
        "30",
        "S_TTSCORE",
        (
            ("Home Team Only", "Home only", "H"),
            ("Away Team Only", "Away only", "A"),
            ("Both Teams", "Both Teams", "B"),
            ("Neither", "Neither", "N"),
        ),
    ),
    _e(
        "winning_margin",
        "28000209",
        "15",
        "S_WINMARGIN",
        (
            ("Home by 1", "Home by 1", "HT1"),
            ("Home by 2", "Home by 2", "HT2"),
            ("Home by 3+", "Home by 3+", "HT>2"),
            ("Draw", "Draw", "X"),
            ("Away by 1", "Away by 1", "AT1"),
            ("Away by 2", "Away by 2", "AT2"),
            ("Away by 3+", "Away by 3+", "AT>2"),
        ),
    ),
    _e(
        "1x2_over_under_ft",
        "1096755",
        "37",
        "S_1X2OU",
        (
            ("1 & Over", "Home & Over", "1O"),
            ("1 & Under", "Home & Under", "1U"),
            ("X & Over", "Draw & Over", "XO"),
            ("X & Under", "Draw & Under", "XU"),
            ("2 & Over", "Away & Over", "2O"),
            ("2 & Under", "Away & Under", "2U"),
        ),
    ),
    _e(
        "1x2_btts_ft",
        "3591790",
        "35",
        "S_1X2GGNG",
        (
            ("1 - Yes", "Home & Yes", "1ANDGG"),
            ("1 - No", "Home & No", "1ANDNG"),
            ("X - Yes", "Draw & Yes", "XANDGG"),
            ("X - No", "Draw & No", "XANDNG"),
            ("2 - Yes", "Away & Yes", "2ANDGG"),
            ("2 - No", "Away & No", "2ANDNG"),
        ),
    ),
    _e(
        "over_under_btts_ft",
        "4613062",
        "36",
        "S_OUGGNG",
        (
            ("Over & Yes", "Over & Yes", "OY"),
            ("Over & No", "Over & No", "ON"),
            ("Under & Yes", "Under & Yes", "UY"),
            ("Under & No", "Under & No", "UN"),
        ),
    ),
    _e(
        "double_chance_btts_ft",
        "28000014",
        "546",
        "S_DCGGNG",
        (
            ("1X - Yes", "Home or Draw & Yes", "1XGG"),
            ("1X - No", "Home or Draw & No", "1XNG"),
            ("X2 - Yes", "Draw or Away & Yes", "X2GG"),
            ("X2 - No", "Draw or Away & No", "X2NG"),
            ("12 - Yes", "Home or Away & Yes", "12GG"),
            ("12 - No", "Home or Away & No", "12NG"),
        ),
    ),
    _e(
        "double_chance_over_under_ft",
        "28000089",
        "547",
        "S_DCOU",
        (
            ("1X & Over", "Home or Draw & Over", "1XO"),
            ("1X & Under", "Home or Draw & Under", "1XU"),
            ("X2 & Over", "Draw or Away & Over", "X2O"),
            ("X2 & Under", "Draw or Away & Under", "X2U"),
            ("12 & Over", "Home or Away & Over", "12O"),
            ("12 & Under", "Home or Away & Under", "12U"),
        ),
    ),
    _e("htft_correct_score", "28000228", "46", "S_HTFTCS", ()),
    _e("htft_over_under", "28000279", "818", "S_HTFTOU", ()),
    _e(
        "multigoals_ft",
        "28000047",
        "548",
        "S_MULTIGOAL",
        (("0-1", "0-1 Goals", None), ("2-3", "2-3 Goals", None), ("4-5", "4-5 Goals", None), ("6+", "6+ Goals", None)),
    ),
    _e(
        "multigoals_1h",
        "28000065",
        "552",
        "S_MULTIGOAL1T",
        (("0-1", "0-1 Goals", None), ("2-3", "2-3 Goals", None), ("4+", "4+ Goals", None)),
    ),
    _e(
        "multigoals_2h",
        "28000071",
        "553",
        "S_MULTIGOAL2T",
        (("0-1", "0-1 Goals", None), ("2-3", "2-3 Goals", None), ("4+", "4+ Goals", None)),
    ),
    _e(
        "home_multigoals_ft",
        "28000077",
        "549",
        "S_TMGHO",
        (
            ("No goal", "0 Goals", None),
            ("1-2", "1-2 Goals", "HO12"),
            (None, None, "HO13"),
            (None, None, "HO23"),
            ("3+", "3+ Goals", None),
        ),
    ),
    _e(
        "away_multigoals_ft",
        "28000083",
        "550",
        "S_TMGAW",
        (
            ("No goal", "0 Goals", None),
            ("1-2", "1-2 Goals", "AW12"),
            (None, None, "AW13"),
            (None, None, "AW23"),
            ("3+", "3+ Goals", None),
        ),
    ),
    _e("multiscores_ft", "28000035", "551", None, ()),
    _e("corners_over_under_ft", "1096783", "166", "S_OUCORNERS", (("Over", "Over", "O"), ("Under", "Under", "U"))),
    _e("corners_over_under_1h", "1096784", "177", "S_OUCORNERS1T", (("Over", "Over", "O"), ("Under", "Under", "U"))),
    _e(
        "corners_1x2_ft", "1096787", "162", "S_1X2CORNERS", (("1", "Home", "1"), ("X", "Draw", "X"), ("2", "Away", "2"))
    ),
    _e(
        "corners_1x2_1h",
        "1096788",
        "173",
        "S_1X2CORNERS1T",
        (("1", "Home", "1"), ("X", "Draw", "X"), ("2", "Away", "2")),
    ),
    _e("corner_handicap_ft", "1096785", "165", "S_AHCORNERS", (("1", "Home", "1"), ("2", "Away", "2"))),
    _e("corner_handicap_1h", "1096786", "176", "S_AHCORNERS1T", (("1", "Home", "1"), ("2", "Away", "2"))),
    _e("home_corners_ft", "1096793", "900300", "S_CORNERSHOMEOU", (("Over", "Over", "HCO"), ("Under", "Under", "HCU"))),
    _e("home_corners_1h", "1096794", "900302", None, (("Over", "Over", None), ("Under", "Under", None))),
    _e("away_corners_ft", "1096797", "900301", "S_CORNERSAWAYOU", (("Over", "Over", "ACO"), ("Under", "Under", "ACU"))),
    _e("away_corners_1h", "1096802", "900303", None, (("Over", "Over", None), ("Under", "Under", None))),
    _e(
        "last_corner_ft",
        "1096795",
        "164",
        "S_LASTCORNER",
        (("Home", "Home", "1"), ("None", "None", "X"), ("Away", "Away", "2")),
    ),
    _e(
        "last_corner_1h",
        "1096796",
        "175",
        "S_LCH",
        (("Home", "Home", "1"), ("None", "None", "X"), ("Away", "Away", "2")),
    ),
    _e(
        "first_corner_ft",
        None,
        "163",
        "S_1STCORNER",
        (("Home", "Home", "1"), ("None", "None", "X"), ("Away", "Away", "2")),
    ),
    _e("corners_exact_ft", "1096803", "169", "S_NCORN", ()),
    _e("corners_exact_1h", "1096804", "182", None, ()),
    _e("corners_odd_even_ft", "1096789", "172", "S_OECORNER", (("Odd", "Odd", "OD"), ("Even", "Even", "EV"))),
    _e("corners_odd_even_1h", "1096790", "183", None, (("Odd", "Odd", None), ("Even", "Even", None))),
    _e("bookings_over_under_ft", "1096764", "139", "S_OUBOOK", (("Over", "Over", "O"), ("Under", "Under", "U"))),
    _e("bookings_over_under_1h", "1096765", "152", "S_OUBOOK1T", (("Over", "Over", "O"), ("Under", "Under", "U"))),
    _e("bookings_1x2_ft", "1096774", "136", "S_1X2BOOK", (("1", "Home", "1"), ("X", "Draw", "X"), ("2", "Away", "2"))),
    _e(
        "bookings_1x2_1h", "1096775", "149", "S_1X2BOOK1T", (("1", "Home", "1"), ("X", "Draw", "X"), ("2", "Away", "2"))
    ),
    _e(
        "first_card_ft", None, "137", "S_1STBOOK", (("Home", "Home", "1"), ("None", "None", "N"), ("Away", "Away", "2"))
    ),
    _e("bookings_exact_ft", "1096776", "142", "S_EXACTBOOK", ()),
    _e("bookings_exact_1h", "1096777", "155", None, ()),
    _e("home_bookings_ft", "1096768", "900304", "S_OUBOOKHOME", (("Over", "Over", "O"), ("Under", "Under", "U"))),
    _e("home_bookings_1h", "1096769", "900306", None, (("Over", "Over", "O"), ("Under", "Under", "U"))),
    _e("away_bookings_ft", "1096770", "900305", "S_OUBOOKAWAY", (("Over", "Over", "O"), ("Under", "Under", "U"))),
    _e("away_bookings_1h", "1096771", "900307", None, (("Over", "Over", "O"), ("Under", "Under", "U"))),
    _e("sending_off_ft", "1096766", "146", "S_SENDOFF", (("Yes", "Yes", "Y"), ("No", "No", "N"))),
    _e("home_sending_off_ft", "1096778", "147", "S_RCH", (("Yes", "Yes", "Y"), ("No", "No", "N"))),
    _e("away_sending_off_ft", "1096780", "148", "S_RCA", (("Yes", "Yes", "Y"), ("No", "No", "N"))),
    _e(
        "last_goal_ft",
        "4870",
        "9",
        "S_LASTGOAL",
        (("Home", "Home", "H"), ("No Goal", "No Goal", "N"), ("Away", "Away", "A")),
    ),
    _e(
        "double_chance_btts_1h",
        "28000021",
        "542",
        "S_DCGGNG1T",
        (
            ("1X - Yes", "Home or Draw & Yes", "1XGG1T"),
            ("1X - No", "Home or Draw & No", "1XNG1T"),
            ("X2 - Yes", "Draw or Away & Yes", "X2GG1T"),
            ("X2 - No", "Draw or Away & No", "X2NG1T"),
            ("12 - Yes", "Home or Away & Yes", "12GG1T"),
            ("12 - No", "Home or Away & No", "12NG1T"),
        ),
    ),
    _e(
        "double_chance_btts_2h",
        "28000028",
        "545",
        "S_DCGGNG2T",
        (
            ("1X - Yes", "Home or Draw & Yes", "1XGG2T"),
            ("1X - No", "Home or Draw & No", "1XNG2T"),
            ("X2 - Yes", "Draw or Away & Yes", "X2GG2T"),
            ("X2 - No", "Draw or Away & No", "X2NG2T"),
            ("12 - Yes", "Home or Away & Yes", "12GG2T"),
            ("12 - No", "Home or Away & No", "12NG2T"),
        ),
    ),
    _e("home_no_bet_ft", None, "12", "S_HOMENOBET", ((None, "Yes", "Y"), (None, "No", "N"))),
    _e("away_no_bet_ft", None, "13", "S_AWAYNOBET", ((None, "Yes", "Y"), (None, "No", "N"))),
    _e("first_goal_ft", None, "8", "S_1STGOAL", ((None, "Home", "H"), (None, "No Goal", "N"), (None, "Away", "A"))),
    _e("last_score_ft", None, None, "S_LASTSCORE", ((None, None, "H"), (None, None, "N"), (None, None, "A"))),
    _e("1x2_5min", None, "900069", "S_1X21ST5MIN", ((None, "Home", "1"), (None, "Draw", "X"), (None, "Away", "2"))),
    _e("home_win_1plus_ft", None, "60200", None, ((None, "Yes", None), (None, "No", None))),
    _e("home_win_2plus_ft", None, "60100", None, ((None, "Yes", None), (None, "No", None))),
    _e("home_or_clean_sheet_ft", None, "863", None, ((None, "Yes", None), (None, "No", None))),
    _e("draw_or_clean_sheet_ft", None, "864", None, ((None, "Yes", None), (None, "No", None))),
    _e("away_or_clean_sheet_ft", None, "865", None, ((None, "Yes", None), (None, "No", None))),
    _e("home_to_score_ft", None, "900015", None, ((None, "Yes", None), (None, "No", None))),
    _e("away_to_score_ft", None, "900014", None, ((None, "Yes", None), (None, "No", None))),
    _e("btts_2plus_ft", None, "60000", "S_GGNG2PLUS", ((None, "Yes", "Y"), (None, "No", "N"))),
    _e("btts_both_halves", None, "900027", None, ((None, "Yes", None), (None, "No", None))),
    _e("no_draw_btts_ft", None, "900041", None, ((None, "Yes", None), (None, "No", None))),
    _e("home_or_over_25_ft", None, "854", None, ((None, "Yes", None), (None, "No", None))),
    _e("draw_or_over_25_ft", None, "856", None, ((None, "Yes", None), (None, "No", None))),
    _e("away_or_over_25_ft", None, "858", None, ((None, "Yes", None), (None, "No", None))),
    _e("home_or_btts_ft", None, "860", None, ((None, "Yes", None), (None, "No", None))),
    _e("both_halves_over_15", None, "58", None, ((None, "Yes", None), (None, "No", None))),
)

# Early payout (markets.md §3, "not in the reference registry"): their own canonical markets,
# never merged with plain 1X2 / Double Chance. They take precedence over the reference's
# competitor-only readings of SportyBet 60200/60100 (confirmed from real capture: "1X2 - 1UP").
EARLY_PAYOUT: Final[tuple[MarketEntry, ...]] = (
    _e("1x2_1up_ft", "28000810", "60200", "S_1X21", (("1", "Home", "11"), ("X", "Draw", "X1"), ("2", "Away", "21"))),
    _e("1x2_2up_ft", "28000850", "60100", "S_1X22", (("1", "Home", "12"), ("X", "Draw", "X2"), ("2", "Away", "22"))),
    _e(
        "double_chance_1up_ft",
        "80000",
        "60110",
        "S_DC1X21",
        (("1X", "Home or Draw", "11"), ("X2", "Draw or Away", "X1"), ("12", "Home or Away", "121")),
    ),
)

# SportyBet id classes (markets.md §2): how the specifier gives the line.
SB_TOTAL_IDS: Final = frozenset(
    [
        "18",
        "68",
        "90",
        "19",
        "20",
        "69",
        "70",
        "91",
        "92",
        "166",
        "177",
        "139",
        "152",
        "37",
        "547",
        "818",
        "36",
    ]
    + [str(i) for i in range(900300, 900308)]
)
SB_HANDICAP_IDS: Final = frozenset(
    [
        "14",
        "16",
        "65",
        "66",
        "87",
        "88",
        "165",
        "176",
    ]
)
SB_VARIANT_IDS: Final = frozenset(
    [
        "21",
        "23",
        "24",
        "71",
        "93",
        "15",
        "548",
        "549",
        "550",
        "551",
        "552",
        "553",
    ]
)
SB_TIME_WINDOW_IDS: Final = frozenset({"105"})

# Bet9ja code classes (markets.md §2).
B9_TOTAL_CODES: Final = frozenset(
    [
        "OU",
        "OU1T",
        "OU2T",
        "OUCORNERS",
        "OUCORNERS1T",
        "CORNERSHOMEOU",
        "CORNERSAWAYOU",
        "OUBOOK",
        "OUBOOK1T",
        "OUBOOKHOME",
        "OUBOOKAWAY",
        "HTFTOU",
        "1X2OU",
        "DCOU",
    ]
)
B9_HANDICAP_CODES: Final = frozenset(
    [
        "AH",
        "AH1T",
        "AH2T",
        "1X2HND",
        "1X2HNDHT",
        "1X2HND2TN",
        "AHCORNERS",
        "AHCORNERS1T",
    ]
)
# Combined home/away O/U codes split into two canonical markets: code -> ((betpawa id, {suffix: name}), ...).
B9_SPLITS: Final[Mapping[str, tuple[tuple[str, Mapping[str, str]], ...]]] = {
    "HAOU": (
        ("5006", {"OH": "Over", "UH": "Under", "HO": "Over", "HU": "Under"}),
        ("5003", {"OA": "Over", "UA": "Under", "AO": "Over", "AU": "Under"}),
    ),
    "HA1HOU": (
        ("4964", {"HO": "Over", "HU": "Under", "OH": "Over", "UH": "Under"}),
        ("4961", {"AO": "Over", "AU": "Under", "OA": "Over", "UA": "Under"}),
    ),
    "HA2HOU": (
        ("4982", {"HO": "Over", "HU": "Under", "OH": "Over", "UH": "Under"}),
        ("4979", {"AO": "Over", "AU": "Under", "OA": "Over", "UA": "Under"}),
    ),
}


def _index(key: str) -> dict[str, MarketEntry]:
    out: dict[str, MarketEntry] = {}
    for entry in (*EARLY_PAYOUT, *REGISTRY):  # early payout first: it wins a shared key
        value = getattr(entry, key)
        if value is not None:
            out.setdefault(value, entry)
    return out


_BY_BETPAWA: Final = _index("betpawa_id")
_BY_SPORTYBET: Final = _index("sportybet_id")
_BY_BET9JA: Final = _index("bet9ja_key")


def by_betpawa(market_id: str) -> MarketEntry | None:
    return _BY_BETPAWA.get(market_id)


def by_sportybet(market_id: str) -> MarketEntry | None:
    return _BY_SPORTYBET.get(market_id)


def by_bet9ja(key: str) -> MarketEntry | None:
    """The entry of a Bet9ja key prefix ``S_<CODE>``."""
    return _BY_BET9JA.get(key)


# --------------------------------------------------------------------------------------------------
# Fair totals: how many outcomes of a complete set win on any one result (markets.md §4, §7)
# --------------------------------------------------------------------------------------------------
#
# The rule, read off each entry's BetPawa outcome names (never a list of ids):
#
# 1. Unknown (None): an id no entry has; an entry of ``EARLY_PAYOUT`` (an early payout settles a bet
#    as won before the result, so two selections can both win and no total is fixed: BetPawa's 1X2 1UP
#    chances sum to 1.34); an entry without BetPawa outcome names; and a set that does not cover every
#    result: one made only of scores or goal ranges ("2-1", "0-1") without a catch-all ("Other" or an
#    open-ended "n+"), such as the 1H/2H correct scores of four scores.
# 2. Otherwise a name is a conjunction of legs joined by " - " or " & " ("1X - Yes", "1 & Over"). At
#    each leg position the legs seen are the results of that part of the market, except that a
#    position whose legs are exactly the double chances 1X, X2 and 12 stands for the three results
#    1, X and 2, each leg winning on two of them. The results of the market are every combination of
#    one result per position; the fair total is the number of outcomes winning on each of them when
#    that number is the same for all (1 for a partition, 2 for every double chance set), else None.
#
# Lines are no part of it: handicaps and totals with a push (whole lines, Draw No Bet) are priced
# conditional on no push, so their two outcomes still partition the results that settle.

_LEG_SEPARATOR: Final = re.compile(r" - | & ")
_DOUBLE_CHANCE: Final[Mapping[str, frozenset[str]]] = {
    "1X": frozenset({"1", "X"}),
    "X2": frozenset({"X", "2"}),
    "12": frozenset({"1", "2"}),
}
_SCORE_OR_RANGE: Final = re.compile(r"\d+-\d+")
_OPEN_RANGE: Final = re.compile(r"\d+\+")
_CATCH_ALL: Final = "Other"


def _covers_every_result(names: tuple[str, ...]) -> bool:
    """False for a set of scores or goal ranges only, unless a catch-all closes it."""
    counted = [n for n in names if _SCORE_OR_RANGE.fullmatch(n) or _OPEN_RANGE.fullmatch(n) or n == _CATCH_ALL]
    if len(counted) < len(names):
        return True
    return any(n == _CATCH_ALL or _OPEN_RANGE.fullmatch(n) for n in names)


def _winners_per_result(names: tuple[str, ...]) -> int | None:
    """How many of ``names`` win on each result (rule 2 above), None when it is not one number."""
    legs = [tuple(_LEG_SEPARATOR.split(name)) for name in names]
    width = len(legs[0])
    if any(len(leg) != width for leg in legs) or len(set(legs)) != len(legs):
        return None
    wins: list[dict[str, frozenset[str]]] = []  # per position: leg -> the results it wins on
    for j in range(width):
        column = {leg[j] for leg in legs}
        if column == set(_DOUBLE_CHANCE):
            wins.append(dict(_DOUBLE_CHANCE))
        else:
            wins.append({leg: frozenset({leg}) for leg in column})
    results = itertools.product(*(sorted(frozenset().union(*w.values())) for w in wins))
    counts = {sum(all(result[j] in wins[j][leg[j]] for j in range(width)) for leg in legs) for result in results}
    return counts.pop() if len(counts) == 1 and 0 not in counts else None


def _fair_total(entry: MarketEntry) -> float | None:
    names = entry.betpawa_names()
    if entry in EARLY_PAYOUT or not names or not _covers_every_result(names):
        return None
    winners = _winners_per_result(names)
    return None if winners is None else float(winners)


_FAIR_TOTALS: Final[Mapping[str, float | None]] = {mid: _fair_total(e) for mid, e in _BY_BETPAWA.items()}


def fair_total(market_id: str) -> float | None:
    """The sum of the fair probabilities of the market's complete outcome set: 1.0 where the outcomes
    partition the results, 2.0 where each result is covered by two (double chance), None where it is
    unknown (early payout, an unknown id, no canonical outcomes). The rule is stated above."""
    return _FAIR_TOTALS.get(market_id)


def canonical_outcomes(market_id: str) -> frozenset[str] | None:
    """The BetPawa names of the market's complete outcome set; None for an unknown id or no names."""
    entry = _BY_BETPAWA.get(market_id)
    if entry is None:
        return None
    names = entry.betpawa_names()
    return frozenset(names) if names else None


def market_name(entry: MarketEntry) -> str:
    return entry.canonical


def merge_quotes(quotes: Iterable[Quote]) -> tuple[Quote, ...]:
    """Quotes merged by (market id, line): partial records of one market become one outcome set.

    The first outcome of a name wins; a merged quote is complete only if every part was.
    """
    merged: dict[tuple[str, float | None], Quote] = {}
    for quote in quotes:
        key = (quote.market_id, quote.line)
        seen = merged.get(key)
        if seen is None:
            merged[key] = quote
            continue
        names = {o.name for o in seen.outcomes}
        extra = tuple(o for o in quote.outcomes if o.name not in names)
        merged[key] = Quote(
            market_id=seen.market_id,
            market_name=seen.market_name,
            line=seen.line,
            outcomes=seen.outcomes + extra,
            complete=seen.complete and quote.complete,
        )
    return tuple(merged.values())


def outcome(name: str, odds: float | None, active: bool) -> Outcome:
    """An outcome from a competitor price: locked (odds <= 1) or inactive prices are suspended."""
    if odds is None or odds <= 1.0 or not active:
        return Outcome(name=name, price=None, suspended=True)
    return Outcome(name=name, price=odds, suspended=False)
