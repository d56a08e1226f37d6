import pytest

from ocr_pipeline.engine.iin import (
    checksum_digit,
    find_numbers,
    has_valid_checksum,
    is_bin,
    is_female,
    is_valid_iin,
    mask_iin,
)

pytestmark = pytest.mark.unit


def _complete(first11: str) -> str:
    return first11 + str(checksum_digit(first11))


def test_checksum_of_known_numbers():
    iin = _complete("96012540012")
    assert has_valid_checksum(iin)
    assert not has_valid_checksum(iin[:-1] + str((int(iin[-1]) + 1) % 10))
    assert not has_valid_checksum("12345")
    assert not has_valid_checksum("96012540012x")


def test_second_weights_used_when_first_control_is_ten():
    second_weights = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)
    seen = {"digit": 0, "none": 0}
    for n in range(10**10, 10**10 + 20000):
        first11 = f"{n:011d}"
        if sum(int(d) * w for d, w in zip(first11, range(1, 12))) % 11 != 10:
            continue
        second = sum(int(d) * w for d, w in zip(first11, second_weights)) % 11
        if second == 10:
            assert checksum_digit(first11) is None
            seen["none"] += 1
        else:
            assert checksum_digit(first11) == second
            seen["digit"] += 1
    assert seen["digit"] and seen["none"], seen


def test_iin_versus_bin_and_gender():
    iin_female = _complete("96012540012")
    iin_male = _complete("85031130012")
    bin_ = _complete("12054001234")
    assert is_valid_iin(iin_female) and is_female(iin_female) is True
    assert is_valid_iin(iin_male) and is_female(iin_male) is False
    assert is_bin(bin_) and not is_valid_iin(bin_)


def test_mask_keeps_only_edges():
    assert mask_iin("960125400124") == "9601******24"
    assert "400" not in mask_iin("960125400124")


def test_find_numbers_tolerates_spaces_and_lookalikes():
    iin = _complete("96012540012")
    bin_ = _complete("12054001234")
    spaced = f"{iin[:4]} {iin[4:8]} {iin[8:]}"
    text = f"ИИН: {spaced}\nБИН {bin_}\nИИН {iin[:2]}О{iin[3:]}"  # Cyrillic О for a zero
    found = find_numbers(text)
    assert [(f.number, f.kind) for f in found] == [(iin, "iin"), (bin_, "bin"), (iin, "iin")]


def test_find_numbers_ignores_words_and_short_numbers():
    assert find_numbers("Приказ № 123 от 01.02.2024, тел. 8 701 123 45 67") == []
    assert find_numbers("Иванова Мария Петровна") == []
