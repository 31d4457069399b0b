"""Which category ids of a dataset mean 'person' (the detection task merges every person class into one)."""
from __future__ import annotations

PERSON_WORDS = ("person", "pedestrian", "people", "human")


def is_person_name(name: str) -> bool:
    n = str(name).lower()
    return any(w in n for w in PERSON_WORDS)


def person_class_ids(names: dict[int, str], source: str) -> set[int] | None:
    """Ids whose name reads as a person (e.g. TinyPerson's sea_person/earth_person, COCO's person).

    A dataset with a single category counts as all-person; ``None`` means "no names given: keep every class".
    Several categories of which none is a person is an error that names them.
    """
    if not names:
        return None
    ids = {i for i, n in names.items() if is_person_name(n)}
    if ids:
        return ids
    if len(names) == 1:
        return set(names)
    raise ValueError(f"{source}: none of the categories {sorted(names.values())} is a person class "
                     f"(expected a name containing one of {PERSON_WORDS})")
