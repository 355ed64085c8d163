"""cf-py's org, space, user and role commands, named and shaped as the cf CLI's:
``orgs``, ``spaces``, ``create-org``, ``create-space``, ``delete-org``, ``delete-space``,
``target``, ``create-user``, ``set-org-role`` and ``set-space-role``. Users are made in the UAA (SCIM, with the logged-in
admin's token) and then made known to the cloud controller, as ``cf create-user`` does."""

from __future__ import annotations

import click

from . import config as cfg
from . import uaa_client
from .errors import CfError
from .main import Context, pass_ctx

SPACE_ROLES = {"SpaceDeveloper": "developers", "SpaceAuditor": "auditors"}
ORG_ROLES = {"OrgManager": "managers"}


def _targeted_org(cc, conf: cfg.ClientConfig, org: str | None) -> dict:
    if org:
        return cc.org(org)
    if not conf.org:
        raise CfError("No org targeted: pass -o ORG or run `cf-py target -o ORG`")
    return cc.org(conf.org)


@click.command()
@pass_ctx
def orgs(ctx: Context) -> None:
    """List the orgs you can see."""
    with ctx.client() as cc:
        found = cc.orgs()
    if not found:
        ctx.out.print("No orgs found")
    for org in found:
        ctx.out.print(org["entity"]["name"], markup=False)


@click.command()
@click.option("-o", "--org", help="The org (default: the targeted one)")
@pass_ctx
def spaces(ctx: Context, org: str | None) -> None:
    """List the spaces you can see in an org."""
    with ctx.client() as cc:
        the_org = _targeted_org(cc, cfg.load(), org)
        found = cc.spaces(the_org["metadata"]["guid"])
    if not found:
        ctx.out.print(f"No spaces found in {the_org['entity']['name']}")
    for space in found:
        ctx.out.print(space["entity"]["name"], markup=False)


@click.command("create-org")
@click.argument("name")
@pass_ctx
def create_org(ctx: Context, name: str) -> None:
    """Create an org (admins only)."""
    with ctx.client() as cc:
        cc.create_org(name)
    ctx.out.print(f"Created org {name}; target it with `cf-py target -o {name}`", markup=False)


@click.command("create-space")
@click.argument("name")
@click.option("-o", "--org", help="The org (default: the targeted one)")
@pass_ctx
def create_space(ctx: Context, name: str, org: str | None) -> None:
    """Create a space in an org (its org managers and admins)."""
    with ctx.client() as cc:
        the_org = _targeted_org(cc, cfg.load(), org)
        cc.create_space(name, the_org["metadata"]["guid"])
    ctx.out.print(f"Created space {name} in org {the_org['entity']['name']}", markup=False)


@click.command("delete-org")
@click.argument("name")
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation")
@pass_ctx
def delete_org(ctx: Context, name: str, force: bool) -> None:
    """Delete an org and everything in it (admins only)."""
    conf = ctx.logged_in()
    with ctx.client() as cc:
        found = [o for o in cc.orgs() if o["entity"]["name"] == name]
        if not found:
            ctx.out.print(f"Org {name} does not exist.\nOK", markup=False)
            return
        if not force and not click.confirm(f"Really delete the org {name}, including its spaces, apps, "
                                           "service instances and routes?", default=False):
            ctx.out.print("Delete cancelled")
            return
        ctx.out.print(f"Deleting org {name} as {conf.user}...", markup=False)
        cc.delete_org(found[0]["metadata"]["guid"])
    conf = cfg.load()
    if conf.org_guid == found[0]["metadata"]["guid"]:   # as the cf CLI: the target goes with it
        conf.org = conf.org_guid = conf.space = conf.space_guid = None
        cfg.save(conf)
    ctx.out.print("OK")


@click.command("delete-space")
@click.argument("name")
@click.option("-o", "--org", help="The org (default: the targeted one)")
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation")
@pass_ctx
def delete_space(ctx: Context, name: str, org: str | None, force: bool) -> None:
    """Delete a space and everything in it (its org managers and admins)."""
    conf = ctx.logged_in()
    with ctx.client() as cc:
        the_org = _targeted_org(cc, conf, org)
        org_name = the_org["entity"]["name"]
        found = [s for s in cc.spaces(the_org["metadata"]["guid"]) if s["entity"]["name"] == name]
        if not found:
            ctx.out.print(f"Space {name} does not exist.\nOK", markup=False)
            return
        if not force and not click.confirm(f"Really delete the space {name}?", default=False):
            ctx.out.print("Delete cancelled")
            return
        ctx.out.print(f"Deleting space {name} in org {org_name} as {conf.user}...", markup=False)
        cc.delete_space(found[0]["metadata"]["guid"])
    conf = cfg.load()
    if conf.space_guid == found[0]["metadata"]["guid"]:
        conf.space = conf.space_guid = None
        cfg.save(conf)
    ctx.out.print("OK")


@click.command()
@click.option("-o", "--org", help="Target this org")
@click.option("-s", "--space", help="Target this space (of the org)")
@pass_ctx
def target(ctx: Context, org: str | None, space: str | None) -> None:
    """Set (or show) the org and space that push and apps act in."""
    conf = ctx.logged_in()
    if org or space:
        with ctx.client() as cc:
            the_org = _targeted_org(cc, conf, org)
            the_space = cc.space(the_org, space) if space else None
        conf = cfg.load()
        conf.org, conf.org_guid = the_org["entity"]["name"], the_org["metadata"]["guid"]
        conf.space, conf.space_guid = (the_space["entity"]["name"], the_space["metadata"]["guid"]) \
            if the_space else (None, None)
        cfg.save(conf)
    ctx.out.print(f"API endpoint: {conf.api}\nUser: {conf.user}\nOrg: {conf.org or '(none)'}\n"
                  f"Space: {conf.space or '(none)'}", markup=False)


@click.command("create-user")
@click.argument("username")
@click.option("-p", "--password", prompt="Password", hide_input=True, envvar="CF_PY_NEW_USER_PASSWORD",
              help="The new user's password (or CF_PY_NEW_USER_PASSWORD, kept out of the process list)")
@pass_ctx
def create_user(ctx: Context, username: str, password: str) -> None:
    """Create a user in the UAA and make it known to the cloud controller (admins)."""
    conf = ctx.logged_in()
    if not conf.token_endpoint:
        raise CfError("This cloud controller has no UAA: users come from its properties")
    assert conf.token is not None
    user = uaa_client.create_user(conf.token_endpoint, conf.token, username, password)
    with ctx.client() as cc:
        cc.create_user(str(user.get("id")), username)
    ctx.out.print(f"Created user {username}; give it a role with `cf-py set-space-role`", markup=False)


@click.command("set-space-role")
@click.argument("username")
@click.argument("org")
@click.argument("space")
@click.argument("role", type=click.Choice(sorted(SPACE_ROLES)))
@pass_ctx
def set_space_role(ctx: Context, username: str, org: str, space: str, role: str) -> None:
    """Give USERNAME a role in SPACE of ORG (org managers and admins)."""
    with ctx.client() as cc:
        the_space = cc.space(cc.org(org), space)
        cc.give_role("spaces", the_space["metadata"]["guid"], SPACE_ROLES[role], username)
    ctx.out.print(f"Assigned role {role} to user {username} in org {org} / space {space}", markup=False)


@click.command("set-org-role")
@click.argument("username")
@click.argument("org")
@click.argument("role", type=click.Choice(sorted(ORG_ROLES)))
@pass_ctx
def set_org_role(ctx: Context, username: str, org: str, role: str) -> None:
    """Give USERNAME a role in ORG (its org managers and admins)."""
    with ctx.client() as cc:
        the_org = cc.org(org)
        cc.give_role("organizations", the_org["metadata"]["guid"], ORG_ROLES[role], username)
    ctx.out.print(f"Assigned role {role} to user {username} in org {org}", markup=False)


COMMANDS = [orgs, spaces, create_org, create_space, delete_org, delete_space, target, create_user, set_space_role, set_org_role]
