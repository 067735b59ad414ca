"""`promptvault prompt ...`: the library and git-like history of prompts from the terminal."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from promptvault.cli.acting import context
from promptvault.cli.output import echo_json, echo_table, short_time
from promptvault.errors import ValidationError

json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


@click.group()
@click.option("--project", default="default", show_default=True, help="Project the prompts belong to.")
@click.pass_context
def prompt(click_ctx: click.Context, project: str) -> None:
    """Create, commit, branch, merge, label, diff and render prompts."""
    click_ctx.obj = {**(click_ctx.obj or {}), "project": project}


def _ctx(click_ctx: click.Context):
    """The acting user's service context for this invocation."""
    return context(project=click_ctx.obj["project"])


@prompt.command("list")
@click.option("--search", "-s", help="Match name, description, tags and content.")
@click.option("--tag", "-t", help="Only prompts with this tag.")
@click.option("--archived", is_flag=True, help="Include archived prompts.")
@json_option
@click.pass_context
def list_cmd(click_ctx, search, tag, archived, as_json) -> None:
    """List prompts, newest first."""
    from promptvault import library

    prompts = library.list_prompts(_ctx(click_ctx), search=search, tag=tag, include_archived=archived)
    if as_json:
        return echo_json(prompts)
    rows = [[p.name, p.versions, _refs_text(p.refs), ",".join(p.tags), p.description[:60], short_time(p.updated_at)] for p in prompts]
    echo_table(["NAME", "VERSIONS", "REFS", "TAGS", "DESCRIPTION", "UPDATED"], rows)


@prompt.command()
@click.argument("name")
@click.option("--description", "-d", default="", help="What the prompt is for.")
@click.option("--tag", "-t", "tags", multiple=True, help="A tag (repeat for more).")
@json_option
@click.pass_context
def create(click_ctx, name, description, tags, as_json) -> None:
    """Create an empty prompt NAME; its first commit starts the `main` branch."""
    from promptvault import library

    info = library.create_prompt(_ctx(click_ctx), name, description=description, tags=list(tags))
    echo_json(info) if as_json else click.echo(f"created prompt '{info.name}'")


@prompt.command()
@click.argument("name")
@click.option("--file", "-f", "file", type=click.Path(path_type=Path), help="Prompt file: .json/.yaml hold chat messages, anything else is text ('-' reads stdin).")
@click.option("--text", help="The prompt text itself.")
@click.option("--message", "-m", default="", help="Commit message.")
@click.option("--branch", "-b", default="main", show_default=True, help="Branch to commit on.")
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="JSON or YAML file with the model config (model, temperature, ...).")
@click.option("--expect-head", type=int, help="Refuse unless the branch head is still this version number.")
@json_option
@click.pass_context
def commit(click_ctx, name, file, text, message, branch, config_path, expect_head, as_json) -> None:
    """Commit a new version of NAME from --file or --text."""
    from promptvault import versioning
    from promptvault.content import decode_utf8, load_config_file, load_content_file

    if (file is None) == (text is None):
        raise ValidationError("give exactly one of --file or --text")
    if file is not None and str(file) == "-":
        content = decode_utf8(sys.stdin.buffer.read(), "standard input")
    else:
        content = load_content_file(file) if file is not None else text
    config = load_config_file(config_path) if config_path else None
    ctx = _ctx(click_ctx)
    if config is None:  # keep the current config unless a new one is given
        config = _head_config(ctx, name, branch)
    version = versioning.commit(ctx, name, content, config, message, branch=branch, expected_head=expect_head)
    echo_json(version) if as_json else click.echo(f"committed {name} v{version.number} on {branch} ({version.content_hash[:12]})")


@prompt.command()
@click.argument("name")
@click.option("--branch", "-b", "ref", default="main", show_default=True, help="Branch (or any ref) to start from.")
@json_option
@click.pass_context
def log(click_ctx, name, ref, as_json) -> None:
    """Show the history of NAME, newest first."""
    from promptvault import versioning

    entries = versioning.log(_ctx(click_ctx), name, ref)
    if as_json:
        return echo_json(entries)
    for e in entries:
        parents = f"merge of v{e.parent} + v{e.merge_parent}" if e.merge_parent else (f"parent v{e.parent}" if e.parent else "root")
        refs = f" ({', '.join(e.refs)})" if e.refs else ""
        click.echo(f"v{e.number}{refs}  {short_time(e.created_at)}  {e.author}  [{parents}]  {e.content_hash[:12]}")
        click.echo(f"    {e.message or '(no message)'}")


@prompt.command()
@click.argument("spec", metavar="NAME[@REF]")
@json_option
@click.pass_context
def show(click_ctx, spec, as_json) -> None:
    """Show a version: NAME (head of main), NAME@3, NAME@production, NAME@experiment."""
    from promptvault import versioning
    from promptvault.content import canonical_json, content_as_text

    name, ref = versioning.parse_spec(spec)
    version = versioning.show(_ctx(click_ctx), name, ref)
    if as_json:
        return echo_json(version)
    click.echo(f"{name} v{version.number} ({version.kind})  {short_time(version.created_at)}  {version.author}")
    click.echo(f"message:   {version.message or '(none)'}")
    click.echo(f"variables: {', '.join(version.variables) or '(none)'}")
    click.echo(f"config:    {canonical_json(version.config)}")
    click.echo(f"hash:      {version.content_hash}\n")
    click.echo(content_as_text(version.content))


@prompt.command()
@click.argument("name")
@click.argument("ref_a")
@click.argument("ref_b")
@click.option("--color/--no-color", default=None, help="Colour the output (default: when writing to a terminal).")
@json_option
@click.pass_context
def diff(click_ctx, name, ref_a, ref_b, color, as_json) -> None:
    """Diff two versions of NAME: text (or each message), config key by key, variables."""
    from promptvault import versioning
    from promptvault.diff_render import render_unified_text

    result = versioning.diff(_ctx(click_ctx), name, ref_a, ref_b)
    if as_json:
        return echo_json(result)
    use_color = sys.stdout.isatty() if color is None else color
    click.echo(render_unified_text(result, color=use_color))


@prompt.command()
@click.argument("name")
@click.argument("branch")
@click.option("--from", "from_ref", default=None, help="Version, branch or label to start from (default: head of main).")
@json_option
@click.pass_context
def branch(click_ctx, name, branch, from_ref, as_json) -> None:
    """Create BRANCH of NAME starting at --from."""
    from promptvault import refs

    ref = refs.create_branch(_ctx(click_ctx), name, branch, from_ref)
    echo_json(ref) if as_json else click.echo(f"created branch '{ref.name}' at v{ref.version}")


@prompt.command()
@click.argument("name")
@click.argument("branch")
@click.option("--into", default="main", show_default=True, help="Branch to merge into.")
@click.option("--message", "-m", default="", help="Commit message for the merge version.")
@click.option("--draft", is_flag=True, help="Print the merged draft (with conflict markers) and commit nothing.")
@click.option("--resolved", "resolved_path", type=click.Path(path_type=Path), help="Commit this file as the resolved merge (same formats as commit --file).")
@click.option("--resolved-config", "resolved_config_path", type=click.Path(path_type=Path), help="JSON or YAML file with the resolved config.")
@json_option
@click.pass_context
def merge(click_ctx, name, branch, into, message, draft, resolved_path, resolved_config_path, as_json) -> None:
    """Three-way merge BRANCH of NAME into another branch; stops and shows conflicts, or commits a resolution."""
    from promptvault import versioning
    from promptvault.cli.output import conflict_lines
    from promptvault.content import content_as_text, load_config_file, load_content_file

    ctx = _ctx(click_ctx)
    if draft:
        plan = versioning.preview_merge(ctx, name, branch, into)
        if as_json:
            return echo_json(plan)
        click.echo(content_as_text(plan.content))
        for line in conflict_lines(plan.conflicts):
            click.echo(line, err=True)
        return
    resolved = load_content_file(resolved_path) if resolved_path else None
    resolved_config = load_config_file(resolved_config_path) if resolved_config_path else None
    version = versioning.merge(ctx, name, branch, into=into, message=message, resolved_content=resolved, resolved_config=resolved_config)
    echo_json(version) if as_json else click.echo(f"merged '{branch}' into '{into}' as v{version.number}")


@prompt.command()
@click.argument("name")
@click.argument("label")
@click.argument("ref")
@json_option
@click.pass_context
def label(click_ctx, name, label, ref, as_json) -> None:
    """Point LABEL (production, staging, ...) of NAME at REF; every move is recorded."""
    from promptvault import refs

    info = refs.set_label(_ctx(click_ctx), name, label, ref)
    echo_json(info) if as_json else click.echo(f"label '{info.name}' now points at v{info.version}")


@prompt.command()
@click.argument("name")
@click.argument("label")
@click.option("--off", is_flag=True, help="Lift the protection instead.")
@json_option
@click.pass_context
def protect(click_ctx, name, label, off, as_json) -> None:
    """Protect LABEL of NAME so that only admins move it (or lift that with --off)."""
    from promptvault import refs

    info = refs.protect_label(_ctx(click_ctx), name, label, protected=not off)
    echo_json(info) if as_json else click.echo(f"label '{info.name}' is {'protected' if info.protected else 'unprotected'}")


@prompt.command()
@click.argument("name")
@click.argument("ref")
@click.option("--message", "-m", default="", help="Commit message (default: 'Revert to vN').")
@click.option("--branch", "-b", default="main", show_default=True, help="Branch to commit the revert on.")
@json_option
@click.pass_context
def revert(click_ctx, name, ref, message, branch, as_json) -> None:
    """Commit a new version of NAME equal to REF."""
    from promptvault import versioning

    version = versioning.revert(_ctx(click_ctx), name, ref, message, branch=branch)
    echo_json(version) if as_json else click.echo(f"committed {name} v{version.number}: {version.message}")


@prompt.command()
@click.argument("spec", metavar="NAME[@REF]")
@click.option("--var", "pairs", multiple=True, metavar="KEY=VALUE", help="A template variable (repeat for more).")
@json_option
@click.pass_context
def render(click_ctx, spec, pairs, as_json) -> None:
    """Render a version's template with --var values."""
    from promptvault import versioning
    from promptvault.content import content_as_text

    name, ref = versioning.parse_spec(spec)
    rendered = versioning.render_version(_ctx(click_ctx), name, ref, _parse_vars(pairs))
    echo_json({"rendered": rendered}) if as_json else click.echo(content_as_text(rendered))


@prompt.command("refs")
@click.argument("name")
@json_option
@click.pass_context
def refs_cmd(click_ctx, name, as_json) -> None:
    """List the branches and labels of NAME, and their recorded moves."""
    from promptvault import refs

    ctx = _ctx(click_ctx)
    items, moves = refs.list_refs(ctx, name), refs.ref_history(ctx, name)
    if as_json:
        return echo_json({"refs": items, "moves": moves})
    echo_table(["REF", "KIND", "VERSION", "UPDATED"], [[r.name, r.kind, f"v{r.version}", short_time(r.updated_at)] for r in items])
    click.echo("")
    echo_table(
        ["WHEN", "REF", "FROM", "TO", "WHY", "WHO"],
        [[short_time(m.at), m.ref, f"v{m.from_version}" if m.from_version else "-", f"v{m.to_version}", m.reason, m.actor] for m in moves],
    )


def _parse_vars(pairs: tuple[str, ...]) -> dict[str, str]:
    """`KEY=VALUE` pairs as a dict."""
    result = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValidationError(f"--var '{pair}' must look like KEY=VALUE")
        result[key] = value
    return result


def _head_config(ctx, name: str, branch: str) -> dict | None:
    """The config at a branch head, carried forward when a commit gives none."""
    from promptvault import versioning
    from promptvault.errors import NotFoundError

    try:
        return versioning.show(ctx, name, branch).config
    except NotFoundError:
        return None


def _refs_text(refs: dict[str, int]) -> str:
    """`main→v3, production→v2`."""
    return ", ".join(f"{name}→v{number}" for name, number in sorted(refs.items()))
