"""`python -m engine users ...`: the dashboard's accounts from the command line (add, list, disable, enable,
set-role, password). A password is typed twice without echo, or read as one line from standard input with
--password-stdin; it is never an argument (that would leave it in the shell history and the process list)."""

from __future__ import annotations

import argparse
import getpass
import sys

from db import accounts
from db.models import ROLES
from db.store import Store


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        if not line:
            raise ValueError(
                "--password-stdin expects the password as one line on standard input; got nothing"
            )
        return accounts.check_password(line.rstrip("\r\n"))
    if not sys.stdin.isatty():
        raise ValueError("no terminal to type the password in: pass it as one line with --password-stdin")
    first = accounts.check_password(getpass.getpass(f"Password for {args.name}: "))
    if getpass.getpass("The same password again: ") != first:
        raise ValueError("the two passwords differ; nothing was changed")
    return first


def _when(value: object) -> str:
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M} UTC"


def run(args: argparse.Namespace) -> int:
    """Carry out one `users` subcommand; a refusal raises ValueError (one sentence, exit status 2)."""
    action = args.users_command
    store = Store.at()
    if action == "add":
        name = accounts.check_name(args.name)
        if (taken := accounts.find_by_identity(store, name)) is not None:  # before asking for a password
            raise ValueError(f"an account named {taken.name!r} already exists")
        password = None if args.no_password else _read_password(args)
        row = accounts.add_account(store, args.name, args.role, password)
        how = (
            "signs in through the identity provider only" if password is None else "signs in with a password"
        )
        print(f"added {row.name} ({row.role}); {how}")
    elif action == "list":
        rows = accounts.list_accounts(store)
        print(f"{'name':<32} {'role':<7} {'state':<9} {'sign-in':<9} {'created':<20} last sign-in")
        for r in rows:
            state = "disabled" if r.disabled else "enabled"
            how = "password" if r.has_password else "provider"
            print(
                f"{r.name[:32]:<32} {r.role:<7} {state:<9} {how:<9} {_when(r.created_at):<20} "
                f"{_when(r.last_sign_in_at)}"
            )
        if not rows:
            print("no accounts: the dashboard opens without sign-in on 127.0.0.1 only")
    elif action in ("disable", "enable"):
        row = accounts.set_disabled(store, args.name, action == "disable")
        print(f"{row.name} is {'disabled' if row.disabled else 'enabled'}")
    elif action == "set-role":
        row = accounts.set_role(store, args.name, args.role)
        print(f"{row.name} is {row.role} now")
    elif action == "password":
        accounts.set_password(store, args.name, _read_password(args))
        print(f"changed the password of {args.name}")
    return 0


def add_parser(sub: argparse._SubParsersAction, func) -> None:
    """The `users` command and its subcommands, calling `func(args)`."""
    p = sub.add_parser("users", help="dashboard accounts: add, list, disable, enable, set-role, password")
    users = p.add_subparsers(dest="users_command", required=True)
    q = users.add_parser("add", help="add an account (the password is asked for twice)")
    q.add_argument("name")
    q.add_argument("--role", required=True, choices=ROLES)
    q.add_argument("--password-stdin", action="store_true", help="read the password as one line from stdin")
    q.add_argument("--no-password", action="store_true", help="sign-in through the identity provider only")
    users.add_parser("list", help="list the accounts (never their passwords)")
    for name, text in (("disable", "stop an account from signing in"), ("enable", "let it sign in again")):
        users.add_parser(name, help=text).add_argument("name")
    q = users.add_parser("set-role", help="change an account's role")
    q.add_argument("name")
    q.add_argument("role", choices=ROLES)
    q = users.add_parser("password", help="set a new password (typed twice, or --password-stdin)")
    q.add_argument("name")
    q.add_argument("--password-stdin", action="store_true", help="read the password as one line from stdin")
    p.set_defaults(func=func)
