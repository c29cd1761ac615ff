"""The verbs of the channel, rule, event and delivery groups, and their --help (in process: fast)."""

from __future__ import annotations

import argparse

import pytest

from notifications.management.commands.notification import Command

VERBS = {
    "channel": ["list", "info", "create", "update", "delete", "validate"],
    "rule": ["list", "info", "create", "update", "delete", "validate", "types", "schema"],
    "event": ["emit"],
    "delivery": ["list", "info", "retry"],
}


def _parser() -> argparse.ArgumentParser:
    return Command().create_parser("manage.py", "notification")


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    return action.choices


@pytest.mark.parametrize("group", VERBS)
def test_the_group_has_exactly_its_verbs(group):
    assert sorted(_subcommands(_subcommands(_parser())[group])) == sorted(VERBS[group])


@pytest.mark.parametrize(("group", "verb"), [(group, verb) for group, verbs in VERBS.items() for verb in verbs])
def test_every_verb_has_help_and_a_json_switch(group, verb, capsys):
    with pytest.raises(SystemExit) as exited:
        _parser().parse_args([group, verb, "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: manage.py notification {group} {verb}")
    assert "--json" in text
