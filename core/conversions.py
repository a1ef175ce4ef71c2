"""The seven anonymity conversions, as functions from a raw value to a JSON value.

:func:`convert` is the total, public form: it returns a ``Result`` and never raises, whatever the
value does (a ``__len__``, ``__bool__`` or ``__iter__`` that raises included). :func:`apply` is
the form the serializer calls once per declared field; it raises :class:`ConversionRejected`
instead of allocating a ``Result``, because that allocation would dominate a field's cost.
A failure's reason names what went wrong, never the value.
"""

from __future__ import annotations

import enum
import itertools
import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence, Sized
from collections.abc import Set as AbstractSet
from typing import Final

from returns.result import Failure, Result, Success

from .hashing import hash_value
from .policy import PrivacyPolicy
from .vocabulary import AnonymityConversion, JSONObject, JSONValue
from .wire import MAX_LABEL_LENGTH, NO_VOCABULARY, OTHER_LABEL, is_label

MAX_SAFE_INT: Final = 2**63 - 1
"""Integers beyond a signed 64-bit range are refused: most JSON consumers would corrupt them."""


class ConversionRejected(ValueError):
    """A conversion could not apply; the field must be dropped, never sent raw."""


Converter = Callable[[object, PrivacyPolicy], JSONValue]
"""One conversion: a raw value and the policy in, a JSON value out (or ConversionRejected)."""


def convert(
    value: object,
    conversion: AnonymityConversion,
    policy: PrivacyPolicy,
    vocabulary: AbstractSet[str] = NO_VOCABULARY,
) -> Result[JSONValue, str]:
    """Apply one conversion; ``Failure`` holds the reason, which never contains the value.

    >>> from codeweaver_telemetry.core.policy import default_policy
    >>> convert(["a", "b"], AnonymityConversion.COUNT, default_policy())
    <Success: 2>
    >>> convert("x", AnonymityConversion.AGGREGATE, default_policy())
    <Failure: a str is not a number or a collection of numbers>
    """
    try:
        return Success(apply(value, conversion, policy, vocabulary))
    except ConversionRejected as rejected:
        return Failure(str(rejected))
    except Exception as error:  # noqa: BLE001 - user objects may raise anything; fail closed
        return Failure(describe_error(error))


def apply(
    value: object,
    conversion: AnonymityConversion,
    policy: PrivacyPolicy,
    vocabulary: AbstractSet[str] = NO_VOCABULARY,
) -> JSONValue:
    """Apply one conversion, raising :class:`ConversionRejected` (or the value's own error).
    ``vocabulary`` holds the property's declared labels, which a DISTRIBUTION always keeps."""
    if conversion is AnonymityConversion.DISTRIBUTION:
        return to_distribution(value, policy, vocabulary)
    return _CONVERTERS[conversion](value, policy)


def describe_error(error: BaseException) -> str:
    """A reason for an error raised by user code: its type only, as messages may hold values."""
    return f"the value raised {type(error).__name__}"


def to_boolean(value: object, policy: PrivacyPolicy) -> bool:
    """The value's truthiness; None is False.

    >>> from codeweaver_telemetry.core.policy import default_policy
    >>> to_boolean([], default_policy()), to_boolean("x", default_policy())
    (False, True)
    """
    return bool(value)


def to_count(value: object, policy: PrivacyPolicy) -> int:
    """How many items: len() of a collection, 0 for None, 1 for a single value (str included).

    >>> from codeweaver_telemetry.core.policy import default_policy
    >>> [to_count(v, default_policy()) for v in (None, "text", {"a": 1, "b": 2}, 7)]
    [0, 1, 2, 1]
    """
    if type(value) in _PLAIN_COLLECTIONS:  # the common case, without the ABC checks
        return len(value)  # type: ignore[arg-type]
    if value is None:
        return 0
    if isinstance(value, str | bytes | bytearray) or not isinstance(value, Sized):
        return 1
    return len(value)


_PLAIN_COLLECTIONS: Final = frozenset({list, tuple, dict, set, frozenset})


def to_text_count(value: object, policy: PrivacyPolicy) -> int:
    """How many characters: of a string, of decoded bytes, or of another value's text form.

    >>> from codeweaver_telemetry.core.policy import default_policy
    >>> [to_text_count(v, default_policy()) for v in (None, "héllo", b"ab", 1234)]
    [0, 5, 2, 4]
    """
    if value is None:
        return 0
    if isinstance(value, str):
        return str.__len__(value)  # (a subclass's __len__ may say anything)
    if isinstance(value, bytes | bytearray):
        if len(value) > policy.max_scan_items:  # decoding reads them all
            raise ConversionRejected("too many bytes to decode")
        return len(bytes(value).decode("utf-8", "replace"))
    if isinstance(value, Sized) and len(value) > policy.max_scan_items:
        raise ConversionRejected("too many items to render as text")
    return len(str(value))


def to_hash(value: object, policy: PrivacyPolicy) -> str:
    """The keyed digest of the value (``h:`` and 32 lowercase hex characters).

    >>> from codeweaver_telemetry.core.policy import PrivacyPolicy
    >>> to_hash("/home/alice/auth.py", PrivacyPolicy(hash_key=bytes(32)))[:14]
    'h:5fcbf085c7d2'
    """
    # Text is encoded and digested whole: a longer one than the policy reads is refused by its
    # length, before it is read (a subclass's __len__ cannot change str.__len__).
    if isinstance(value, str) and str.__len__(value) > policy.max_scan_items:
        raise ConversionRejected("the text is longer than the policy hashes")
    if isinstance(value, bytes | bytearray) and len(value) > policy.max_scan_items:
        raise ConversionRejected("the bytes are more than the policy hashes")
    try:
        return hash_value(
            value, policy.hash_key, max_depth=policy.max_depth, max_items=policy.max_scan_items
        )
    except ValueError as rejected:  # EncodingRejected, or a huge int's text form
        raise ConversionRejected(str(rejected)) from None


def to_aggregate(value: object, policy: PrivacyPolicy) -> int | float:
    """The sum of a collection's numbers, or of a mapping's values; a number is itself.

    >>> from codeweaver_telemetry.core.policy import default_policy
    >>> to_aggregate([1, 2.5], default_policy()), to_aggregate({"a": 2, "b": 3}, default_policy())
    (3.5, 5)
    """
    values: Iterable[object]
    if type(value) is dict:  # the common cases first, without the ABC checks below
        values = value.values()
    elif type(value) is list or type(value) is tuple:
        values = value
    elif _is_number(value):
        return as_json_number(value)
    elif isinstance(value, str | bytes | bytearray) or not isinstance(value, Iterable):
        raise ConversionRejected(
            f"a {type(value).__name__} is not a number or a collection of numbers"
        )
    else:
        values = value.values() if isinstance(value, Mapping) else value
    total: int | float = 0
    for index, item in enumerate(values):
        if index >= policy.max_scan_items:
            raise ConversionRejected("too many items to aggregate")
        total += as_json_number(item)
    return as_json_number(total)


def to_distribution(
    value: object, policy: PrivacyPolicy, vocabulary: AbstractSet[str] = NO_VOCABULARY
) -> JSONObject:
    """``{category: count}``, in label order, ``"__other__"`` last.

    A mapping is taken as category -> count; a collection is counted; a single value counts 1;
    None is an empty distribution. A category that is not a label (see the wire grammar) is
    counted under ``"__other__"``; so are the least frequent labels beyond the policy's
    ``max_dynamic_labels``, except those of the ``vocabulary``, which are always kept.

    >>> from codeweaver_telemetry.core.policy import default_policy
    >>> to_distribution(["python", "rust", "python", True, "/home/bob"], default_policy())
    {'python': 2, 'rust': 1, 'true': 1, '__other__': 1}
    """
    if value is None:
        return {}
    counts: dict[str, int | float]
    if type(value) is tuple or type(value) is list:  # the common case, without the ABC checks
        counts = _labelled_tally(value, policy, vocabulary)
    elif isinstance(value, Mapping):
        pairs = _bounded_items(value, policy.max_scan_items)
        counts = _labelled_counts(pairs, policy, vocabulary)
    elif _is_category(value):
        counts = {category_label(value, policy, vocabulary): 1}
    else:
        counts = _labelled_tally(_items(value), policy, vocabulary)
    return _capped(counts, policy.max_dynamic_labels, vocabulary)


def category_label(
    value: object, policy: PrivacyPolicy, vocabulary: AbstractSet[str] = NO_VOCABULARY
) -> str:
    """The text of a category (an Enum member's value, ``true``/``false``, an int, a string)
    if it is a label under the wire grammar, else ``"__other__"``: a path or a sentence never
    becomes a key.

    >>> from codeweaver_telemetry.core.policy import default_policy
    >>> category_label("hybrid", default_policy()), category_label("a b", default_policy())
    ('hybrid', '__other__')
    """
    text = _bounded_text(value)
    return text if is_label(text, policy, vocabulary) else OTHER_LABEL


def _category_text(value: object) -> str:
    """The text of a category value, always a plain ``str`` (never a subclass, whose methods
    could lie to the leak guard or to the label memo); ``__other__`` for a string or a number
    too long to be a label, which is neither copied nor written out."""
    if isinstance(value, enum.Enum):
        inner = value._value_  # the attribute behind .value, without its descriptor's cost
        if type(inner) is str:
            return inner
        value = inner if _is_category(inner) else value.name
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        # int's own text, not a subclass's __str__ (any text); never that of an int of more
        # digits than a label has (writing out 10**4000 costs, 10**5000 raises)
        number = int.__int__(value)
        return int.__repr__(number) if abs(number) < _LABEL_INT_BOUND else OTHER_LABEL
    if isinstance(value, str):  # a str subclass: its text, not its __str__
        return "".join([value]) if str.__len__(value) <= MAX_LABEL_LENGTH else OTHER_LABEL
    raise ConversionRejected(f"a {type(value).__name__} is not a category")


_LABEL_INT_BOUND: Final = 10**MAX_LABEL_LENGTH
"""An int at least this large (either way) has more digits than a label."""


def as_json_number(value: object) -> int | float:
    """A number JSON can carry: a non-bool int within 64 bits, or a finite float (an int or a
    float subclass is the number it is, whatever its methods say)."""
    if type(value) is float and math.isfinite(value):
        return value
    if type(value) is int and -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConversionRejected(f"a {type(value).__name__} is not a number")
    if isinstance(value, int):
        value = int.__int__(value)
    elif isinstance(value, float):
        value = float.__float__(value)
    if isinstance(value, numbers.Integral):
        number = int(value)
        if -MAX_SAFE_INT <= number <= MAX_SAFE_INT:
            return number
        raise ConversionRejected("the number is out of the 64-bit range")
    real = float(value)
    if not math.isfinite(real):
        raise ConversionRejected("the number is not finite")
    return real


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_category(value: object) -> bool:
    return isinstance(value, str | int | enum.Enum)  # bool is an int


def _items(value: object) -> Iterable[object]:
    if isinstance(value, str | bytes | bytearray) or not isinstance(value, Iterable):
        raise ConversionRejected(f"a {type(value).__name__} is not a collection")
    return value


def _bounded_items(mapping: Mapping[object, object], max_items: int) -> list[tuple[object, object]]:
    if type(mapping) is dict:  # its length is its number of items, and reading them is free
        if len(mapping) > max_items:
            raise ConversionRejected("too many items for a distribution")
        return list(mapping.items())
    bounded = []
    for index, pair in enumerate(mapping.items()):
        if index >= max_items:
            raise ConversionRejected("too many items for a distribution")
        bounded.append(pair)
    return bounded


def _labelled_tally(
    items: Iterable[object], policy: PrivacyPolicy, vocabulary: AbstractSet[str]
) -> dict[str, int | float]:
    """How often each item's label occurs.

    The items are read into a tuple first (at most the policy's ``max_scan_items``):
    labelling may run the host's code (an ``int`` subclass's ``__str__``), which must not
    change what is counted.
    """
    if type(items) is tuple:
        bounded: Sequence[object] = items
    else:
        bounded = tuple(itertools.islice(items, policy.max_scan_items + 1))
    if len(bounded) > policy.max_scan_items:
        raise ConversionRejected("too many items for a distribution")
    # Each distinct object is read once (most items are a few Enum members), told apart by
    # identity, not equality: 1 == True, and an Enum's hash is computed in Python. The tuple
    # holds every item, so no id is reused while this runs.
    tally: dict[int, int] = {}
    for item in bounded:
        tally[id(item)] = tally.get(id(item), 0) + 1
    first = {id(item): item for item in bounded}
    by_text: dict[str, int] = {}
    for identity, count in tally.items():
        text = _bounded_text(first[identity])
        by_text[text] = by_text.get(text, 0) + count
    return _labelled(by_text, policy, vocabulary)


def _bounded_text(value: object) -> str:
    """A category's text, or ``__other__`` for one longer than a label (never a label)."""
    text = value if type(value) is str else _category_text(value)
    return text if len(text) <= MAX_LABEL_LENGTH else OTHER_LABEL


def _labelled(
    counts: Mapping[str, int | float], policy: PrivacyPolicy, vocabulary: AbstractSet[str]
) -> dict[str, int | float]:
    """Each category text's label and its count, equal labels added up. Of more distinct
    texts than the policy's ``max_list_length`` (besides the vocabulary's), the most
    frequent are labelled and the rest counted under ``__other__`` unread: each costs the
    leak guard up to a label's check, and at most ``max_dynamic_labels`` are kept anyway."""
    texts = [pair for pair in counts.items() if pair[0] not in vocabulary]
    labelled: dict[str, int | float] = {}
    if len(texts) > policy.max_list_length:
        texts.sort(key=lambda pair: pair[1], reverse=True)  # (stable: ties as they came)
        rest = sum(count for _, count in texts[policy.max_list_length :])
        labelled[OTHER_LABEL] = as_json_number(rest)
        del texts[policy.max_list_length :]
    texts.extend(pair for pair in counts.items() if pair[0] in vocabulary)
    for text, count in texts:
        label = text if is_label(text, policy, vocabulary) else OTHER_LABEL
        merged = labelled.get(label)
        labelled[label] = count if merged is None else as_json_number(merged + count)
    return labelled


def _labelled_counts(
    pairs: Iterable[tuple[object, object]], policy: PrivacyPolicy, vocabulary: AbstractSet[str]
) -> dict[str, int | float]:
    """Each category's label and its count; equal labels (1 and "1", an Enum and its value)
    add up."""
    by_text: dict[str, int | float] = {}
    for category, count in pairs:
        text = _bounded_text(category)
        number = as_json_number(count)
        merged = by_text.get(text)
        by_text[text] = number if merged is None else as_json_number(merged + number)
    return _labelled(by_text, policy, vocabulary)


def kept_labels(
    weights: Mapping[str, int | float], max_dynamic: int, vocabulary: AbstractSet[str]
) -> set[str]:
    """Which labels of a label map are kept as they are (the way Glean bounds a labeled
    metric): every label of the ``vocabulary``, and the ``max_dynamic`` others of the most
    weight, ties by label; never ``"__other__"``, where the caller merges the rest.

    >>> sorted(kept_labels({"a": 1, "b": 5, "c": 5, "python": 1}, 2, {"python"}))
    ['b', 'c', 'python']
    """
    kept = set(weights)
    kept.discard(OTHER_LABEL)
    if len(kept) <= max_dynamic:  # nothing to cap
        return kept
    dynamic = sorted(label for label in kept if label not in vocabulary)
    dynamic.sort(key=weights.__getitem__, reverse=True)  # stable: ties stay in label order
    kept.difference_update(dynamic[max_dynamic:])
    return kept


def _capped(
    counts: dict[str, int | float], max_dynamic: int, vocabulary: AbstractSet[str]
) -> JSONObject:
    """The kept counts in label order, so that a distribution says how many of each category
    and nothing of the order they came in; the rest summed under ``"__other__"``, last."""
    kept = kept_labels(counts, max_dynamic, vocabulary)
    capped: JSONObject = {label: counts[label] for label in sorted(kept)}
    if len(kept) < len(counts):
        capped[OTHER_LABEL] = as_json_number(
            sum(count for label, count in counts.items() if label not in kept)
        )
    return capped


def _forbidden(value: object, policy: PrivacyPolicy) -> JSONValue:
    raise ConversionRejected("a FORBIDDEN field is never sent")


_CONVERTERS: Final[Mapping[AnonymityConversion, Converter]] = {
    AnonymityConversion.FORBIDDEN: _forbidden,
    AnonymityConversion.BOOLEAN: to_boolean,
    AnonymityConversion.COUNT: to_count,
    AnonymityConversion.TEXT_COUNT: to_text_count,
    AnonymityConversion.HASH: to_hash,
    AnonymityConversion.AGGREGATE: to_aggregate,
}
