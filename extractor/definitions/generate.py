#!/usr/bin/env python3
"""Generate builtin.msg: bagpipe's built-in ROS 2 interface definitions.

The definitions are the standard interface types "as in ROS 2 Humble", taken
from the typestores shipped with the Python package rosbags (pinned below).
service_msgs, which Humble lacks, is taken from the Jazzy store.

Usage (from anywhere):
    pip install rosbags==0.11.9
    python3 extractor/definitions/generate.py

The output is written next to this script and is byte-for-byte reproducible:
no date, host or path is written into it.
"""

from __future__ import annotations

import sys
from importlib.metadata import version
from pathlib import Path

from rosbags.interfaces import Nodetype
from rosbags.typesys import Stores, get_typestore

ROSBAGS_VERSION = '0.11.9'

# Packages taken from the Humble store (CONTRACT.md, "Definitions").
HUMBLE_PACKAGES = (
    'builtin_interfaces',
    'std_msgs',
    'geometry_msgs',
    'sensor_msgs',
    'nav_msgs',
    'tf2_msgs',
    'diagnostic_msgs',
    'visualization_msgs',
    'rcl_interfaces',
    'rosgraph_msgs',
    'shape_msgs',
    'stereo_msgs',
    'trajectory_msgs',
    'actionlib_msgs',
    'lifecycle_msgs',
    'statistics_msgs',
    'unique_identifier_msgs',
)
# Packages Humble lacks, taken from the Jazzy store.
JAZZY_PACKAGES = ('service_msgs',)

PRIMITIVES = frozenset(
    (
        'bool', 'byte', 'char',
        'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64',
        'float32', 'float64', 'string',
    )
)

# rosidl gives a message without fields this one member; it is not in the .msg.
SYNTHETIC_FIELD = ('structure_needs_at_least_one_member', (Nodetype.BASE, ('uint8', 0)))

SEPARATOR = '=' * 80
OUTPUT = Path(__file__).resolve().parent / 'builtin.msg'


class GenerateError(Exception):
    """Anything the generator does not know how to write."""


def base_type(desc: tuple, where: str) -> str:
    """Type text of a non-array field description (primitive or message)."""
    kind, arg = desc
    if kind == Nodetype.BASE:
        prim, bound = arg
        if prim not in PRIMITIVES:
            raise GenerateError(f'{where}: unknown primitive {prim!r}')
        if not isinstance(bound, int) or isinstance(bound, bool) or bound < 0:
            raise GenerateError(f'{where}: bad string bound {bound!r}')
        if bound:
            if prim != 'string':
                raise GenerateError(f'{where}: bound {bound} on non-string {prim!r}')
            return f'string<={bound}'
        return prim
    if kind == Nodetype.NAME:
        parts = arg.split('/')
        if len(parts) != 3 or parts[1] != 'msg' or not all(parts):
            raise GenerateError(f'{where}: unexpected type name {arg!r}')
        return arg
    raise GenerateError(f'{where}: unexpected element node {desc!r}')


def field_type(desc: tuple, where: str) -> str:
    """Type text of a field description, arrays included."""
    kind, arg = desc
    if kind in (Nodetype.BASE, Nodetype.NAME):
        return base_type(desc, where)
    if kind == Nodetype.ARRAY:
        elem, size = arg
        if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
            raise GenerateError(f'{where}: bad array length {size!r}')
        return f'{base_type(elem, where)}[{size}]'
    if kind == Nodetype.SEQUENCE:
        elem, bound = arg
        if not isinstance(bound, int) or isinstance(bound, bool) or bound < 0:
            raise GenerateError(f'{where}: bad sequence bound {bound!r}')
        suffix = f'[<={bound}]' if bound else '[]'
        return f'{base_type(elem, where)}{suffix}'
    raise GenerateError(f'{where}: unknown node type {kind!r}')


def constant_value(value: object, where: str) -> str:
    """Text of a constant value."""
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        if '\n' in value or '\r' in value:
            raise GenerateError(f'{where}: line break in string constant')
        return value
    raise GenerateError(f'{where}: constant value of unexpected type {type(value).__name__}')


def section(name: str, fielddef: tuple) -> list[str]:
    """Lines of one MSG: section."""
    consts, fields = fielddef
    lines = [SEPARATOR, f'MSG: {name}']
    for cname, ctype, cvalue in consts:
        where = f'{name}.{cname}'
        if ctype not in PRIMITIVES:
            raise GenerateError(f'{where}: constant of unexpected type {ctype!r}')
        lines.append(f'{ctype} {cname}={constant_value(cvalue, where)}')
    fields = list(fields)
    if fields == [SYNTHETIC_FIELD]:
        fields = []
    for fname, desc in fields:
        if fname == SYNTHETIC_FIELD[0]:
            raise GenerateError(f'{name}: synthetic field next to other fields')
        lines.append(f'{field_type(desc, f"{name}.{fname}")} {fname}')
    return lines


def select(store_id: Stores, packages: tuple[str, ...]) -> dict[str, tuple]:
    """The message types of the given packages in one rosbags store."""
    store = get_typestore(store_id)
    chosen = {}
    for name, fielddef in store.fielddefs.items():
        pkg = name.split('/')[0]
        if pkg in packages:
            if name.split('/')[1:2] != ['msg']:
                raise GenerateError(f'{name}: not a pkg/msg/Type name')
            chosen[name] = fielddef
    missing = set(packages) - {n.split('/')[0] for n in chosen}
    if missing:
        raise GenerateError(f'{store_id.name}: no types for {sorted(missing)}')
    return chosen


def main() -> int:
    installed = version('rosbags')
    if installed != ROSBAGS_VERSION:
        raise GenerateError(f'rosbags {installed} installed, need {ROSBAGS_VERSION}')

    types = select(Stores.ROS2_HUMBLE, HUMBLE_PACKAGES)
    jazzy = select(Stores.ROS2_JAZZY, JAZZY_PACKAGES)
    overlap = set(types) & set(jazzy)
    if overlap:
        raise GenerateError(f'types in both stores: {sorted(overlap)}')
    types.update(jazzy)

    header = [
        '# bagpipe built-in ROS 2 message definitions ("as in ROS 2 Humble").',
        '# Used when a ROS 2 bag embeds no definition for a type (CONTRACT.md, "Definitions").',
        f'# Generated by extractor/definitions/generate.py from rosbags {ROSBAGS_VERSION}:',
        f'#   store ROS2_HUMBLE for {", ".join(HUMBLE_PACKAGES)};',
        f'#   store ROS2_JAZZY for {", ".join(JAZZY_PACKAGES)} (absent from Humble).',
        f'# {len(types)} types, sorted by full name; one MSG: section each. Do not edit by hand.',
    ]
    lines = list(header)
    for name in sorted(types):
        lines.extend(section(name, types[name]))
    text = '\n'.join(lines) + '\n'
    OUTPUT.write_bytes(text.encode('utf-8'))
    print(f'wrote {OUTPUT} ({len(types)} types, {len(text.encode())} bytes)')
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except GenerateError as err:
        print(f'generate.py: error: {err}', file=sys.stderr)
        sys.exit(1)
