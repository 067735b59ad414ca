"""The Team page through AppTest on a real workspace: members and roles, projects, new teams."""

from __future__ import annotations

import pytest

from apptest import ADMIN, PASSWORD, checked, log_in, open_page, page, texts
from promptvault import accounts, audit, teams
from ui import session

PAGE = "pages/team.py"

pytestmark = pytest.mark.usefixtures("cheap_hashing")


def roles(ctx) -> dict[str, str]:
    """Members of Default and their roles."""
    return {m.email: m.role for m in teams.list_members(ctx, "Default")}


def test_team_lists_members_and_roles(app_admin, app_member):
    app_member("ed@example.com", "editor")
    at = open_page(PAGE, app_admin)
    table = at.dataframe[0].value
    assert dict(zip(table["E-mail"], table["Role"])) == {ADMIN: "owner", "ed@example.com": "editor"}
    assert "You are owner of Default." in texts(at)


def test_admin_adds_a_new_account_as_a_member(app_admin):
    at = open_page(PAGE, app_admin)
    at.text_input(key="team.add.0.email").input("New.Person@example.com")
    at.selectbox(key="team.add.0.role").set_value("viewer")
    at.checkbox(key="team.add.0.new").check()
    at.text_input(key="team.add.0.name").input("New Person")
    at.text_input(key="team.add.0.password").input("a first password here")
    at = checked(at.button(key="team.add.0.submit").click().run())
    assert roles(app_admin)["new.person@example.com"] == "viewer"
    assert "new.person@example.com is now viewer of Default." in texts(at)
    assert accounts.authenticate(app_admin.db, app_admin.keyring, "new.person@example.com", "a first password here")
    assert at.text_input(key="team.add.1.password").value == ""
    assert "a first password here" not in repr([at.session_state[k] for k in at.session_state])


def test_admin_adds_an_existing_account(app_admin):
    accounts.add_user(app_admin, "known@example.com", PASSWORD)
    at = open_page(PAGE, app_admin)
    at.text_input(key="team.add.0.email").input("known@example.com")
    at = checked(at.button(key="team.add.0.submit").click().run())
    assert roles(app_admin)["known@example.com"] == "editor"  # the form's default role


def test_adding_an_unknown_e_mail_without_new_account_says_so(app_admin):
    at = open_page(PAGE, app_admin)
    at.text_input(key="team.add.0.email").input("ghost@example.com")
    at = checked(at.button(key="team.add.0.submit").click().run())
    assert "no user with the e-mail 'ghost@example.com'" in texts(at)
    assert at.text_input(key="team.add.1.email").value == "ghost@example.com"


def test_admin_changes_a_role_and_removes_a_member(app_admin, app_member):
    app_member("ed@example.com", "editor")
    at = open_page(PAGE, app_admin)
    at.selectbox(key="team.role.member").set_value("ed@example.com")
    at.selectbox(key="team.role.role").set_value("admin")
    at = checked(at.button(key="team.role.submit").click().run())
    assert roles(app_admin)["ed@example.com"] == "admin"
    events = audit.list_events(app_admin, teams.team_id_by_name(app_admin, "Default"), action="role.change")
    assert (events[0].target, events[0].details["from"], events[0].details["to"]) == ("ed@example.com", "editor", "admin")
    at.selectbox(key="team.remove.member").set_value("ed@example.com")
    at.checkbox(key="team.remove.sure").check()
    at = checked(at.button(key="team.remove.submit").click().run())
    assert "ed@example.com" not in roles(app_admin)


def test_only_owners_are_offered_the_owner_role(app_admin, app_member):
    admin = app_member("admin2@example.com", "admin")
    app_member("ed@example.com", "editor")
    assert "owner" in open_page(PAGE, app_admin).selectbox(key="team.role.role").options
    at = open_page(PAGE, admin)
    assert at.selectbox(key="team.role.role").options == ["admin", "editor", "viewer"]
    assert at.selectbox(key="team.add.0.role").options == ["admin", "editor", "viewer"]


def test_an_admin_trying_to_demote_the_owner_gets_the_core_refusal(app_admin, app_member):
    admin = app_member("admin2@example.com", "admin")
    at = open_page(PAGE, admin)
    at.selectbox(key="team.role.member").set_value(ADMIN)
    at.selectbox(key="team.role.role").set_value("viewer")
    at = checked(at.button(key="team.role.submit").click().run())
    assert "team.manage needs the owner role" in texts(at)
    assert roles(app_admin)[ADMIN] == "owner"


def test_editor_sees_members_but_no_member_controls(app_admin, app_member):
    editor = app_member("ed@example.com", "editor")
    at = open_page(PAGE, editor)
    assert len(at.dataframe[0].value) == 2
    assert not [b.key for b in at.button if b.key.startswith(("team.add", "team.role", "team.remove", "team.projects.new"))]
    assert "Only admins and owners of the team change its members." in texts(at)


def test_projects_list_and_create(app_admin):
    at = open_page(PAGE, app_admin)
    assert list(at.dataframe[1].value["Project"]) == ["default"]
    at.text_input(key="team.projects.new.name").input("chatbot")
    at = checked(at.button(key="team.projects.new.submit").click().run())
    assert [p.name for p in teams.list_projects(app_admin, "Default")] == ["chatbot", "default"]
    assert list(at.dataframe[1].value["Project"]) == ["chatbot", "default"]


def test_any_member_creates_a_team_and_owns_it(app_admin, app_member):
    editor = app_member("ed@example.com", "editor")
    at = open_page(PAGE, editor)
    at.text_input(key="team.create.name").input("Side project")
    at = checked(at.button(key="team.create.submit").click().run())
    assert {t.name: t.role for t in teams.list_teams(editor)} == {"Default": "editor", "Side project": "owner"}
    assert at.session_state[session.SWITCH_KEY] == {"team": "Side project", "project": "default"}  # for the sidebar


def test_user_text_reaches_markdown_escaped(app_admin):
    teams.create_team(app_admin, "**Bold** [x](http://e.com)")
    at = log_in(page(PAGE), app_admin)
    at.session_state[session.SCOPE_KEY] = {"team": "**Bold** [x](http://e.com)", "project": "default"}
    at = checked(at.run())
    assert "\\*\\*Bold\\*\\* \\[x\\]\\(http" in at.caption[0].value
