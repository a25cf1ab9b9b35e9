"""The vocabulary's words and column sets agree with every frame model and every copy still awaiting a merge.

``tests/test_house_rules.py`` keeps new spellings out; these tests keep the old copies (listed there with
"TODO(after merge)") equal to the home until they import it, and the pandera models checking the same words.
"""

from __future__ import annotations

from tyk_migrate import schemas, ui_format, vocabulary
from tyk_migrate.cli import present
from tyk_migrate.run import rows
from tyk_migrate.verify import MIGRATED_STATUSES


def test_the_frame_models_check_the_vocabulary() -> None:
    outcomes = schemas.Outcomes.to_schema()
    assert tuple(outcomes.columns) == vocabulary.RUN_OUTCOME_COLUMNS
    assert schemas.OUTCOME_STATUSES is vocabulary.OUTCOME_STATUSES
    assert schemas.ACTIONS is vocabulary.ACTIONS
    assert set(schemas.PlanFrame.to_schema().columns["action"].checks[0].statistics["allowed_values"]) == set(
        vocabulary.ACTIONS
    )


def test_the_copies_awaiting_a_merge_equal_the_home() -> None:
    # the runner's old names are the vocabulary's own sets now, not copies of them
    assert rows.STATUSES is vocabulary.OUTCOME_STATUSES
    assert rows.WRITE_ACTIONS is vocabulary.WRITE_ACTIONS
    assert rows.PLAN_COLUMNS is vocabulary.RUN_INPUT_COLUMNS
    assert rows.OUTCOME_COLUMNS is vocabulary.RUN_OUTCOME_COLUMNS
    # the CLI's one-line result keeps its own order of the result statuses (dry_run before failed)
    assert sorted(present.RUN_STATUSES) == sorted(vocabulary.RESULT_STATUSES)
    assert MIGRATED_STATUSES == vocabulary.MIGRATED_STATUSES
    assert ui_format.ACTIONS is vocabulary.ACTIONS and ui_format.WRITE_ACTIONS is vocabulary.WRITE_ACTIONS


def test_each_word_names_itself_and_the_sets_hold_only_words() -> None:
    for name in vocabulary.WORDS:
        assert getattr(vocabulary, name.upper()) == name
    columns = {"RUN_INPUT_COLUMNS", "RUN_OUTCOME_COLUMNS"}
    for set_name, members in vocabulary.WORD_SETS.items():
        assert len(set(members)) == len(members), set_name
        if set_name not in columns:
            assert set(members) <= vocabulary.WORDS, set_name
    assert set(vocabulary.RESULT_STATUSES) | {vocabulary.ROLLED_BACK} == set(vocabulary.OUTCOME_STATUSES)
