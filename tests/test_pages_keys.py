"""The Keys page through AppTest on a real workspace: write-only keys, role-based controls, session-only keys."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from apptest import ADMIN, APP, EDITOR, checked, open_page, pages, texts
from promptvault import audit, teams, vault
from promptvault.errors import PermissionDeniedError
from promptvault.session_keys import SESSION_KEYRING, SessionKey
from promptvault.store.tables import ProviderKey, utcnow

PAGE = "pages/keys.py"
CANARY = "sk-canary-7f3a9c1e5b2d4f6a8c0e"

pytestmark = pytest.mark.usefixtures("cheap_hashing")


def everything(at: AppTest) -> str:
    """Every element's protobuf, every table cell and every session-state value: all the page holds."""
    parts = [repr(at.session_state[k]) for k in at.session_state]
    parts += [d.value.to_string() for d in at.dataframe]

    def walk(node):
        if getattr(node, "proto", None) is not None:
            parts.append(str(node.proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(parts)


def add_key(at: AppTest, secret: str, provider: str = "openai", label: str = "", scope: str | None = None) -> AppTest:
    """Fill and submit the "Add a key" form."""
    form = f"keys.add.{at.session_state['keys.add.generation']}"
    at.selectbox(key=f"{form}.provider").set_value(provider)
    at.text_input(key=f"{form}.label").input(label)
    at.text_input(key=f"{form}.secret").input(secret)
    if scope:
        at.radio(key=f"{form}.scope").set_value(scope)
    return checked(at.button(key=f"{form}.submit").click().run())


def test_admin_adds_a_shared_key_and_only_its_last_four_are_shown(app_admin):
    at = add_key(open_page(PAGE, app_admin), CANARY, label="production")
    [info] = vault.list_keys(app_admin, teams.team_id_by_name(app_admin, "Default"))
    assert (info.provider, info.label, info.owner, info.last4) == ("openai", "production", None, "4f6a8c0e"[-4:])
    assert "Saved the openai key …8c0e" in texts(at)
    table = at.dataframe[0].value
    assert list(table["Key"]) == ["…8c0e"] and list(table["Scope"]) == ["Shared with the team"]
    assert list(table["Added by"]) == [ADMIN] and list(table["Last used (UTC)"]) == ["never"]
    assert CANARY not in everything(at)
    assert at.text_input(key="keys.add.1.secret").value == ""  # a fresh form, the key field empty


def test_a_refused_key_clears_the_field_and_keeps_the_rest(app_admin):
    at = add_key(open_page(PAGE, app_admin), "has a space " + CANARY, provider="anthropic", label="lab")
    assert "no spaces" in texts(at)
    assert vault.list_keys(app_admin, teams.team_id_by_name(app_admin, "Default")) == []
    assert at.text_input(key="keys.add.1.secret").value == ""
    assert at.text_input(key="keys.add.1.label").value == "lab"
    assert at.selectbox(key="keys.add.1.provider").value == "anthropic"
    assert CANARY not in everything(at)


def test_editor_gets_no_shared_key_option_and_no_controls_for_shared_keys(app_admin, app_editor):
    vault.add_key(app_admin, teams.team_id_by_name(app_admin, "Default"), "openai", CANARY, label="team key")
    at = open_page(PAGE, app_editor)
    assert list(at.dataframe[0].value["Key"]) == ["…8c0e"]
    assert at.radio(key="keys.add.0.scope").options == ["Personal (only you)"]
    assert "Only admins and owners add keys shared with the team" in texts(at)
    keys_of_widgets = [w.key for w in [*at.button, *at.selectbox, *at.checkbox, *at.text_input]]
    assert not any(k.startswith("keys.manage") for k in keys_of_widgets)  # no replace, no delete
    assert "Replace (rotate) or delete a key" not in [e.label for e in at.expander]


def test_what_the_page_hides_from_an_editor_the_core_refuses(app_admin, app_editor):
    team_id = teams.team_id_by_name(app_editor, "Default")
    shared = vault.add_key(app_admin, team_id, "openai", CANARY)
    for call in (lambda: vault.add_key(app_editor, team_id, "openai", CANARY),
                 lambda: vault.delete_key(app_editor, shared.id),
                 lambda: vault.replace_key(app_editor, shared.id, CANARY)):
        with pytest.raises(PermissionDeniedError):
            call()


def test_editor_adds_a_personal_key_and_may_delete_it(app_admin, app_editor):
    at = add_key(open_page(PAGE, app_editor), CANARY, provider="openrouter", label="mine")
    [info] = vault.list_keys(app_editor, teams.team_id_by_name(app_editor, "Default"))
    assert (info.owner, info.provider) == (EDITOR, "openrouter")
    assert list(at.dataframe[0].value["Scope"]) == ["Personal (only you)"]
    assert vault.list_keys(app_admin, info.team_id) == []  # nobody else sees it, not even the admin
    at.checkbox(key="keys.manage.delete.sure").check()
    at = checked(at.button(key="keys.manage.delete.submit").click().run())
    assert vault.list_keys(app_editor, info.team_id) == []
    assert "Deleted openrouter · mine · …8c0e · personal." in texts(at)


def test_delete_needs_the_confirmation(app_admin):
    team_id = teams.team_id_by_name(app_admin, "Default")
    vault.add_key(app_admin, team_id, "openai", CANARY)
    at = checked(open_page(PAGE, app_admin).button(key="keys.manage.delete.submit").click().run())
    assert "Tick “Yes, destroy this key” first." in texts(at)
    assert len(vault.list_keys(app_admin, team_id)) == 1


def test_old_keys_are_flagged_and_replacing_one_rotates_it(app_admin):
    team_id = teams.team_id_by_name(app_admin, "Default")
    old = vault.add_key(app_admin, team_id, "openai", "sk-old-key-000000000001", label="old")
    vault.add_key(app_admin, team_id, "anthropic", "sk-ant-fresh-00000000002", label="fresh")
    with app_admin.db.write() as db_session:
        db_session.get(ProviderKey, old.id).created_at = utcnow() - timedelta(days=vault.KEY_MAX_AGE_DAYS + 5)
    at = open_page(PAGE, app_admin)
    assert f"1 key is older than {vault.KEY_MAX_AGE_DAYS} days" in texts(at)
    ages = dict(zip(at.dataframe[0].value["Label"], at.dataframe[0].value["Age"]))
    assert "rotate" in ages["old"] and "rotate" not in ages["fresh"]
    assert at.selectbox(key="keys.manage.pick").value == old.id  # the key due for rotation comes first
    at.text_input(key="keys.manage.replace.0.secret").input(CANARY)
    at = checked(at.button(key="keys.manage.replace.0.submit").click().run())
    rotated = next(k for k in vault.list_keys(app_admin, team_id) if k.id == old.id)
    assert (rotated.last4, rotated.needs_rotation, rotated.rotated_at is not None) == ("8c0e", False, True)
    assert "older than" not in texts(at) and "the new key ends in …8c0e" in texts(at)
    assert [e.action for e in audit.list_events(app_admin, team_id, action="key.rotate")] == ["key.rotate"]
    assert CANARY not in everything(at)


def test_session_only_key_is_sealed_in_the_session_and_never_written(app_admin):
    team_id = teams.team_id_by_name(app_admin, "Default")
    at = open_page(PAGE, app_admin)
    at.selectbox(key="keys.session.add.0.provider").set_value("anthropic")
    at.text_input(key="keys.session.add.0.label").input("try-out")
    at.text_input(key="keys.session.add.0.secret").input(CANARY)
    at = checked(at.button(key="keys.session.add.0.submit").click().run())
    [kept] = at.session_state["pv.session_keys"]
    assert isinstance(kept, SessionKey) and (kept.provider, kept.label, kept.last4) == ("anthropic", "try-out", "8c0e")
    assert SESSION_KEYRING.reveal(kept) == CANARY  # the runner can open it; the page never does
    assert "anthropic · try\\-out · …8c0e" in "\n".join(m.value for m in at.markdown)
    assert CANARY not in everything(at)
    with app_admin.db.read() as db_session:
        assert db_session.scalar(select(func.count()).select_from(ProviderKey)) == 0
    assert vault.list_keys(app_admin, team_id) == []
    at = checked(at.button(key="keys.session.forget.0").click().run())
    assert at.session_state["pv.session_keys"] == []


def test_editor_sees_no_audit_page_in_the_menu(app_admin, app_editor):
    at = open_page(APP, app_editor)
    assert pages(at) == ["Library", "Editor", "Playground", "Compare", "Datasets", "Analytics", "Keys", "Team"]
