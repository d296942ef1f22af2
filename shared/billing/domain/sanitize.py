"""Cleaning of template bodies and variable values: WhatsApp text must carry no HTML or script URLs.

nh3 (ammonia) removes tags, handlers and their dangerous content; its output is HTML, so the entities
it introduces (``&amp;``, ``&lt;``) are turned back into the characters people typed, and entities
people typed stay as typed. Text without a ``<`` never reaches nh3 at all.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

import nh3

from billing.domain.templates import MAX_MESSAGE_CHARS, compile_template
from billing.errors import InvalidValueError, TemplateTooLongError

MAX_TEMPLATE_CHARS = 16_384
# Elements whose content is code or markup, never message text: dropped together with the tag.
_DROP_CONTENT = frozenset(
    {
        "script",
        "style",
        "iframe",
        "object",
        "embed",
        "noscript",
        "template",
        "svg",
        "math",
        "xmp",
        "noembed",
        "noframes",
        "frameset",
        "textarea",
        "title",
    }
)
# Script-bearing URLs typed as plain text. "data:" alone is common Portuguese ("Data: 20/11"), so only
# a real data URL (media type then ";" or ",") is removed.
_SCRIPT_URL_RE = re.compile(r"(?i)\b(?:java|vb)\s*script\s*:\S*")
_DATA_URL_RE = re.compile(r"(?i)\bdata:[a-z]+/[\w.+-]+[;,]\S*")
_MAX_PASSES = 4


def _strip_html(text: str) -> str:
    # Removing a tag can join text into new markup ("<<b>script>"): repeat until a pass changes nothing.
    for _ in range(_MAX_PASSES):
        # Escaping "&" first keeps every ampersand and entity exactly as typed ("&reg=1" in a URL
        # would otherwise become "®=1"); unescaping the output then restores only those.
        escaped = text.replace("&", "&amp;")
        cleaned = html.unescape(nh3.clean(escaped, tags=set(), clean_content_tags=set(_DROP_CONTENT)))
        if cleaned == text or "<" not in cleaned:
            return cleaned
        text = cleaned
    return text.replace("<", "")


def _clean(text: str) -> str:
    if "<" in text:
        text = _strip_html(text)
    lowered = text.lower()
    if "script" in lowered:
        text = _SCRIPT_URL_RE.sub("", text)
    if "data:" in lowered:
        text = _DATA_URL_RE.sub("", text)
    return text


def sanitize_value(value: str) -> str:
    """Clean a variable value at render time (fast when it holds nothing suspicious)."""
    if "<" not in value and ":" not in value:
        return value
    return _clean(value)


def sanitize_template_body(text: str) -> str:
    """Clean a template body and prove it usable: syntax compiles and it can fit in one message.

    Raises TemplateSyntaxError (with line/column of the cleaned text) or TemplateTooLongError.
    """
    if len(text) > MAX_TEMPLATE_CHARS:
        raise TemplateTooLongError(f"template has {len(text)} characters; the limit is {MAX_TEMPLATE_CHARS}")
    cleaned = _clean(text)
    compiled = compile_template(cleaned)
    if compiled.min_length > MAX_MESSAGE_CHARS:
        raise TemplateTooLongError(
            f"template text alone has {compiled.min_length} characters; a message holds {MAX_MESSAGE_CHARS}"
        )
    return cleaned


def require_https_url(url: str) -> str:
    """Return ``url`` stripped if it is an absolute https URL with a host; InvalidValueError otherwise."""
    candidate = url.strip()
    if not candidate:
        raise InvalidValueError("URL is empty")
    if any(ch.isspace() for ch in candidate) or "<" in candidate or ">" in candidate:
        raise InvalidValueError("URL must not contain spaces or angle brackets")
    try:
        parts = urlsplit(candidate)
        host = parts.hostname
    except ValueError as exc:
        raise InvalidValueError(f"URL {candidate!r} is malformed") from exc
    if parts.scheme.lower() != "https":
        raise InvalidValueError(f"URL must use https, got {parts.scheme or 'no scheme'!r}")
    if not host:
        raise InvalidValueError("URL must name a host (https://host/...)")
    return candidate


# --- text a person typed into the ERP, on its way into a WhatsApp message ------------------------

MAX_NAME_CHARS = 100
# Format characters emoji sequences need: the zero-width joiner (family, profession emoji) and the tag
# characters of subdivision flags. Every other Cf (bidi overrides, zero-width spaces) can disguise text.
_EMOJI_FORMAT = frozenset({"\u200d"}) | frozenset(chr(c) for c in range(0xE0020, 0xE0080))
_WHITESPACE_RE = re.compile(r"\s+")
# A link a reader could follow: a scheme, "www.", or a host ending in a common top-level domain at the
# end of a word ("pague.com.br", "bit.ly/x"). Company abbreviations that merely contain such letters
# ("IND.COM.LTDA", "Padaria Ltda.ME") are names: the domain must end the word, and "me"/"co"/"ind" are
# not on the list.
_URL_RE = re.compile(
    r"(?i)(?:\b[a-z][a-z0-9+.-]*://|\bwww\.|\b[a-z0-9-]{2,}(?:\.[a-z0-9-]+)*\."
    r"(?:com|net|org|info|biz|io|ly|app|xyz|site|online|link|top|click|shop|store|br|pt|us)(?=$|[\s/:?#)]))"
)


def _strip_invisible(text: str, *, keep: str = "") -> str:
    import unicodedata

    return "".join(
        ch
        for ch in text
        if ch in keep or ch in _EMOJI_FORMAT or unicodedata.category(ch) not in ("Cc", "Cf", "Cs")
    )


def single_line(text: str) -> str:
    """One line of visible text: control and format characters removed (except what emoji sequences
    need), every run of whitespace, line breaks included, made one space, the ends trimmed."""
    if text.isascii() and text.isprintable() and "  " not in text and text == text.strip():
        return text  # the common case costs one pass
    return _WHITESPACE_RE.sub(" ", _strip_invisible(text, keep=" \t\n\r")).strip()


def multi_line(text: str) -> str:
    """Visible text that may keep its line breaks (a notification's own message): control and format
    characters removed except line breaks, ``\\r\\n`` made ``\\n``."""
    if text.isascii() and text.isprintable():
        return text
    return _strip_invisible(text.replace("\r\n", "\n"), keep="\n\t")


def has_invisible(text: str) -> bool:
    """Whether ``text`` holds control or format characters (line breaks, bidi overrides, zero-width)."""
    if text.isascii() and text.isprintable():
        return False  # the common case costs one pass
    return _strip_invisible(text) != text


def contains_url(text: str) -> bool:
    return _URL_RE.search(text) is not None


def person_name(text: str) -> str | None:
    """A debtor's name as it may appear in a reminder (None when nothing visible is left, as when the
    ERP sends no name), or InvalidValueError saying why not."""
    name = single_line(text)
    if not name:
        return None
    if len(name) > MAX_NAME_CHARS:
        raise InvalidValueError(f"has {len(name)} characters; at most {MAX_NAME_CHARS}")
    if contains_url(name):
        raise InvalidValueError("must not contain a link or web address")
    return name
