"""The template linter: Meta's hard rules and our policy heuristics, as one pure function.

`lint_template(...)` takes a template in Meta's shape (the body of
`POST /{waba-id}/message_templates`) and returns findings; it never touches the database, so the
editor, the API, the review queue and the submission step can all call it. Facts and limits come
from `shared/meta-platform.md` §3.4 (components and limits), §3.5 (parameter rules) and §3.6
(review, category).

Severities: `error` is something Meta rejects (or a hard rule of ours that mirrors one);
`warning` is a policy heuristic that often leads to rejection, re-categorisation or low quality;
`info` is a fact worth knowing that is not a problem in itself. Codes are stable: the UI and
clients may key on them; messages are for people and may change.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Finding:
    severity: Severity
    code: str
    message: str
    component: str | None = None


# --- Limits (meta-platform.md §3.4, §3.5) -----------------------------------------------------
NAME_MAX = 512
HEADER_TEXT_MAX = 60
HEADER_PARAMS_MAX = 1
BODY_MAX = 1024
FOOTER_MAX = 60
BUTTONS_MAX = 10
BUTTON_TYPE_MAX = {"QUICK_REPLY": 10, "URL": 2, "PHONE_NUMBER": 1, "COPY_CODE": 1, "OTP": 1}
BUTTON_LABEL_MAX = 25
URL_MAX = 2000
URL_VARIABLES_MAX = 1
PHONE_MAX = 20
COPY_CODE_EXAMPLE_MAX = 15
AUTH_PARAM_MAX = 15
# Authentication templates (Meta's authentication-templates guide: the library body, the
# expiry footer and the OTP button). Not in §3.4's table; kept here with the other limits.
CODE_EXPIRATION_MIN, CODE_EXPIRATION_MAX = 1, 90
OTP_TYPES = ("COPY_CODE", "ONE_TAP", "ZERO_TAP")
OTP_APP_TYPES = ("ONE_TAP", "ZERO_TAP")  # autofill needs the Android app that receives it
OTP_SUPPORTED_APPS_MAX = 5
OTP_SIGNATURE_HASH_LEN = 11
OTP_PACKAGE_MAX = 224

CATEGORIES = ("MARKETING", "UTILITY", "AUTHENTICATION")
PARAMETER_FORMATS = ("positional", "named")
COMPONENT_TYPES = ("HEADER", "BODY", "FOOTER", "BUTTONS")
HEADER_FORMATS = ("TEXT", "IMAGE", "VIDEO", "GIF", "DOCUMENT", "LOCATION")
MEDIA_HEADER_FORMATS = ("IMAGE", "VIDEO", "GIF", "DOCUMENT")
LOCATION_CATEGORIES = ("UTILITY", "MARKETING")
# Types we check in detail, plus the other types Meta documents ("VOICE_CALL, OTP, MPM, SPM and
# others"); a type outside both lists gets an info finding rather than a guess.
KNOWN_BUTTON_TYPES = frozenset(
    {"QUICK_REPLY", "URL", "PHONE_NUMBER", "COPY_CODE", "OTP", "VOICE_CALL", "MPM", "SPM"}
    | {"CATALOG", "FLOW", "APP"}
)
LABEL_REQUIRED = frozenset({"QUICK_REPLY", "URL", "PHONE_NUMBER", "VOICE_CALL"})
OTP_BUTTON_TYPES = frozenset({"COPY_CODE", "OTP"})

# Parameter-to-words ratio (error 2388293, "Parameters words ratio exceeds limit"). Meta does not
# publish the limit. BSPs that reverse-engineered it (Syniverse, Mercuri) found that
#     words + parameters >= 3 * parameters + 1,   i.e.   words >= 2 * parameters + 1,
# counting the words outside the parameters. "Hello {{1}}, your order {{2}} for {{3}} will be
# delivered by {{4}}." (8 words, 4 parameters) is rejected; adding "today" (9) passes. We use
# exactly that threshold: it is the most conservative published one and is easy to explain.
RATIO_WORDS_PER_PARAM = 2
RATIO_EXTRA_WORDS = 1
# Languages written without spaces between words: counting words there means nothing, so the
# ratio check is skipped for them rather than raising false errors.
NO_SPACE_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "km", "my"})

# --- Regexes (compiled once at import) ---------------------------------------------------------
NAME_RE = re.compile(r"[a-z0-9_]+")
# An Android application id: two or more dot-separated parts, each starting with a letter.
PACKAGE_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)+")
SIGNATURE_HASH_RE = re.compile(r"[A-Za-z0-9+/]{11}")
# Language codes as Meta lists them: `en`, `fil`, `en_US`, `pt_BR`, `zh_HK`.
LANGUAGE_RE = re.compile(r"[a-z]{2,3}(?:_[A-Z]{2,4})?")
LANGUAGE_LOOSE_RE = re.compile(r"([a-zA-Z]{2,3})[-_ ]([a-zA-Z]{2,4})")
PARAM_RE = re.compile(r"\{\{([^{}]*)\}\}")
POSITIONAL_RE = re.compile(r"[0-9]+")
# Named parameters: lowercase with underscores (`first_name`); digits are allowed after the first
# character (`line_2`) but a name never starts with one, so it cannot be taken for a position.
NAMED_RE = re.compile(r"[a-z_][a-z0-9_]*")
SPECIAL_IN_PARAM_RE = re.compile(r"[#$%]")
WORD_RE = re.compile(r"\w+(?:['\u2019.\-]\w+)*")
SEPARATOR_RE = re.compile(r"\s*")

_EMOJI_CHAR = (
    "\U0001f000-\U0001f0ff\U0001f100-\U0001f1ff\U0001f200-\U0001f2ff"
    "\U0001f300-\U0001f5ff\U0001f600-\U0001f64f\U0001f680-\U0001f6ff\U0001f700-\U0001f7ff"
    "\U0001f900-\U0001f9ff\U0001fa70-\U0001faff\u2600-\u26ff\u2700-\u27bf\u2b50\u2b55\u231a"
    "\u231b\u23e9-\u23f3\u23f8-\u23fa"
)
# One displayed emoji: a symbol with its variation selector / skin tone, ZWJ-joined sequences
# (one family emoji, not three) and flag pairs.
_EMOJI_CLUSTER = (
    rf"(?:[\U0001f1e6-\U0001f1ff]{{2}}|[{_EMOJI_CHAR}][\ufe0f\U0001f3fb-\U0001f3ff]*"
    rf"(?:\u200d[{_EMOJI_CHAR}][\ufe0f\U0001f3fb-\U0001f3ff]*)*)"
)
EMOJI_RE = re.compile(_EMOJI_CLUSTER)
EMOJI_RUN_RE = re.compile(rf"{_EMOJI_CLUSTER}(?:\s*{_EMOJI_CLUSTER}){{2,}}")
PUNCTUATION_RUN_RE = re.compile(r"[!?]{2,}|\.{4,}")
# Words of four or more letters in capitals; three different ones read as shouting. Four letters
# keeps common acronyms (OTP, PIN, FAQ, USA) out; STOP and HELP are what opt-out hints ask for.
CAPS_WORD_RE = re.compile(r"\b[^\W\d_]{4,}\b")
CAPS_ALLOWED = frozenset({"STOP", "HELP"})
SHOUTING_MIN_WORDS = 3
HOST_RE = re.compile(r"(?<![\w@.-])(?:https?://)?((?:[a-z0-9-]+\.)+[a-z]{2,})(?![\w-])", re.I)
URL_IN_TEXT_RE = re.compile(r"https?://|\bwww\.", re.I)
URL_SHORTENERS = frozenset(
    {"bit.ly", "tinyurl.com", "t.co", "goo.gl", "ow.ly", "is.gd", "buff.ly", "rebrand.ly"}
    | {"cutt.ly", "shorturl.at", "rb.gy", "t.ly", "tiny.cc", "s.id", "bl.ink", "lnkd.in"}
    | {"shorte.st", "adf.ly", "v.gd", "short.io", "tiny.one", "rebrandly.com", "bitly.com"}
)
# Strongly promotional wording: each phrase on its own sells something. Weak words ("offer",
# "new", "save") are left out on purpose: utility messages use them too.
PROMOTIONAL_RE = re.compile(
    r"\b\d+\s?%\s*off\b|\b(?:discount|promo|coupon|voucher)\s+codes?\b|\bbuy\s+now\b|"
    r"\bshop\s+now\b|\border\s+now\b|\blimited[\s-]time\b|\bspecial\s+offer\b|"
    r"\bexclusive\s+(?:offer|deal|discount)s?\b|\bdon['\u2019]?t\s+miss\b|\blast\s+chance\b|"
    r"\bhurry\b|\bflash\s+sale\b|\bbig\s+sale\b|\bsale\s+ends\b|\bblack\s+friday\b|"
    r"\bcyber\s+monday\b|\bfree\s+(?:gift|shipping|delivery)\b|\b(?:best|lowest)\s+prices?\b|"
    r"\bdeal\s+of\s+the\s+day\b|\bclearance\b|\bbogo\b|\bbuy\s+one,?\s+get\s+one\b",
    re.I,
)
# An opt-out hint in the common languages of our clients (en, es, pt, fr, de, it).
OPT_OUT_RE = re.compile(
    r"\bstop\b|unsubscrib|\bopt[\s-]?out\b|darse\s+de\s+baja|\bbaja\b|descadastr|\bsair\b|"
    r"d[ée]sabonn|d[ée]sinscri|abmelden|abbestellen|disiscriv",
    re.I,
)
# Asking for full card or identity numbers (§3.5, commerce and business policy).
SENSITIVE_RE = re.compile(
    r"\b(?:credit\s+|debit\s+)?card\s*(?:number|no\b\.?|#)|\bcvv2?\b|\bcvc2?\b|"
    r"\b(?:card|atm)\s+pin\b|\bssn\b|\bsocial\s+security\s+(?:number|no\b)|"
    r"\bpassport\s+(?:number|no\b)|\b(?:national|identity|identification)\s+(?:card\s+)?"
    r"(?:number|no\b)|\bid\s+card\s+number\b|\btax\s+(?:id|identification)\s+number\b|"
    r"\baadhaa?r\b|\bdriver['\u2019]?s?\s+licen[cs]e\s+(?:number|no\b)",
    re.I,
)

_SEVERITY_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


def lint_template(
    *,
    name: str,
    language: str,
    category: str,
    components: list[dict],
    parameter_format: str = "positional",
    header_example_stored: bool = False,
) -> list[Finding]:
    """Every finding for one template, errors first, then warnings, then info (stable order).

    `header_example_stored`: the portal holds the media header's example file, which becomes
    `example.header_handle` when the template is sent (so a draft needs no handle yet)."""
    linter = _Linter(name, language, category, components, parameter_format)
    linter.header_example_stored = header_example_stored
    findings = linter.run()
    return sorted(findings, key=lambda f: _SEVERITY_RANK[f.severity])


# --- Internals ---------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _upper(value: Any) -> str:
    return value.strip().upper() if isinstance(value, str) else ""


def _quote(value: str, limit: int = 30) -> str:
    return f"“{value if len(value) <= limit else value[: limit - 1] + '…'}”"


@dataclass(frozen=True)
class _Param:
    raw: str  # what is between the braces
    start: int
    end: int


def _params(text: str) -> list[_Param]:
    return [_Param(m.group(1), m.start(), m.end()) for m in PARAM_RE.finditer(text)]


class _Linter:
    def __init__(self, name, language, category, components, parameter_format):
        self.name = _text(name)
        self.language = _text(language).strip()
        self.category = _upper(category)
        raw_format = _text(parameter_format).strip().lower()
        self.parameter_format_raw = raw_format
        self.parameter_format = raw_format if raw_format in PARAMETER_FORMATS else None
        self.components = components if isinstance(components, list) else []
        self.findings: list[Finding] = []
        self.is_auth = self.category == "AUTHENTICATION"
        self.header_example_stored = False

    def add(self, severity: Severity, code: str, message: str, component: str | None) -> None:
        self.findings.append(Finding(severity, code, message, component))

    def error(self, code: str, message: str, component: str | None = None) -> None:
        self.add(Severity.ERROR, code, message, component)

    def warning(self, code: str, message: str, component: str | None = None) -> None:
        self.add(Severity.WARNING, code, message, component)

    def info(self, code: str, message: str, component: str | None = None) -> None:
        self.add(Severity.INFO, code, message, component)

    # -- top level ---------------------------------------------------------------------------------
    def run(self) -> list[Finding]:
        self.check_name()
        self.check_language()
        self.check_category_and_format()
        by_type = self.check_structure()
        header = by_type.get("HEADER")
        body = by_type.get("BODY")
        footer = by_type.get("FOOTER")
        buttons = by_type.get("BUTTONS")
        texts: list[tuple[str, str]] = []  # (component, text) for the policy heuristics
        kinds: Counter[str] = Counter()  # parameter kinds over the whole template
        if header is not None:
            self.check_header(header, texts, kinds)
        if body is not None:
            self.check_body(body, texts, kinds)
        if footer is not None:
            self.check_footer(footer, texts)
        button_list = self.check_buttons(buttons, texts) if buttons is not None else []
        self.check_parameter_kinds(kinds)
        if self.is_auth:
            self.check_authentication(header, button_list, texts)
        self.check_policy(texts, button_list)
        return self.findings

    def check_name(self) -> None:
        if not self.name:
            self.error("name.missing", "Give the template a name.", "NAME")
            return
        if len(self.name) > NAME_MAX:
            self.error(
                "name.too_long",
                f"Shorten the name to {NAME_MAX} characters at most (it has {len(self.name)}).",
                "NAME",
            )
        if not NAME_RE.fullmatch(self.name):
            suggestion = re.sub(r"[^a-z0-9_]+", "_", self.name.lower()).strip("_")
            hint = f" (for example {_quote(suggestion, 60)})" if suggestion else ""
            self.error(
                "name.format",
                "Use only lowercase letters, digits and underscores in the name" + hint + ".",
                "NAME",
            )

    def check_language(self) -> None:
        if not self.language:
            self.error(
                "language.missing", "Choose the template's language (e.g. en_US).", "LANGUAGE"
            )
        elif not LANGUAGE_RE.fullmatch(self.language):
            close = LANGUAGE_LOOSE_RE.fullmatch(self.language)
            hint = f" ({close[1].lower()}_{close[2].upper()}?)" if close else ""
            self.error(
                "language.format",
                f"{_quote(self.language)} is not a language code Meta accepts{hint}; write it "
                "like en, en_US or pt_BR (language in lowercase, region in capitals, an "
                "underscore between).",
                "LANGUAGE",
            )

    def check_category_and_format(self) -> None:
        if self.category not in CATEGORIES:
            self.error(
                "category.unknown",
                "Choose a category: MARKETING, UTILITY or AUTHENTICATION.",
                "CATEGORY",
            )
        if self.parameter_format is None:
            self.error(
                "parameter_format.unknown",
                "Set the parameter format to positional ({{1}}) or named ({{first_name}}).",
                "PARAMETER_FORMAT",
            )

    def check_structure(self) -> dict[str, dict]:
        """The first component of each type; duplicates and a missing body are errors."""
        by_type: dict[str, dict] = {}
        seen: Counter[str] = Counter()
        for component in self.components:
            if not isinstance(component, dict):
                self.error("components.invalid", "Each component must be an object with a type.")
                continue
            kind = _upper(component.get("type"))
            if kind not in COMPONENT_TYPES:
                self.info(
                    "components.unknown_type",
                    f"We do not check components of type {_quote(kind or '(none)')}; "
                    "Meta may reject them if the type is misspelt.",
                    kind or None,
                )
                continue
            seen[kind] += 1
            by_type.setdefault(kind, component)
        for kind, count in seen.items():
            if count > 1:
                self.error(
                    "components.duplicate",
                    f"Keep one {kind} component; the template has {count}.",
                    kind,
                )
        if "BODY" not in by_type:
            self.error("body.missing", "Add a BODY component: it is the only required one.")
        return by_type

    # -- components --------------------------------------------------------------------------------
    def check_header(self, header: dict, texts: list, kinds: Counter) -> None:
        fmt = _upper(header.get("format")) or "TEXT"
        example = header.get("example") if isinstance(header.get("example"), dict) else {}
        if fmt not in HEADER_FORMATS:
            self.error(
                "header.format_unknown",
                "Set the header format to TEXT, IMAGE, VIDEO, GIF, DOCUMENT or LOCATION.",
                "HEADER",
            )
            return
        if fmt == "LOCATION":
            if self.category in CATEGORIES and self.category not in LOCATION_CATEGORIES:
                self.error(
                    "header.location_not_allowed",
                    "Location headers are allowed only in UTILITY and MARKETING templates; "
                    "remove the header.",
                    "HEADER",
                )
            return
        if fmt in MEDIA_HEADER_FORMATS:
            handle = example.get("header_handle")
            has_handle = isinstance(handle, list) and handle and all(_text(h) for h in handle)
            if not has_handle and not self.header_example_stored:
                self.error(
                    "header.handle_missing",
                    f"Upload a sample {fmt.lower()} for the header (example.header_handle).",
                    "HEADER",
                )
            return
        text = _text(header.get("text"))
        if not text.strip():
            self.error(
                "header.text_missing", "Write the header text, or remove the header.", "HEADER"
            )
            return
        if len(text) > HEADER_TEXT_MAX:
            self.error(
                "header.too_long",
                f"Shorten the header to {HEADER_TEXT_MAX} characters (it has {len(text)}).",
                "HEADER",
            )
        params = self.check_text_params(text, "HEADER", kinds)
        if len(params) > HEADER_PARAMS_MAX:
            self.error(
                "header.too_many_params",
                f"A text header can hold one parameter; it has {len(params)}.",
                "HEADER",
            )
        self.check_examples(
            params,
            positional=example.get("header_text"),
            named=example.get("header_text_named_params"),
            component="HEADER",
            nested=False,
        )
        texts.append(("HEADER", text))

    def check_body(self, body: dict, texts: list, kinds: Counter) -> None:
        text = _text(body.get("text"))
        if not text.strip():
            # Authentication templates get their body text from Meta's library template.
            if not self.is_auth:
                self.error("body.text_missing", "Write the message text.", "BODY")
            return
        if len(text) > BODY_MAX:
            self.error(
                "body.too_long",
                f"Shorten the message to {BODY_MAX} characters (it has {len(text)}).",
                "BODY",
            )
        params = self.check_text_params(text, "BODY", kinds)
        example = body.get("example") if isinstance(body.get("example"), dict) else {}
        self.check_examples(
            params,
            positional=example.get("body_text"),
            named=example.get("body_text_named_params"),
            component="BODY",
            nested=True,
        )
        # Meta's own authentication text ("{{1}} is your verification code.") starts with the
        # code, so the placement and ratio rules apply to the other categories only.
        if params and not self.is_auth:
            self.check_placement(text, params)
            self.check_ratio(text, params)
        texts.append(("BODY", text))

    def check_footer(self, footer: dict, texts: list) -> None:
        text = _text(footer.get("text"))
        if not text.strip():
            # Authentication footers carry `code_expiration_minutes` instead of text.
            if not self.is_auth:
                self.error(
                    "footer.text_missing", "Write the footer text, or remove the footer.", "FOOTER"
                )
            return
        if len(text) > FOOTER_MAX:
            self.error(
                "footer.too_long",
                f"Shorten the footer to {FOOTER_MAX} characters (it has {len(text)}).",
                "FOOTER",
            )
        if "{{" in text or "}}" in text:
            self.error(
                "footer.params_not_allowed",
                "Remove the parameters from the footer: footers are fixed text.",
                "FOOTER",
            )
        texts.append(("FOOTER", text))

    # -- parameters --------------------------------------------------------------------------------
    def check_text_params(self, text: str, component: str, kinds: Counter) -> list[_Param]:
        """Well-formed parameters of one text, after the brace and naming checks."""
        params = _params(text)
        leftover = PARAM_RE.sub("", text)
        if "{" in leftover or "}" in leftover:
            self.error(
                "param.braces",
                "Fix the braces: write each parameter as {{1}} (or {{name}}), with two braces "
                "on each side and no braces elsewhere.",
                component,
            )
        good: list[_Param] = []
        special = bad_name = False
        for param in params:
            raw = param.raw
            if SPECIAL_IN_PARAM_RE.search(raw):
                special = True
            elif POSITIONAL_RE.fullmatch(raw):
                kinds["positional"] += 1
                good.append(param)
            elif NAMED_RE.fullmatch(raw):
                kinds["named"] += 1
                good.append(param)
            else:
                bad_name = True
        if special:
            self.error(
                "param.special_chars",
                "Remove #, $ and % from inside the parameters' braces.",
                component,
            )
        if bad_name:
            self.error(
                "param.name_format",
                "Write parameters as {{1}}, {{2}}… or, in the named format, as lowercase "
                "names with underscores such as {{first_name}} (no spaces or capitals).",
                component,
            )
        if any(p.raw.isdigit() for p in good) and self.parameter_format != "named":
            numbers = sorted({int(p.raw) for p in good if p.raw.isdigit()})
            if numbers != list(range(1, len(numbers) + 1)):
                found = ", ".join(f"{{{{{n}}}}}" for n in numbers)
                self.error(
                    "param.sequence",
                    f"Number the parameters in order from {{{{1}}}} without gaps (found {found}).",
                    component,
                )
        return good

    def check_parameter_kinds(self, kinds: Counter) -> None:
        if kinds["positional"] and kinds["named"]:
            self.error(
                "param.mixed",
                "Use one kind of parameter: either numbers ({{1}}) or names ({{first_name}}), "
                "not both.",
            )
        elif self.parameter_format == "positional" and kinds["named"]:
            self.error(
                "param.format_mismatch",
                "The template is set to positional parameters but uses names; use {{1}}, "
                "{{2}}… or set the parameter format to named.",
            )
        elif self.parameter_format == "named" and kinds["positional"]:
            self.error(
                "param.format_mismatch",
                "The template is set to named parameters but uses numbers; use names such as "
                "{{first_name}} or set the parameter format to positional.",
            )

    def check_examples(
        self, params: list[_Param], *, positional: Any, named: Any, component: str, nested: bool
    ) -> None:
        """Every parameter needs one example value (positional list or named pairs)."""
        # Examples follow the parameters as written (the kind of the first one): a format
        # mismatch or a mix is reported once, by check_parameter_kinds, not again here.
        names = list(dict.fromkeys(p.raw for p in params))
        if names and not names[0].isdigit():
            names = [n for n in names if not n.isdigit()]
            self._check_named_examples(names, named, component)
            return
        names = [n for n in names if n.isdigit()]
        values = positional
        if nested:
            values = values[0] if isinstance(values, list) and values else []
        if not isinstance(values, list):
            values = []
        if len(values) < len(names) or any(not _text(v).strip() for v in values[: len(names)]):
            where = "example.body_text: [[…]]" if nested else "example.header_text: […]"
            self.error(
                "param.example_missing",
                f"Give an example value for each of the {len(names)} parameter(s) ({where}); "
                "Meta reviews the message with them.",
                component,
            )
        elif len(values) > len(names):
            self.error(
                "param.example_mismatch",
                f"Give exactly {len(names)} example value(s); there are {len(values)}.",
                component,
            )

    def _check_named_examples(self, names: list[str], named: Any, component: str) -> None:
        pairs = named if isinstance(named, list) else []
        given: dict[str, str] = {}
        duplicates = set()
        for pair in pairs:
            if not isinstance(pair, dict):
                continue
            param_name = _text(pair.get("param_name"))
            if param_name in given:
                duplicates.add(param_name)
            given[param_name] = _text(pair.get("example"))
        if duplicates:
            self.error(
                "param.duplicate_name",
                "Give each named parameter a unique name (repeated: "
                + ", ".join(sorted(duplicates))
                + ").",
                component,
            )
        missing = [n for n in names if not given.get(n, "").strip()]
        if missing:
            self.error(
                "param.example_missing",
                "Give an example value for " + ", ".join(f"{{{{{n}}}}}" for n in missing) + ".",
                component,
            )
        unused = [n for n in given if n not in names]
        if unused:
            self.error(
                "param.example_mismatch",
                "Remove the examples for parameters the text does not use: "
                + ", ".join(unused)
                + ".",
                component,
            )

    def check_placement(self, text: str, params: list[_Param]) -> None:
        stripped_start = len(text) - len(text.lstrip())
        stripped_end = len(text.rstrip())
        if params[0].start == stripped_start:
            self.error(
                "param.dangling_start",
                "Start the message with text, not a parameter (e.g. “Hi {{1}}” instead of "
                "“{{1}}”).",
                "BODY",
            )
        if params[-1].end == stripped_end:
            self.error(
                "param.dangling_end",
                "End the message with text or punctuation after the last parameter (e.g. add "
                "“. Thank you.”).",
                "BODY",
            )
        for before, after in itertools.pairwise(params):
            if SEPARATOR_RE.fullmatch(text, before.end, after.start):
                self.error(
                    "param.adjacent",
                    "Put words between parameters that follow each other (e.g. "
                    "“{{1}} on {{2}}”, not “{{1}} {{2}}”).",
                    "BODY",
                )
                break

    def check_ratio(self, text: str, params: list[_Param]) -> None:
        if self.language.split("_", 1)[0] in NO_SPACE_LANGUAGES:
            return
        words = len(WORD_RE.findall(PARAM_RE.sub(" ", text)))
        needed = RATIO_WORDS_PER_PARAM * len(params) + RATIO_EXTRA_WORDS
        if words < needed:
            self.error(
                "param.ratio",
                f"Too many parameters for the length of the message: with {len(params)} "
                f"parameter(s) write at least {needed} words around them (there are {words}), "
                "or use fewer parameters.",
                "BODY",
            )

    # -- buttons -----------------------------------------------------------------------------------
    def check_buttons(self, component: dict, texts: list) -> list[tuple[str, str, dict]]:
        """Checks the BUTTONS component; returns (label, type, button) for later checks."""
        raw = component.get("buttons")
        buttons = [b for b in raw if isinstance(b, dict)] if isinstance(raw, list) else []
        if not buttons:
            self.error("buttons.empty", "Add at least one button, or remove BUTTONS.", "BUTTONS")
            return []
        if len(buttons) > BUTTONS_MAX:
            self.error(
                "buttons.too_many",
                f"Use at most {BUTTONS_MAX} buttons in total (there are {len(buttons)}).",
                "BUTTONS",
            )
        types = [_upper(b.get("type")) for b in buttons]
        counts = Counter(types)
        for kind, limit in BUTTON_TYPE_MAX.items():
            # More than 10 quick replies is already more than 10 buttons: one finding is enough.
            if counts[kind] > limit and limit < BUTTONS_MAX:
                self.error(
                    f"buttons.too_many_{kind.lower()}",
                    f"Use at most {limit} {kind.replace('_', ' ').lower()} button(s) "
                    f"(there are {counts[kind]}).",
                    "BUTTONS",
                )
        runs = sum(1 for i, t in enumerate(types) if i == 0 or _qr(t) != _qr(types[i - 1]))
        if counts["QUICK_REPLY"] and runs > 2:
            self.error(
                "buttons.quick_reply_grouping",
                "Put all quick-reply buttons together, either before or after the other buttons.",
                "BUTTONS",
            )
        if len(buttons) >= 4 or (counts["QUICK_REPLY"] and len(counts) > 1):
            self.info(
                "buttons.desktop_hidden",
                "With 4 or more buttons, or quick replies mixed with other buttons, WhatsApp "
                "desktop cannot show this template; phones show 2 buttons and “See all options” "
                "when there are more than 3.",
                "BUTTONS",
            )
        result = []
        for index, (kind, button) in enumerate(zip(types, buttons, strict=True), start=1):
            where = f"BUTTON[{index}]"
            label = _text(button.get("text"))
            result.append((label, kind, button))
            if kind not in KNOWN_BUTTON_TYPES:
                self.info(
                    "buttons.unknown_type",
                    f"We do not check buttons of type {_quote(kind or '(none)')}; check the "
                    "spelling (QUICK_REPLY, URL, PHONE_NUMBER, COPY_CODE, OTP…).",
                    where,
                )
            if not label.strip() and kind in LABEL_REQUIRED:
                self.error("buttons.label_missing", "Give the button a label.", where)
            elif len(label) > BUTTON_LABEL_MAX:
                self.error(
                    "buttons.label_too_long",
                    f"Shorten the button label to {BUTTON_LABEL_MAX} characters "
                    f"(it has {len(label)}).",
                    where,
                )
            if label.strip():
                texts.append((where, label))
            if kind == "URL":
                self.check_url_button(button, where)
            elif kind == "PHONE_NUMBER":
                self.check_phone_button(button, where)
            elif kind == "COPY_CODE":
                self.check_copy_code_button(button, where)
            elif kind == "OTP":
                self.check_otp_button(button, where)
        return result

    def check_url_button(self, button: dict, where: str) -> None:
        url = _text(button.get("url")).strip()
        if not url:
            self.error("url.missing", "Give the button a web address.", where)
            return
        if len(url) > URL_MAX:
            self.error(
                "url.too_long",
                f"Shorten the web address to {URL_MAX} characters (it has {len(url)}).",
                where,
            )
        if not url.lower().startswith(("https://", "http://")):
            self.error("url.invalid", "Start the web address with https://.", where)
        variables = list(PARAM_RE.finditer(url))
        if len(variables) > URL_VARIABLES_MAX:
            self.error(
                "url.too_many_variables",
                "Use at most one variable in the web address, at its end (e.g. "
                "https://example.com/track/{{1}}).",
                where,
            )
        elif variables and variables[0].end() != len(url):
            self.error(
                "url.variable_not_at_end",
                "Move the variable to the end of the web address (e.g. "
                "https://example.com/track/{{1}}).",
                where,
            )
        if variables:
            example = button.get("example")
            values = example if isinstance(example, list) else [example]
            if not any(_text(v).strip() for v in values):
                self.error(
                    "url.example_missing",
                    "Give an example of the full web address with the variable filled in.",
                    where,
                )

    def check_phone_button(self, button: dict, where: str) -> None:
        phone = _text(button.get("phone_number")).strip()
        if not phone:
            self.error("phone.missing", "Give the button a phone number.", where)
        elif len(phone) > PHONE_MAX:
            self.error(
                "phone.too_long",
                f"Shorten the phone number to {PHONE_MAX} characters (it has {len(phone)}).",
                where,
            )

    def check_copy_code_button(self, button: dict, where: str) -> None:
        example = button.get("example")
        if isinstance(example, list):
            example = example[0] if example else ""
        code = _text(example).strip()
        if not code:
            self.error("copy_code.example_missing", "Give an example of the code.", where)
        elif len(code) > COPY_CODE_EXAMPLE_MAX:
            self.error(
                "copy_code.example_too_long",
                f"Shorten the example code to {COPY_CODE_EXAMPLE_MAX} characters "
                f"(it has {len(code)}).",
                where,
            )

    def check_otp_button(self, button: dict, where: str) -> None:
        if not self.is_auth and self.category in CATEGORIES:
            self.error(
                "otp.category",
                "One-time-password buttons belong to AUTHENTICATION templates only.",
                where,
            )
        otp_type = _upper(button.get("otp_type"))
        if otp_type not in OTP_TYPES:
            self.error(
                "otp.type",
                "Set the one-time-password button to copy code, one-tap or zero-tap.",
                where,
            )
            return
        autofill = _text(button.get("autofill_text"))
        if len(autofill) > BUTTON_LABEL_MAX:
            self.error(
                "otp.autofill_too_long",
                f"Shorten the autofill label to {BUTTON_LABEL_MAX} characters "
                f"(it has {len(autofill)}).",
                where,
            )
        if otp_type not in OTP_APP_TYPES:
            return
        apps = button.get("supported_apps")
        if not isinstance(apps, list):
            # Meta's older shape: one app in package_name / signature_hash on the button.
            apps = (
                [
                    {
                        "package_name": button["package_name"],
                        "signature_hash": button.get("signature_hash"),
                    }
                ]
                if button.get("package_name")
                else []
            )
        if not apps:
            self.error(
                "otp.app_missing",
                "Give the Android app that receives the code (package name and signature "
                "hash): one-tap and zero-tap autofill need it.",
                where,
            )
        elif len(apps) > OTP_SUPPORTED_APPS_MAX:
            self.error(
                "otp.too_many_apps",
                f"List at most {OTP_SUPPORTED_APPS_MAX} apps (there are {len(apps)}).",
                where,
            )
        for app in apps:
            app = app if isinstance(app, dict) else {}
            package = _text(app.get("package_name")).strip()
            signature = _text(app.get("signature_hash")).strip()
            if not PACKAGE_RE.fullmatch(package) or len(package) > OTP_PACKAGE_MAX:
                self.error(
                    "otp.package_invalid",
                    f"{_quote(package or '(none)')} is not an Android package name; write it "
                    "like com.example.app.",
                    where,
                )
            if not SIGNATURE_HASH_RE.fullmatch(signature):
                self.error(
                    "otp.signature_invalid",
                    f"The app signature hash is {OTP_SIGNATURE_HASH_LEN} characters of letters, "
                    "digits, + and / (from your app's signing key).",
                    where,
                )
        if otp_type == "ZERO_TAP" and button.get("zero_tap_terms_accepted") is not True:
            self.error(
                "otp.zero_tap_terms",
                "Accept Meta's zero-tap terms: zero-tap fills in the code without the person "
                "tapping anything.",
                where,
            )

    # -- authentication ----------------------------------------------------------------------------
    def check_auth_footer(self) -> None:
        for component in self.components:
            if not isinstance(component, dict) or _upper(component.get("type")) != "FOOTER":
                continue
            minutes = component.get("code_expiration_minutes")
            if minutes is None:
                continue
            valid = isinstance(minutes, int) and not isinstance(minutes, bool)
            if not valid or not CODE_EXPIRATION_MIN <= minutes <= CODE_EXPIRATION_MAX:
                self.error(
                    "auth.code_expiration",
                    f"Set the code expiry to a whole number of minutes from "
                    f"{CODE_EXPIRATION_MIN} to {CODE_EXPIRATION_MAX}.",
                    "FOOTER",
                )

    def check_authentication(self, header: dict | None, buttons: list, texts: list) -> None:
        self.check_auth_footer()
        if header is not None and (_upper(header.get("format")) or "TEXT") == "TEXT":
            self.error(
                "auth.header_not_allowed",
                "Remove the header: authentication templates have Meta's fixed text only.",
                "HEADER",
            )
        if header is not None and _upper(header.get("format")) in MEDIA_HEADER_FORMATS:
            self.error(
                "auth.media_not_allowed",
                "Remove the image, video or document header: authentication templates are "
                "text only.",
                "HEADER",
            )
        url_places = [where for where, text in texts if URL_IN_TEXT_RE.search(text)]
        url_places += [f"BUTTON[{i}]" for i, (_, kind, _) in enumerate(buttons, 1) if kind == "URL"]
        if url_places:
            self.error(
                "auth.url_not_allowed",
                "Remove the web address: authentication templates cannot contain URLs.",
                url_places[0],
            )
        for where, text in texts:
            if EMOJI_RE.search(text):
                self.error(
                    "auth.emoji_not_allowed",
                    "Remove the emoji: authentication templates cannot contain emojis.",
                    where,
                )
        for where, value in self._auth_example_values():
            if len(value) > AUTH_PARAM_MAX:
                self.error(
                    "auth.param_too_long",
                    f"Keep parameters of authentication templates to {AUTH_PARAM_MAX} "
                    f"characters ({_quote(value)} has {len(value)}).",
                    where,
                )
                break
        if not any(kind in OTP_BUTTON_TYPES for _, kind, _ in buttons):
            self.error(
                "auth.otp_button_missing",
                "Add a one-time-password button (copy code or one-tap autofill): "
                "authentication templates need one.",
                "BUTTONS",
            )

    def _auth_example_values(self) -> Iterator[tuple[str, str]]:
        for component in self.components:
            if not isinstance(component, dict):
                continue
            kind = _upper(component.get("type"))
            example = component.get("example")
            if kind not in ("HEADER", "BODY") or not isinstance(example, dict):
                continue
            yield from ((kind, v) for v in _example_values(example))

    # -- policy heuristics -------------------------------------------------------------------------
    def check_policy(self, texts: list[tuple[str, str]], buttons: list) -> None:
        plain = [(where, PARAM_RE.sub(" ", text)) for where, text in texts]
        if self.category == "UTILITY":
            for where, text in plain:
                match = PROMOTIONAL_RE.search(text)
                if match:
                    self.warning(
                        "policy.promotional_in_utility",
                        f"{_quote(match.group(0))} reads as promotion: Meta approves UTILITY "
                        "templates with promotional wording as MARKETING. Remove the "
                        "promotion or choose MARKETING.",
                        where,
                    )
                    break
        for where, text in plain:
            if where.startswith("BUTTON"):
                continue
            shouted = {w for w in CAPS_WORD_RE.findall(text) if w.isupper()} - CAPS_ALLOWED
            if len(shouted) >= SHOUTING_MIN_WORDS:
                sample = ", ".join(sorted(shouted)[:3])
                self.warning(
                    "policy.shouting",
                    f"Write in sentence case: words in capitals ({sample}) read as shouting "
                    "and lower the template's quality.",
                    where,
                )
            match = PUNCTUATION_RUN_RE.search(text)
            if match:
                self.warning(
                    "policy.punctuation_run",
                    f"Use single punctuation marks instead of {_quote(match.group(0))}.",
                    where,
                )
            if EMOJI_RUN_RE.search(text):
                self.warning(
                    "policy.emoji_run",
                    "Use at most two emojis in a row; runs of emojis look like spam.",
                    where,
                )
        places = list(plain) + [
            (f"BUTTON[{i}]", _text(b.get("url")))
            for i, (_, kind, b) in enumerate(buttons, start=1)
            if kind == "URL"
        ]
        for where, text in places:
            hosts = {h.lower().removeprefix("www.") for h in HOST_RE.findall(text)}
            short = sorted(hosts & URL_SHORTENERS)
            if short:
                self.warning(
                    "policy.url_shortener",
                    f"Use your own full web address instead of the shortener {short[0]}: "
                    "shortened links hide where they lead and are often rejected.",
                    where,
                )
        if self.category == "MARKETING" and not any(OPT_OUT_RE.search(t) for _, t in plain):
            self.warning(
                "policy.no_opt_out_hint",
                "Tell people how to stop these messages, e.g. a footer “Reply STOP to "
                "unsubscribe” or a “Stop promotions” quick-reply button.",
            )
        for where, text in plain:
            match = SENSITIVE_RE.search(text)
            if match:
                self.warning(
                    "policy.sensitive_numbers",
                    f"Do not ask for {_quote(match.group(0))} over WhatsApp: asking for full "
                    "card or identity numbers breaks Meta's commerce policy. Link to a secure "
                    "page instead (mentioning only the last 4 digits is fine).",
                    where,
                )
                break


def _qr(kind: str) -> bool:
    return kind == "QUICK_REPLY"


def _example_values(example: dict) -> Iterable[str]:
    for key in ("header_text", "body_text"):
        values = example.get(key)
        if isinstance(values, list):
            for value in values:
                if isinstance(value, list):
                    yield from (v for v in value if isinstance(v, str))
                elif isinstance(value, str):
                    yield value
    for key in ("header_text_named_params", "body_text_named_params"):
        pairs = example.get(key)
        if isinstance(pairs, list):
            for pair in pairs:
                if isinstance(pair, dict) and isinstance(pair.get("example"), str):
                    yield pair["example"]
