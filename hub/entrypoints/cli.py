"""The ``lienthong`` command: one argparse tree, each command group in its own module.

Command groups register themselves through a ``register(subparsers)`` function; heavy libraries
(pyhanko, SQLAlchemy, uvicorn…) are imported inside the command handlers, so ``lienthong
--help`` and the edXML tools start fast. Messages are Vietnamese by default, English with
``--lang en``. Exit status: 0 success, 1 a check failed (invalid package, bad signature),
2 usage or input error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from hub.errors import HubError

#: Modules that contribute command groups, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "hub.entrypoints.cli_edxml",
    "signing.cli",
    "hub.entrypoints.cli_hub",
    "hub.entrypoints.cli_inbound",
    "hub.entrypoints.cli_queues",
    "hub.entrypoints.cli_ops",
    "hub.entrypoints.conformance",
    "hub.entrypoints.cli_evidence",
    "hub.entrypoints.cli_users",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lienthong",
        description="lienthong — hub liên thông văn bản điện tử (edXML, QCVN 102:2016)",
    )
    parser.add_argument(
        "--lang", choices=("vi", "en"), default="vi", help="message language (default: vi)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # a command group not built yet
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args) or 0)
    except HubError as exc:
        print(f"lienthong: {exc.message(args.lang)} [{exc.code}]", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
