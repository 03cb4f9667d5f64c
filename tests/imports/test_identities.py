import random

from apps.imports.identities import SeenIdentities


def test_the_first_row_of_either_identity_is_answered_and_a_duplicate_row_is_not_remembered():
    seen = SeenIdentities()
    assert seen.claim(["ext:CRM1", "phone:+8613800138000"], 2) is None
    assert seen.claim(["ext:CRM2", "phone:+8613800138000"], 3) == 2
    assert seen.claim(["ext:CRM1"], 4) == 2
    # Row 3 was a duplicate, so its external ID was never taken.
    assert seen.claim(["ext:CRM2"], 5) is None
    assert seen.claim(["ext:CRM2", "phone:+8613800138001"], 6) == 5
    assert len(seen) == 3


def test_answers_match_a_dict_over_many_identities_across_growth():
    rng = random.Random(19)
    seen, reference = SeenIdentities(), {}
    for row_number in range(2, 60_002):
        identities = [f"ext:会员-{rng.randrange(40_000)}", f"phone:+86138{rng.randrange(40_000):08d}"][: rng.choice([1, 2])]
        expected = next((reference[identity] for identity in identities if identity in reference), None)
        assert seen.claim(identities, row_number) == expected
        if expected is None:
            reference.update(dict.fromkeys(identities, row_number))
    assert len(seen) == len(reference)


def test_identities_are_compared_exactly_not_by_prefix_case_or_width():
    seen = SeenIdentities()
    seen.claim(["ext:A1"], 2)
    for other in ["ext:A", "ext:A10", "ext:a1", "ext:Ａ1", "phone:A1", "ext:A1 "]:
        assert seen.claim([other], 3) is None, other
    assert seen.claim(["ext:A1"], 9) == 2


def test_the_same_identity_twice_in_one_claim_is_remembered_once():
    seen = SeenIdentities()
    assert seen.claim(["ext:X", "ext:X"], 2) is None
    assert len(seen) == 1 and seen.claim(["ext:X"], 3) == 2
