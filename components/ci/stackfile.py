"""The deployed version of a service, recorded where every ``pulumi preview`` and ``pulumi up`` reads it.

A deploy (or rollback) of ``<service>`` at ``<tag>`` to a stack writes the tag into the stack file,
``Pulumi.<stack>.yaml``, as ``hardening:services.<service>.tag``, and platform.yml commits that change
to the platform repository before it runs ``pulumi up`` from the same file. A later PR preview or a
manual ``pulumi up -s <stack>`` then reads the version that is live, instead of an old default.

The edit is textual, so the file's comments and layout survive; it is verified by parsing the file
before and after: the only difference allowed is that one tag, otherwise nothing is written. Until the
services reshape lands, a stack file without ``hardening:services`` records the tag in the flat
``hardening:appImage`` of the service named by ``hardening:appName``.

    python -m components.ci.stackfile --stack prod --service orders-api --tag <sha> [--json]

Exit status: 0 recorded (or already recorded), 2 bad input (the message names the key and the value).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tools import cli

NAMESPACE = "hardening"
SERVICES_KEY = f"{NAMESPACE}:services"
TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
SERVICE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
STACK = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_COMMENT = re.compile(r"^\s*(#.*)?$")


class StackFileError(cli.UserError):
    """The stack file or the request cannot be recorded; the message names the file, key and value."""


@dataclass(frozen=True)
class Recorded:
    text: str
    key: str  # the stack key that holds the version
    previous: str | None
    changed: bool


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _block(lines: list[str], start: int) -> int:
    """Index one past the last line of the block mapping whose key is on ``lines[start]``."""
    end = start + 1
    while end < len(lines) and (_COMMENT.match(lines[end]) or _indent(lines[end]) > _indent(lines[start])):
        end += 1
    while end > start + 1 and _COMMENT.match(lines[end - 1]):  # trailing comments belong to what follows
        end -= 1
    return end


def _value(rest: str) -> str:
    """The value part of ``key: <rest>`` without a trailing comment."""
    return re.sub(r"\s+#.*$", "", rest).strip() if not rest.lstrip().startswith("#") else ""


def _config(text: str, file: str) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise StackFileError(f"{file}: cannot parse YAML: {exc}") from None
    config = doc.get("config") if isinstance(doc, dict) else None
    if not isinstance(config, dict):
        raise StackFileError(f"{file}: no 'config' mapping")
    return config


def _set_in_services(lines: list[str], at: int, service: str, tag: str, file: str, selected: list[str]) -> str | None:
    end = _block(lines, at)
    children = [i for i in range(at + 1, end) if not _COMMENT.match(lines[i])]
    if not children:
        raise StackFileError(f"{file}: {SERVICES_KEY} selects no service; accepted: one of {selected}")
    child = _indent(lines[children[0]])
    key = re.compile(rf"^ {{{child}}}[\"']?{re.escape(service)}[\"']?:(?P<rest>.*?)\n?$")
    line_no = next((i for i in children if _indent(lines[i]) == child and key.match(lines[i])), None)
    if line_no is None:
        raise StackFileError(
            f"{file}: {SERVICES_KEY}.{service}: the service is not selected in this stack; "
            f"accepted: one of {', '.join(selected) or 'none'}"
        )
    m = key.match(lines[line_no])
    assert m is not None
    rest = _value(m.group("rest"))
    quoted = f'"{tag}"'
    if rest == "{}":
        lines[line_no] = f"{' ' * child}{service}:\n{' ' * (child + 2)}tag: {quoted}\n"
        return None
    if rest:
        raise StackFileError(
            f"{file}: {SERVICES_KEY}.{service} is written in flow style ({rest!r}); accepted: a block mapping "
            "(one override per line) so that the tag can be recorded without rewriting the file"
        )
    svc_end = _block(lines, line_no)
    fields = [i for i in range(line_no + 1, svc_end) if not _COMMENT.match(lines[i])]
    field_indent = _indent(lines[fields[0]]) if fields else child + 2
    tag_line = re.compile(rf"^ {{{field_indent}}}tag:(?P<value>[^#\n]*?)(?P<comment>\s+#.*)?\n?$")
    for i in fields:
        t = tag_line.match(lines[i]) if _indent(lines[i]) == field_indent else None
        if t:
            previous = t.group("value").strip().strip("\"'") or None
            lines[i] = f"{' ' * field_indent}tag: {quoted}{t.group('comment') or ''}\n"
            return previous
    lines.insert(line_no + 1, f"{' ' * field_indent}tag: {quoted}\n")
    return None


def _set_in_app_image(lines: list[str], tag: str, file: str) -> str | None:
    line = re.compile(
        rf"^(?P<ind> *){NAMESPACE}:appImage:\s*(?P<q>[\"']?)(?P<image>[^\"'#\s]+)(?P=q)(?P<comment>\s+#.*)?\n?$"
    )
    for i, text in enumerate(lines):
        m = line.match(text)
        if m:
            image = m.group("image").split("@", 1)[0]
            repo, _, previous = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "")
            lines[i] = f'{m.group("ind")}{NAMESPACE}:appImage: "{repo}:{tag}"{m.group("comment") or ""}\n'
            return previous or None
    raise StackFileError(f"{file}: no {NAMESPACE}:appImage line to record the tag in")


def record(text: str, service: str, tag: str, *, file: str = "Pulumi.<stack>.yaml") -> Recorded:
    """The stack file text with ``service``'s deployed tag recorded (pure; raises StackFileError)."""
    if not SERVICE.match(service):
        raise StackFileError(f"service: {service!r} is invalid; accepted: a service name (DNS-1123 label)")
    if not TAG.match(tag):
        raise StackFileError(f"tag: {tag!r} is invalid; accepted: an image tag such as a 40-hex commit SHA or 1.4.2")
    before = _config(text, file)
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    expected = json.loads(json.dumps(before, default=str))
    services = before.get(SERVICES_KEY)
    if services is not None:
        if not isinstance(services, dict):
            raise StackFileError(f"{file}: {SERVICES_KEY} must be a mapping of service name -> overrides")
        selected = [str(s) for s in services]
        at = next(
            (i for i, ln in enumerate(lines) if re.match(rf"^ *{re.escape(SERVICES_KEY)}:(\s*(#.*)?)?$", ln)), None
        )
        if at is None:
            raise StackFileError(
                f"{file}: {SERVICES_KEY} is written in flow style; accepted: a block mapping, one service per line"
            )
        key = f"{SERVICES_KEY}.{service}.tag"
        previous = _set_in_services(lines, at, service, tag, file, selected)
        expected[SERVICES_KEY][service] = {**(expected[SERVICES_KEY].get(service) or {}), "tag": tag}
    elif before.get(f"{NAMESPACE}:appName") == service and f"{NAMESPACE}:appImage" in before:
        key = f"{NAMESPACE}:appImage"
        previous = _set_in_app_image(lines, tag, file)
        image = str(before[key]).split("@", 1)[0]
        repo = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
        expected[key] = f"{repo}:{tag}"
    else:
        raise StackFileError(
            f"{file}: {SERVICES_KEY}.{service}: the stack selects no such service (no {SERVICES_KEY}, "
            f"and {NAMESPACE}:appName is {before.get(f'{NAMESPACE}:appName')!r})"
        )
    out = "".join(lines)
    if json.loads(json.dumps(_config(out, file), default=str)) != expected:
        raise StackFileError(f"{file}: recording {key} would change more than the tag; edit the file by hand")
    return Recorded(out, key, previous, out != text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.Parser(prog="python -m components.ci.stackfile", description=__doc__.split("\n\n")[0])
    cli.add_stack(parser)
    parser.add_argument("--service", required=True, help="service name (services/<name>/)")
    parser.add_argument("--tag", required=True, help="the deployed image tag (a commit SHA)")
    parser.add_argument("--root", default=".", help="directory holding Pulumi.<stack>.yaml (default: .)")
    cli.add_json(parser)
    cli.add_quiet(parser)
    args = parser.parse_args(argv)

    def run() -> int:
        if not STACK.match(args.stack):
            raise StackFileError(f"--stack: {args.stack!r} is invalid; accepted: a Pulumi stack name")
        path = Path(args.root) / f"Pulumi.{args.stack}.yaml"
        if not path.is_file():
            raise StackFileError(f"--stack: {args.stack!r}: no stack file {path}")
        result = record(path.read_text(), args.service, args.tag, file=path.name)
        if result.changed:
            tmp = path.with_suffix(".yaml.tmp")
            tmp.write_text(result.text)
            tmp.replace(path)
        summary = {
            "file": path.name,
            "key": result.key,
            "service": args.service,
            "tag": args.tag,
            "previous": result.previous,
            "changed": result.changed,
        }
        if args.json:
            print(json.dumps(summary))
        elif not args.quiet:
            state = "recorded" if result.changed else "already recorded"
            print(f"{path.name}: {result.key} = {args.tag} ({state}; was {result.previous})")
        return cli.EXIT_OK

    return cli.run("stackfile", run)


if __name__ == "__main__":
    sys.exit(main())
