"""The shortcut for plain mainland mobiles must answer exactly what the full phone-number parse answers."""

import random

from apps.core.errors import ApplicationError
from apps.members import phones

FULL_WIDTH = str.maketrans("0123456789+", "０１２３４５６７８９＋")


def answer(raw: str) -> str:
    try:
        return phones.normalize_phone(raw)
    except ApplicationError as error:
        return f"error: {error.message}"


def written_forms(rng: random.Random) -> list[str]:
    digits = "1" + "".join(rng.choice("0123456789") for _ in range(rng.choice([9, 10, 10, 10, 11])))
    grouped = f"{digits[:3]} {digits[3:7]} {digits[7:]}"
    forms = [digits, grouped, f"+86{digits}", f"+86 {grouped}", f"0086{digits}", f"86{digits}", f"{digits[:3]}-{digits[3:7]}-{digits[7:]}"]
    forms += [
        f"({digits[:3]}) {digits[3:]}",
        f"0{digits}",
        f"+1{digits}",
        digits.translate(FULL_WIDTH),
        f"+86{digits}".translate(FULL_WIDTH),
    ]
    return forms


TRICKY = [
    "13800138000",
    "8613800138000",
    "868613800138000",
    "+8686138001380",
    "+86 86 138 0013 8000",
    "008613800138000",
    "０１３８００１３８０００",
    "+852 6123 4567",
    "+1 650 253 0000",
    "010 6552 9988",
    "02161234567",
    "1380013800",
    "138001380000",
    "19912345678",
    "16612345678",
    "14612345678",
    "12345678901",
    "1 3 8 0 0 1 3 8 0 0 0",
    "138·0013·8000",
    "138/0013/8000",
    "٣٨٠٠١٣٨٠٠٠",
    "١٣٨٠٠١٣٨٠٠٠",
    "+",
    "86",
    "+86",
    "abc13800138000",
    "1380013800a",
]


def test_the_plain_mobile_shortcut_gives_the_full_parse_answer_on_many_inputs(monkeypatch):
    rng = random.Random(19)
    inputs = TRICKY + [form for _ in range(800) for form in written_forms(rng)]
    fast = [answer(raw) for raw in inputs]
    assert sum(value.startswith("+") for value in fast) > len(inputs) // 4
    monkeypatch.setattr(phones, "_plain_mobile", lambda text, region: None)
    assert [answer(raw) for raw in inputs] == fast
