"""The generator's negative cases name somebody else: never the applicant in another spelling (no OCR)."""

import pytest

from ocr_pipeline_devtools import docgen

pytestmark = pytest.mark.unit

NEGATIVE_GROUPS = [g for g in docgen.CASE_GROUPS_NEGATIVE if g not in ("namesake", "unreadable")]
SEEDS = range(400)


def test_spelling_variants_are_the_same_name_and_other_names_are_not():
    assert docgen.spelling_variant("patronymic", "Қайратұлы", "Кайратович")
    assert docgen.spelling_variant("patronymic", "Кайратовна", "Қайратқызы")
    assert docgen.spelling_variant("patronymic", "Серикович", "Серікұлы")
    assert docgen.spelling_variant("first", "Алия", "Әлия")
    assert docgen.spelling_variant("first", "Алёна", "Алена")
    assert docgen.spelling_variant("surname", "Жумабаев", "Жұмабаев")
    assert not docgen.spelling_variant("patronymic", "Қайратұлы", "Нурланович")
    assert not docgen.spelling_variant("patronymic", "Петрович", "Павлович")
    assert not docgen.spelling_variant("first", "Дина", "Динара")
    assert not docgen.spelling_variant("first", "Диана", "Дана")
    assert docgen.same_name(docgen.make_person("a", "Абенов", "Арсен", "Қайратұлы", False, "900101300015"),
                            docgen.make_person("b", "Абенов", "Арсен", "Кайратович", False, "900101300015"))


@pytest.mark.parametrize("group", NEGATIVE_GROUPS)
def test_a_negative_case_never_names_the_applicant_in_another_spelling(group):
    for seed in SEEDS:
        case = docgen.make_case(group, seed)
        assert not case.expected
        assert not docgen.same_name(case.applicant, case.subject), (group, seed, case.applicant.forms["nom"],
                                                                    case.subject.forms["nom"])


def test_other_patronymic_is_never_the_applicants_in_its_other_style():
    kazakh_style = 0
    for seed in range(1000):
        case = docgen.make_case("other_patronymic", seed)
        ours, theirs = case.applicant.second_name, case.subject.second_name
        assert ours and theirs
        assert not docgen.spelling_variant("patronymic", ours, theirs), (seed, ours, theirs)
        kazakh_style += ours.endswith(("ұлы", "қызы"))
    assert kazakh_style > 20  # the seeds do cover applicants with Kazakh patronymics


def test_the_hand_written_traps_are_other_names():
    for key, relatives in docgen.RELATIVES.items():
        for relative in relatives:
            assert not docgen.same_name(docgen.PEOPLE[key], relative), relative.key
    for key, other in docgen.OTHER_PATRONYMIC.items():
        assert not docgen.same_name(docgen.PEOPLE[key], other), other.key
