"""The role matrix: every role against every action, calling the services directly; and teams kept apart."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from promptvault import accounts, audit, authz, library, refs, teams, versioning
from promptvault.authz import ACTIONS, Role
from promptvault.context import Context
from promptvault.errors import NotFoundError, PermissionDeniedError
from promptvault.store.tables import AuditEvent
from promptvault.workspace import Workspace

ROLES = ["owner", "admin", "editor", "viewer", "non-member"]
THREE_LINES = "Hello {{ name }}\nline 2\nline 3"


@dataclass
class World:
    """Team Acme with one member per role and a prompt `greet`; team Other, whose owner is Acme's non-member."""

    ws: Workspace
    owner: Context
    team_id: int
    contexts: dict[str, Context]
    other: Context


def user_level(ws: Workspace, email: str) -> Context:
    """A context for a user with no team yet (to create one)."""
    return Context(db=ws.db, actor=accounts.actor_for_email(ws.db, email), project_id=0, keyring=ws.keyring)


@pytest.fixture(scope="module")
def world(module_workspace) -> World:
    """Build the two teams once per backend; every case below writes only fresh names into them."""
    ws = module_workspace
    for name in ("owner", "admin", "editor", "viewer", "outsider"):
        accounts.add_user(ws.local_context(), f"{name}@acme.test")
    teams.create_team(user_level(ws, "owner@acme.test"), "Acme")
    owner = ws.context_for("owner@acme.test", team="Acme")
    for role in ("admin", "editor", "viewer"):
        teams.add_member(owner, "Acme", f"{role}@acme.test", role)
    teams.create_team(user_level(ws, "outsider@acme.test"), "Other")
    other = ws.context_for("outsider@acme.test", team="Other")
    contexts = {role: ws.context_for(f"{role}@acme.test", team="Acme") for role in ("owner", "admin", "editor", "viewer")}
    contexts["non-member"] = Context(ws.db, other.actor, owner.project_id, ws.keyring)
    library.create_prompt(owner, "greet", tags=["demo"])
    versioning.commit(owner, "greet", THREE_LINES)
    versioning.commit(owner, "greet", THREE_LINES.replace("Hello", "Hi"))
    refs.create_branch(owner, "greet", "feature", "1")
    versioning.commit(owner, "greet", THREE_LINES.replace("line 3", "line three"), branch="feature")
    refs.set_label(owner, "greet", "production", "1")
    library.create_prompt(other, "secret-plan")
    versioning.commit(other, "secret-plan", "Top secret {{ x }}")
    refs.set_label(other, "secret-plan", "production", "1")
    return World(ws, owner, teams.team_id_by_name(owner, "Acme"), contexts, other)


def fresh(prefix: str = "x") -> str:
    """A name no other case uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def fresh_label(w: World, protected: bool = False) -> str:
    """A label on v1 of `greet`, set up by the owner."""
    label = fresh("label")
    refs.set_label(w.owner, "greet", label, "1")
    if protected:
        refs.protect_label(w.owner, "greet", label)
    return label


def fresh_branch(w: World) -> str:
    """A branch off main with one new commit, ready to merge."""
    branch = fresh("branch")
    refs.create_branch(w.owner, "greet", branch)
    versioning.commit(w.owner, "greet", fresh("text"), branch=branch)
    return branch


def fresh_account(w: World, role: str | None = None) -> str:
    """A new account's e-mail, made a member of Acme with `role` by the owner (None: in no team)."""
    email = fresh("user") + "@acme.test"
    accounts.add_user(w.owner, email)
    if role:
        teams.add_member(w.owner, "Acme", email, role)
    return email


def head_moved_by_owner(w: World) -> None:
    """Commit something new on main, so a revert to v1 has something to undo."""
    versioning.commit(w.owner, "greet", fresh("text"))


def require(action: str) -> Callable[[World, Context], object]:
    """An action whose services belong to other modules: check the gate they call."""
    def call(w: World, ctx: Context) -> object:
        with w.ws.db.read() as session:
            return authz.require(session, ctx, w.team_id, action)
    return call


# (case, action it needs, call(world, actor's context)); setup inside a call runs as the team's owner.
CASES: list[tuple[str, str, Callable[[World, Context], object]]] = [
    ("list_prompts", "prompt.read", lambda w, c: library.list_prompts(c)),
    ("get_prompt_info", "prompt.read", lambda w, c: library.get_prompt_info(c, "greet")),
    ("list_tags", "prompt.read", lambda w, c: library.list_tags(c)),
    ("show", "prompt.read", lambda w, c: versioning.show(c, "greet", "production")),
    ("log", "prompt.read", lambda w, c: versioning.log(c, "greet")),
    ("list_refs", "prompt.read", lambda w, c: refs.list_refs(c, "greet")),
    ("ref_history", "prompt.read", lambda w, c: refs.ref_history(c, "greet")),
    ("diff", "prompt.read", lambda w, c: versioning.diff(c, "greet", "1", "2")),
    ("render", "prompt.read", lambda w, c: versioning.render_version(c, "greet", "1", {"name": "Ann"})),
    ("preview_merge", "prompt.read", lambda w, c: versioning.preview_merge(c, "greet", "feature")),
    ("create_prompt", "prompt.write", lambda w, c: library.create_prompt(c, fresh("prompt"))),
    ("update_prompt", "prompt.write", lambda w, c: library.update_prompt(c, "greet", description=fresh())),
    ("commit", "prompt.write", lambda w, c: versioning.commit(c, "greet", fresh("text"))),
    ("create_branch", "prompt.write", lambda w, c: refs.create_branch(c, "greet", fresh("branch"))),
    ("merge", "prompt.write", lambda w, c: versioning.merge(c, "greet", fresh_branch(w))),
    ("revert", "prompt.write", lambda w, c: (head_moved_by_owner(w), versioning.revert(c, "greet", "1"))),
    ("create_label", "prompt.write", lambda w, c: refs.set_label(c, "greet", fresh("label"), "2")),
    ("move_label", "prompt.write", lambda w, c: refs.set_label(c, "greet", fresh_label(w), "2")),
    ("move_protected_label", "label.move_protected",
     lambda w, c: refs.set_label(c, "greet", fresh_label(w, protected=True), "2")),
    ("protect_label", "label.protect", lambda w, c: refs.protect_label(c, "greet", fresh_label(w))),
    ("list_members", "team.read", lambda w, c: teams.list_members(c, "Acme")),
    ("list_projects", "team.read", lambda w, c: teams.list_projects(c, "Acme")),
    ("add_member", "member.manage", lambda w, c: teams.add_member(c, "Acme", fresh_account(w), "editor")),
    ("set_role", "member.manage", lambda w, c: teams.set_role(c, "Acme", fresh_account(w, "viewer"), "editor")),
    ("remove_member", "member.manage", lambda w, c: teams.remove_member(c, "Acme", fresh_account(w, "viewer"))),
    ("create_project", "project.manage", lambda w, c: teams.create_project(c, "Acme", fresh("project"))),
    ("grant_owner", "team.manage", lambda w, c: teams.add_member(c, "Acme", fresh_account(w), "owner")),
    ("remove_owner", "team.manage", lambda w, c: teams.remove_member(c, "Acme", fresh_account(w, "owner"))),
    ("audit_list", "audit.read", lambda w, c: audit.list_events(c, w.team_id)),
    ("key.read", "key.read", require("key.read")),
    ("key.use", "key.use", require("key.use")),
    ("key.manage", "key.manage", require("key.manage")),
    ("dataset.write", "dataset.write", require("dataset.write")),
    ("run.start", "run.start", require("run.start")),
    ("export", "export", require("export")),
]


@pytest.mark.parametrize("case, action, call", CASES, ids=[case for case, _, _ in CASES])
@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(world, role, case, action, call):
    ctx = world.contexts[role]
    if role == "non-member":
        with pytest.raises(NotFoundError) as refused:
            call(world, ctx)
        assert str(refused.value) in ("no such team", "no such project")  # nothing about what is inside
    elif Role.parse(role) >= ACTIONS[action]:
        call(world, ctx)
    else:
        with pytest.raises(PermissionDeniedError) as refused:
            call(world, ctx)
        assert re.fullmatch(rf"[a-z._]+ needs the (owner|admin|editor|viewer) role or higher; you are {role}", str(refused.value))


def test_the_matrix_covers_every_action():
    assert {action for _, action, _ in CASES} == set(ACTIONS)


def test_can_follows_the_table():
    assert authz.can("editor", "prompt.write") and not authz.can("editor", "label.protect")
    assert authz.can(Role.OWNER, "team.manage") and not authz.can(None, "prompt.read")
    assert [str(r) for r in sorted(Role, reverse=True)] == ["owner", "admin", "editor", "viewer"]


def test_roles_of_names_each_team(world):
    with world.ws.db.read() as session:
        roles = authz.roles_of(session, world.other.actor.user_id)
    assert list(roles.values()) == [Role.OWNER]


READS = {
    "list_prompts": lambda c, name: library.list_prompts(c),
    "list_tags": lambda c, name: library.list_tags(c),
    "get_prompt_info": lambda c, name: library.get_prompt_info(c, name),
    "show": lambda c, name: versioning.show(c, name, "production"),
    "log": lambda c, name: versioning.log(c, name),
    "list_refs": lambda c, name: refs.list_refs(c, name),
    "ref_history": lambda c, name: refs.ref_history(c, name),
    "diff": lambda c, name: versioning.diff(c, name, "1", "production"),
    "render": lambda c, name: versioning.render_version(c, name, "1", {"x": "y"}),
}


@pytest.mark.parametrize("read", READS.values(), ids=list(READS))
@pytest.mark.parametrize("name", ["secret-plan", "no-such-prompt", "greet"])
def test_another_teams_project_reveals_nothing_by_any_name(world, read, name):
    editor = world.contexts["editor"]
    in_other_project = Context(world.ws.db, editor.actor, world.other.project_id, world.ws.keyring)
    with pytest.raises(NotFoundError, match="^no such project$"):
        read(in_other_project, name)


NAMED_READS = {name: read for name, read in READS.items() if not name.startswith("list_")}


@pytest.mark.parametrize("read", NAMED_READS.values(), ids=list(NAMED_READS))
def test_another_teams_prompt_is_as_absent_as_a_made_up_one(world, read):
    answers = []
    for name in ("secret-plan", "no-such-prompt"):
        with pytest.raises(NotFoundError) as refused:
            read(world.contexts["editor"], name)
        answers.append(str(refused.value).replace(name, "NAME"))
    assert answers[0] == answers[1] == "no prompt named 'NAME'"


def test_another_team_is_invisible_by_name_id_or_project(world):
    editor = world.contexts["editor"]
    other_id = teams.team_id_by_name(world.other, "Other")
    for team in ("Other", other_id, "Nope", 10_000):
        with pytest.raises(NotFoundError, match="^no such team$"):
            teams.list_members(editor, team)
    with pytest.raises(NotFoundError, match="^no such team$"):
        audit.list_events(editor, other_id)
    with pytest.raises(NotFoundError, match="no project 'default' in a team 'Other'"):
        world.ws.context_for("editor@acme.test", team="Other")
    assert [t.name for t in teams.list_teams(editor)] == ["Acme"]
    assert library.list_prompts(editor, search="secret") == []


def label_events(w: World, label: str) -> list[tuple[str, dict]]:
    """(action, details) of the audit events about one label of `greet`, oldest first."""
    with w.ws.db.read() as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.target == f"greet@{label}").order_by(AuditEvent.id))
        return [(e.action, {k: v for k, v in e.details.items() if k != "project_id"}) for e in rows]


def test_label_moves_and_protection_are_audited(world):
    label = fresh_label(world, protected=True)
    refs.set_label(world.contexts["admin"], "greet", label, "2")
    refs.protect_label(world.contexts["admin"], "greet", label, protected=False)
    refs.set_label(world.contexts["editor"], "greet", label, "1")
    base = {"prompt": "greet", "label": label}
    assert label_events(world, label) == [
        ("label.move", {**base, "from": None, "to": 1, "protected": False}),
        ("label.protect", {**base, "protected": True, "version": 1}),
        ("label.move", {**base, "from": 1, "to": 2, "protected": True}),
        ("label.protect", {**base, "protected": False, "version": 2}),
        ("label.move", {**base, "from": 2, "to": 1, "protected": False}),
    ]


def test_a_refused_protected_move_changes_and_records_nothing(world):
    label = fresh_label(world, protected=True)
    before = label_events(world, label)
    with pytest.raises(PermissionDeniedError, match="label.move_protected needs the admin role"):
        refs.set_label(world.contexts["editor"], "greet", label, "2")
    assert label_events(world, label) == before
    assert {r.name: (r.version, r.protected) for r in refs.list_refs(world.owner, "greet")}[label] == (1, True)
    with pytest.raises(NotFoundError, match="has no label 'main' \\(it is a branch\\)"):
        refs.protect_label(world.owner, "greet", "main")


def test_context_for_refuses_names_no_store_would_take(world):
    for project, team in (("default\x00", None), ("default", "A" * 500)):
        with pytest.raises(NotFoundError, match="no project"):
            world.ws.context_for("editor@acme.test", project=project, team=team)
