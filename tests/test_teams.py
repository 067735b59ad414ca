"""Teams, members and projects: who may grant what, a team always keeps an owner, projects per team."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from promptvault import library, teams
from promptvault.errors import (
    AlreadyExistsError, NotFoundError, PermissionDeniedError, ValidationError,
)
from promptvault.store.tables import AuditEvent


def role_events(ctx) -> list[tuple[str, str | None, str | None]]:
    """(target, from, to) of every role.change event, oldest first."""
    with ctx.db.read() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "role.change").order_by(AuditEvent.id))
        return [(e.target, e.details["from"], e.details["to"]) for e in events]


def test_create_team_makes_the_creator_owner_with_a_default_project(person):
    ann = person("ann@example.com", None)
    info = teams.create_team(ann, "Research")
    assert (info.name, info.role) == ("Research", "owner")
    assert [(t.name, t.role) for t in teams.list_teams(ann)] == [("Research", "owner")]
    assert [p.name for p in teams.list_projects(ann, "Research")] == ["default"]
    assert [(m.email, m.role) for m in teams.list_members(ann, info.id)] == [("ann@example.com", "owner")]
    assert role_events(ann)[-1] == ("ann@example.com", None, "owner")


def test_create_team_refuses_a_taken_name_in_any_case(person):
    ann = person("ann@example.com", None)
    teams.create_team(ann, "Research")
    with pytest.raises(AlreadyExistsError, match="already exists"):
        teams.create_team(ann, "research")
    with pytest.raises(ValidationError, match="team name is empty"):
        teams.create_team(ann, "  ")


def test_list_teams_shows_only_the_actors_teams(person):
    ann, bob = person("ann@example.com", None), person("bob@example.com", None)
    teams.create_team(ann, "Research")
    teams.create_team(bob, "Sales")
    assert [t.name for t in teams.list_teams(ann)] == ["Research"]
    for name in ("Sales", "Nope"):
        with pytest.raises(NotFoundError, match="^no such team$"):
            teams.team_id_by_name(ann, name)
        with pytest.raises(NotFoundError, match="^no such team$"):
            teams.list_members(ann, name)


def test_admin_manages_members_below_owner_and_changes_are_audited(person):
    admin = person("admin@example.com", "admin")
    person("eve@example.com", None)
    teams.add_member(admin, "Default", "EVE@example.com", "viewer")
    assert teams.set_role(admin, "Default", "eve@example.com", "editor").role == "editor"
    teams.remove_member(admin, "Default", "eve@example.com")
    assert "eve@example.com" not in [m.email for m in teams.list_members(admin, "Default")]
    assert role_events(admin)[-3:] == [
        ("eve@example.com", None, "viewer"), ("eve@example.com", "viewer", "editor"), ("eve@example.com", "editor", None),
    ]


def test_only_an_owner_grants_or_takes_away_owner(person, workspace):
    admin = person("admin@example.com", "admin")
    person("eve@example.com", "viewer")
    person("olga@example.com", "owner")
    for attempt in (
        lambda: teams.set_role(admin, "Default", "eve@example.com", "owner"),
        lambda: teams.set_role(admin, "Default", "olga@example.com", "admin"),
        lambda: teams.remove_member(admin, "Default", "olga@example.com"),
        lambda: teams.set_role(admin, "Default", "admin@example.com", "owner"),
    ):
        with pytest.raises(PermissionDeniedError, match="team.manage needs the owner role"):
            attempt()
    owner = workspace.context_for("olga@example.com")
    assert teams.set_role(owner, "Default", "eve@example.com", "owner").role == "owner"
    teams.remove_member(owner, "Default", "eve@example.com")


def test_the_last_owner_can_be_neither_demoted_nor_removed(workspace, person):
    ann = person("ann@example.com", None)
    teams.create_team(ann, "Research")
    with pytest.raises(ValidationError, match="at least one owner"):
        teams.set_role(ann, "Research", "ann@example.com", "admin")
    with pytest.raises(ValidationError, match="at least one owner"):
        teams.remove_member(ann, "Research", "ann@example.com")
    person("bob@example.com", None)
    teams.add_member(ann, "Research", "bob@example.com", "owner")
    teams.set_role(ann, "Research", "ann@example.com", "admin")  # bob still owns it
    bob = workspace.context_for("bob@example.com", team="Research")
    with pytest.raises(ValidationError, match="at least one owner"):
        teams.remove_member(bob, "Research", "bob@example.com")


def test_member_changes_name_unknown_users_roles_and_duplicates(person):
    admin = person("admin@example.com", "admin")
    with pytest.raises(NotFoundError, match="no user with the e-mail 'ghost@example.com'"):
        teams.add_member(admin, "Default", "ghost@example.com", "viewer")
    with pytest.raises(AlreadyExistsError, match="already a member"):
        teams.add_member(admin, "Default", "admin@example.com", "viewer")
    with pytest.raises(ValidationError, match="unknown role 'boss'"):
        teams.add_member(admin, "Default", "admin@example.com", "boss")
    person("eve@example.com", None)
    with pytest.raises(NotFoundError, match="not a member"):
        teams.set_role(admin, "Default", "eve@example.com", "viewer")


def test_editors_and_viewers_cannot_manage_members(person):
    editor = person("ed@example.com", "editor")
    person("eve@example.com", None)
    with pytest.raises(PermissionDeniedError, match="member.manage needs the admin role or higher; you are editor"):
        teams.add_member(editor, "Default", "eve@example.com", "viewer")
    assert {m.email for m in teams.list_members(editor, "Default")} >= {"ed@example.com"}


def test_create_project_is_for_admins_and_names_are_unique_per_team(workspace, person):
    admin, editor = person("admin@example.com", "admin"), person("ed@example.com", "editor")
    created = teams.create_project(admin, "Default", "support-bot")
    assert (created.name, created.team_id) == ("support-bot", teams.team_id_by_name(admin, "Default"))
    assert [p.name for p in teams.list_projects(editor, "Default")] == ["default", "support-bot"]
    with pytest.raises(AlreadyExistsError, match="already has a project named 'support-bot'"):
        teams.create_project(admin, "Default", "support-bot")
    with pytest.raises(PermissionDeniedError, match="project.manage needs the admin role"):
        teams.create_project(editor, "Default", "mine")
    with pytest.raises(ValidationError):
        teams.create_project(admin, "Default", "no spaces allowed")
    in_project = workspace.context_for("ed@example.com", project="support-bot")
    library.create_prompt(in_project, "greet")
    assert [p.name for p in library.list_prompts(in_project)] == ["greet"]
    assert library.list_prompts(editor) == []


def test_projects_of_the_same_name_in_two_teams_stay_apart(workspace, person):
    ann = person("ann@example.com", "editor")
    teams.create_team(ann, "Research")
    default_team = workspace.context_for("ann@example.com", team="Default")
    research = workspace.context_for("ann@example.com", team="Research")
    assert default_team.project_id != research.project_id
    assert workspace.context_for("ann@example.com").project_id == default_team.project_id  # oldest team first
    library.create_prompt(research, "greet")
    assert library.list_prompts(default_team) == []
    with pytest.raises(NotFoundError, match="no project 'nope'"):
        workspace.context_for("ann@example.com", project="nope")
