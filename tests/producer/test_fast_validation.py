"""The msgspec fast path accepts only what OrderEvent accepts, and never changes the outcome.

The corpus is derived from the schema's field specs (every field missing, null, of the wrong
JSON type, at and past its bounds, off its pattern or its allowed values) plus seeded random
mutations of an event's JSON text, so a rule added to OrderEvent is exercised here without
editing this file.
"""

from __future__ import annotations

import random
import re
from typing import Any

import orjson
import pytest
from pydantic import TypeAdapter, ValidationError

from producer.source_client import parse_page
from producer.validation import validate_events
from schemas import OrderEvent
from schemas.examples import EXAMPLE_EVENT
from schemas.fast_validation import FastEventValidator, event_struct, python_pattern
from schemas.fields import FieldSpec, field_specs
from schemas.fixed_width_pattern import compile_fixed_width

MODEL = TypeAdapter(OrderEvent)
FAST = FastEventValidator()


def _wrong_values(spec: FieldSpec, good: Any) -> list[Any]:
    values: list[Any] = [None, True, [], {}, "", 5, 5.0, "5", -1, 0]
    if spec.type == "decimal":
        precision, scale = spec.decimal_digits()
        top = 10 ** (precision - scale)
        step = 10**-scale
        values += [
            "29.99", 29.999, 29.99, 1e-5, -0.0, -step, top - step, top, top - step / 2,
            0.1 + 0.2, 10**15, 30,
        ]  # fmt: skip
    if spec.type == "timestamp":
        values += [
            0, 1506941793, "yesterday", "2017-10-02", "2017-10-02 10:56:33",
            "2017-10-02T10:56:33", "2017-10-02T10:56:33Z", "2017-10-02T10:56:33.1234567+00:00",
            "2017-10-02T10:56:33,5Z", "2017-02-30T10:00:00Z", "2017-10-02T24:00:00Z",
        ]  # fmt: skip
    if spec.minimum is not None:
        values += [spec.minimum - 1, spec.minimum, spec.minimum + 1]
    if spec.maximum is not None:
        values += [spec.maximum - 1, spec.maximum, spec.maximum + 1]
    if spec.min_length is not None:
        values += ["x" * spec.min_length, "x" * max(0, spec.min_length - 1)]
    if spec.allowed_values is not None:
        values += list(spec.allowed_values) + [f"{value}".upper() + "x" for value in values[:1]]
        values += [str(value).upper() for value in spec.allowed_values]
    if isinstance(good, str) and spec.pattern is not None:
        values += [
            good + "\n", good.upper(), good[:-1], good + good[-1], "g" + good[1:],
            "\u0663" + good[1:], " " + good[1:], good[:-1] + "\u00e9",
        ]  # fmt: skip
    if spec.repeated:
        values += [[good[0]] if good else ["credit_card"], good, good + good, ["cash"], [None]]
        values += [[value] for value in spec.allowed_values or ()]
    return values


def corpus() -> list[dict[str, Any]]:
    """Events derived from EXAMPLE_EVENT, each breaking (or just touching) one rule."""
    base = dict(EXAMPLE_EVENT)
    events: list[dict[str, Any]] = [base, {**base, "unexpected": 1}]
    for spec in field_specs():
        events.append({key: value for key, value in base.items() if key != spec.name})
        for value in _wrong_values(spec, base[spec.name]):
            events.append({**base, spec.name: value})
    return events


def _mutations(count: int, seed: int) -> list[bytes]:
    """Seeded random edits of an event's JSON text (digits, quotes, letters, structure)."""
    text = orjson.dumps(EXAMPLE_EVENT)
    alphabet = b'0123456789abcdefAF-:.TZ+ "\\,{}[]enul\n\xc3\xa9\xff'
    rng = random.Random(seed)
    results = []
    for _ in range(count):
        edited = bytearray(text)
        for _ in range(rng.randint(1, 3)):
            position = rng.randrange(len(edited))
            choice = rng.random()
            if choice < 0.45:
                edited[position] = rng.choice(alphabet)
            elif choice < 0.75:
                edited.insert(position, rng.choice(alphabet))
            else:
                del edited[position]
        results.append(bytes(edited))
    return results


def _model_accepts(raw: bytes) -> bool | None:
    """Whether OrderEvent accepts the JSON ``raw``; ``None`` if it is not JSON at all."""
    try:
        event = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    try:
        MODEL.validate_python(event)
    except ValidationError:
        return False
    return True


def _model_reason(raw: bytes) -> str:
    try:
        MODEL.validate_python(orjson.loads(raw))
    except ValidationError as error:
        return "event does not match OrderEvent: " + "; ".join(
            f"{'.'.join(str(part) for part in detail['loc']) or '<event>'}: "
            f"{detail['msg']} (found {detail.get('input')!r})"
            for detail in error.errors(include_url=False)
        )
    raise AssertionError("the model accepts it")


def test_the_corpus_exercises_both_outcomes_of_every_field() -> None:
    raws = [orjson.dumps(event) for event in corpus()]
    outcomes = [_model_accepts(raw) for raw in raws]

    assert outcomes.count(True) > 50
    assert outcomes.count(False) > 300
    # The fast path takes the common case: every accepted event it can vouch for.
    assert FAST.validate([orjson.dumps(EXAMPLE_EVENT)]) != [None]


def test_fast_path_accepts_only_events_the_model_accepts_and_outcomes_are_the_models() -> None:
    raws = [orjson.dumps(event) for event in corpus()]
    structs = FAST.validate(raws)

    lax_only = 0
    for raw, struct in zip(raws, structs, strict=True):
        accepted = _model_accepts(raw)
        if struct is not None:
            assert accepted is True, raw
        elif accepted:
            lax_only += 1  # e.g. "5" for an int: pydantic decides, and accepts
        page = validate_events([raw])
        assert len(page.sequences) == (1 if accepted else 0), raw
        if not accepted:
            assert page.invalid[0].reason == _model_reason(raw)
            assert page.invalid[0].data == raw
    assert lax_only > 0


def test_a_page_gives_each_event_the_outcome_it_has_alone() -> None:
    events = corpus()
    raws = [orjson.dumps({**event, "source_sequence": index + 1}) for index, event in
            enumerate(events) if "source_sequence" in event]  # fmt: skip

    page = validate_events(raws)
    alone = [validate_events([raw]) for raw in raws]

    assert page.sequences == [s for result in alone for s in result.sequences]
    assert [invalid.reason for invalid in page.invalid] == [
        invalid.reason for result in alone for invalid in result.invalid
    ]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_edits_never_pass_the_fast_path_unless_the_model_accepts_them(seed: int) -> None:
    raws = _mutations(4000, seed)
    structs = FAST.validate(raws)

    fast_accepted = 0
    for raw, struct in zip(raws, structs, strict=True):
        if struct is not None:
            fast_accepted += 1
            assert _model_accepts(raw) is True, raw
    assert fast_accepted > 100  # edits inside strings and digits often keep an event valid


def test_checking_patterns_with_re_instead_vouches_for_exactly_the_same_events() -> None:
    # bench.producer measures the fixed-width compiler against this variant: it must be the
    # same filter, only slower or faster.
    with_re = FastEventValidator(fixed_width_patterns=False)
    raws = [orjson.dumps(event) for event in corpus()] + _mutations(4000, 4)

    vouched = [struct is not None for struct in FAST.validate(raws)]

    assert [struct is not None for struct in with_re.validate(raws)] == vouched
    assert 100 < vouched.count(True) < len(raws) - 100


def test_money_is_refused_exactly_when_the_model_refuses_it() -> None:
    rng = random.Random(11)
    edges = [0.0, -0.0, 0.01, 0.005, 1e-5, 0.1 + 0.2, 9999999999.99, 9999999999.994]
    prices: list[float | int] = [*edges, 9999999999.995, 1e10, 123456789012.0, 30]
    for _ in range(6000):
        digits = rng.randint(0, 12)
        prices.append(round(rng.uniform(0, 10**digits), rng.randint(0, 4)))
        prices.append(rng.randint(0, 10 ** rng.randint(0, 13)) / 100)
        prices.append(rng.uniform(0, 1e11))
    raws = [orjson.dumps({**EXAMPLE_EVENT, "price": price}) for price in prices]

    fast = [struct is not None for struct in FAST.validate(raws)]

    assert fast == [_model_accepts(raw) for raw in raws]
    assert 0 < fast.count(True) < len(fast)


def test_a_page_with_newlines_between_tokens_yields_one_line_events() -> None:
    pretty = orjson.dumps(
        {"events": [EXAMPLE_EVENT], "next_cursor": "7", "has_more": False, "head_sequence": 7},
        option=orjson.OPT_INDENT_2,
    )

    page = parse_page(pretty)

    assert b"\n" not in bytes(page.events[0])
    assert orjson.loads(bytes(page.events[0])) == EXAMPLE_EVENT
    assert validate_events(page.events).sequences == [EXAMPLE_EVENT["source_sequence"]]


def test_a_final_dollar_does_not_match_before_a_trailing_newline() -> None:
    assert python_pattern("^[0-9]{5}$") == "^[0-9]{5}\\Z"
    assert re.search(python_pattern("^[0-9]{5}$"), "01234\n") is None
    with pytest.raises(TypeError, match=r"uses \$ before its end"):
        python_pattern("^a$|^b$")


def test_fixed_width_patterns_agree_with_re_on_every_string() -> None:
    patterns = [
        "^[0-9a-f]{32}$",
        "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
        "^[0-9]{5}$",
        "^[A-Z]{2}-x[a-c-]{3}$",
    ]
    rng = random.Random(7)
    alphabet = "0123456789abcdefgxABCZ-\n \u0663\u00e9"
    for pattern in patterns:
        compiled = compile_fixed_width(pattern)
        assert compiled is not None, pattern
        checker = re.compile(python_pattern(pattern))
        width = len(compiled.allowed)
        for _ in range(3000):
            length = rng.choice([width, width, width, width - 1, width + 1])
            value = "".join(rng.choice(alphabet) for _ in range(max(0, length)))
            assert compiled.matches_all([value]) == bool(checker.search(value)), (pattern, value)
        valid = [v for v in ("0" * width, "a" * width) if checker.search(v)]
        assert compiled.matches_all(valid * 5)


def test_patterns_outside_the_fixed_width_subset_are_left_to_re() -> None:
    for pattern in ["^[0-9]+$", "^a|b$", "^[^a]{3}$", "^\\d{5}$", "^.{3}$", "[0-9]{5}", "^a{2,3}$"]:
        assert compile_fixed_width(pattern) is None, pattern


def test_a_constraint_the_fast_path_cannot_mirror_is_refused_at_derivation() -> None:
    from pydantic import BaseModel, ConfigDict, Field, field_validator

    class WithMultiple(BaseModel):
        model_config = ConfigDict(extra="forbid")
        quantity: int = Field(multiple_of=5)

    class WithValidator(BaseModel):
        name: str

        @field_validator("name")
        @classmethod
        def _upper(cls, value: str) -> str:
            return value.upper()

    with pytest.raises(TypeError, match="does not enforce"):
        event_struct(WithMultiple)
    with pytest.raises(TypeError, match="has validators msgspec cannot run"):
        event_struct(WithValidator)
