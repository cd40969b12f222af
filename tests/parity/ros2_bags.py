#!/usr/bin/env python3
"""Write ROS 2 test inputs for bagpipe, with writers that are not bagpipe.

    pip install -r tests/requirements.txt
    python3 tests/parity/ros2_bags.py OUT_DIR

OUT_DIR must be empty or absent. The script writes every input below into
it (the same bytes on every run with the pinned packages) and prints one
line per input: its path relative to OUT_DIR, then what it exercises.
Check bagpipe's lake of these inputs with `rosbags_parity.py` (its
`--expected-only` mode prints what each input must give; inputs with the
same messages must give the same tables, see tests/parity/ros2_selftest.py).

Writers: rosbags 0.11.9 (`rosbags.rosbag2.Writer`, rosbag2 metadata v9, MCAP
or sqlite3 storage, payloads from its CDR serializer; Python's sqlite3
module for the edits to older database schemas and WAL) and the Python `mcap`
1.6.0 writer (`mcap.writer.Writer`: lz4 chunks, no chunks, no summary or
index, foreign channels, the ros1 profile), with definitions written by hand
for the `mcap`-written files (`ros2msg`: top-level text, then an `=`*80 line
and `MSG: pkg/msg/Type` per dependency).

The standard message set (STANDARD_CONNS / standard_messages) is written to
every container except the ros1-profile MCAP and the inputs of the other
message sets (below); containers holding it must give identical topic
tables (same rows, same order, same schemas):

  /probe      bp_msgs/msg/Probe: every primitive as scalar, [N], [] and
              [<=N]; string<=N (scalar, [N], [<=N]); Time and Duration
              (scalar, [], [N]); sequences, fixed and bounded arrays of a
              struct whose first field is float64; a nested struct with a
              Time, a struct sequence and an empty field; std_msgs/Empty
              as a field (followed by a float64), [] and [2]; extreme values
              (uint64 max, int64 min, NaN, +-inf, -0.0, byte 255, char 200,
              Time nanosec 2^32-1, negative Duration, non-ASCII UTF-8,
              empty strings)
  /align      bp_msgs/msg/AlignTrap: `uint8 a; float64[] b` (b empty),
              `uint8 c` after, a float64[] whose count ends at 4 mod 8,
              `string s; float64 d`, struct sequence, trailing uint8/float64
  /text       std_msgs/msg/String on two connections (two QoS profiles,
              one table)
  /text_edge  std_msgs/msg/String payloads edited by hand: invalid UTF-8
              (U+FFFD expected) and a string of length 0 (read as "")
  /padded     std_msgs/msg/String with 0, 1, 2 (zero) and 3 (0xEE)
              trailing bytes (kept), 4 trailing bytes DE AD BE EF and one
              payload cut short (both skipped by bagpipe)
  /multi      std_msgs/msg/String then std_msgs/msg/Int32: one topic, two
              types (the second type goes to `multi__<hash8>`, `variants`)
  /stamp      builtin_interfaces/msg/Time as the topic's own type (keeps
              its two columns sec, nanosec)
  /empty      std_msgs/msg/Empty (a table with only log_time_ns)
  /pose       geometry_msgs/msg/PoseStamped (header.stamp as Int64 ns)

Other message sets, each in the inputs named after it:

  ros2_db3_schema{4,3,2,1}.db3 (LEGACY_CONNS, legacy_messages): the
              standard set without /align, plus /imu (sensor_msgs/msg/Imu),
              written by rosbags (schema 4) and edited with sqlite3 into
              database schemas 3, 2 and 1 (no embedded definitions: the
              standard types come from bagpipe's built-in set; /probe is
              defined nowhere, so counted and never decoded)
  ros2_db3_wal.db3: ros2_db3_plain.db3 switched to WAL mode
  ros2_idl*.{mcap,db3} (IDL_CONNS, idl_messages): /obstacle
              (bp_idl_msgs/msg/Obstacle: fixed arrays, bounded and
              unbounded sequences, bounded strings, byte/char, defaults,
              constants, an empty field, nested bp_geom_msgs/msg/Vertex
              and standard types) and the standard /pose, with ros2idl
              definitions (IDL_TEXTS: rosidl_adapter's output) and, in
              ros2_idl_as_msg.mcap, the same messages with ros2msg ones
  ros2_srv_events_*.{mcap,db3} (SRV_CONNS, service_messages): service
              events of three services (one with an empty request) in
              rosbag2's newer `SRV:` definition shape, and /chatter

Messages are written out of log-time order with many equal log times
(within a topic, across topics and across the two /text connections), so
the tables test "log-time order, ties in bag order"; files that must be in
time order (no index) get the stable time-sorted sequence, which keeps the
order of ties.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import sys
from io import StringIO
from pathlib import Path

import numpy as np
from mcap.writer import CompressionType, IndexType, Writer as McapWriter
from rosbags.interfaces import Nodetype, Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import CompressionFormat, CompressionMode, StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from ruamel.yaml import YAML

SEP = "=" * 80 + "\n"
T0 = 1_700_000_000_000_000_000
MS = 1_000_000

# --------------------------------------------------------------------------
# Definitions, written by hand (the mcap-written files embed these texts;
# rosbags parses them for its own writer, which embeds its own rendering)
# --------------------------------------------------------------------------

SAMPLE = """\
# A struct whose first field is float64 (aligned to 8) and whose size
# (9 bytes) is not a multiple of 8: every element of an array of it aligns.
float64 v
uint8 tag
"""

INNER = """\
builtin_interfaces/Time stamp
Sample[] samples            # bare name: bp_msgs/msg/Sample
std_msgs/Empty nothing      # 1 byte on the wire, no column
string name
"""

_PRIMS = ["bool", "byte", "char", "int8", "uint8", "int16", "uint16", "int32", "uint32",
          "int64", "uint64", "float32", "float64", "string"]
_SHORT = {"bool": "b", "byte": "by", "char": "ch", "int8": "i8", "uint8": "u8", "int16": "i16",
          "uint16": "u16", "int32": "i32", "uint32": "u32", "int64": "i64", "uint64": "u64",
          "float32": "f32", "float64": "f64", "string": "s"}
_FIXED_N = {"bool": 2, "byte": 3, "char": 3, "uint8": 3}

PROBE = "\n".join(
    ["# Every primitive as scalar, fixed [N], unbounded [] and bounded [<=N].",
     "uint8 KIND_PROBE = 7",
     "string NAME_CONST=\"probe\"",
     *[f"{p} {_SHORT[p]}" + (" 5" if p == "int32" else "") for p in _PRIMS],
     *[f"{p}[{_FIXED_N.get(p, 2)}] {_SHORT[p]}_fixed" for p in _PRIMS],
     *[f"{p}[] {_SHORT[p]}_seq" for p in _PRIMS],
     *[f"{p}[<=3] {_SHORT[p]}_bounded" for p in _PRIMS],
     "string<=8 bs  \"none\"   # a bounded string with a default value",
     "string<=8[2] bs_fixed",
     "string<=8[<=3] bs_bounded",
     "builtin_interfaces/Time t",
     "builtin_interfaces/Duration d",
     "builtin_interfaces/Time[] t_seq",
     "builtin_interfaces/Duration[2] d_fixed",
     "bp_msgs/Sample[] samples",
     "bp_msgs/Sample[2] samples_fixed",
     "Sample[<=3] samples_bounded",
     "Inner inner",
     "Inner[] inners",
     "std_msgs/Empty empty",
     "float64 after_empty",
     "std_msgs/Empty[] empties",
     "std_msgs/Empty[2] empties_fixed",
     "uint8 last",
     ""])

ALIGN = """\
# Alignment traps for CDR decoders (8-byte alignment counts from byte 4).
uint8 a
float64[] b         # empty: an empty sequence does not align its elements
uint8 c
uint8 a2
uint32 n
float64[] b2        # its count ends at 4 mod 8: elements start 4 bytes later
uint8 c2
string s
float64 d           # after a string: aligns to 8
Sample[] pts
uint8 e
float64 f
"""

STD = {
    "builtin_interfaces/msg/Time": "int32 sec\nuint32 nanosec\n",
    "builtin_interfaces/msg/Duration": "int32 sec\nuint32 nanosec\n",
    "std_msgs/msg/String": "string data\n",
    "std_msgs/msg/Int32": "int32 data\n",
    "std_msgs/msg/Empty": "",
    "std_msgs/msg/Header": "# Standard metadata\nbuiltin_interfaces/Time stamp\nstring frame_id\n",
    "geometry_msgs/msg/PoseStamped": "std_msgs/Header header\nPose pose\n",
    "geometry_msgs/msg/Pose": "Point position\nQuaternion orientation\n",
    "geometry_msgs/msg/Point": "float64 x\nfloat64 y\nfloat64 z\n",
    "geometry_msgs/msg/Quaternion": "float64 x 0\nfloat64 y 0\nfloat64 z 0\nfloat64 w 1\n",
}
CUSTOM = {
    "bp_msgs/msg/Sample": SAMPLE,
    "bp_msgs/msg/Inner": INNER,
    "bp_msgs/msg/Probe": PROBE,
    "bp_msgs/msg/AlignTrap": ALIGN,
}
# ----- the ros2idl input: a custom type with fixed arrays, bounded and
# unbounded sequences, bounded strings, byte/char, defaults, constants, an
# empty field and nested types from another custom package and from the
# standard ones. Written once as ros2msg (these texts) and once as ros2idl
# (IDL_TEXTS below: what rosidl_adapter's msg.idl.em makes of these texts).

VERTEX = """\
float64 x
float64 y
char side           # .msg char: IDL uint8
int32[2] idx
"""

OBSTACLE = """\
# An obstacle: written as ros2idl (rosidl_adapter's IDL of this .msg) and
# as ros2msg; both must give the same rows and the same type hash.
uint8 KIND_UNKNOWN=0
uint8 KIND_PERSON=1
string LABEL_DEFAULT="none"
bool ENABLED=true
int8 NEG=-3
float64 SCALE=0.25
std_msgs/Header header
uint8 kind 1
float64[9] covariance            # row major
geometry_msgs/Point[<=4] outline
geometry_msgs/Point[2] corners
bp_geom_msgs/Vertex[] vertices
bp_geom_msgs/Vertex[2] edge
string<=16 label "none"
string<=8[<=3] tags
string<=4[2] codes
string[] notes
char code
byte raw
char[3] code3
byte[4] raw_fixed
byte[<=8] raw_bounded
uint8[] data
int16[<=4] small
float32[] weights [1.5, -2.0]
bool[2] flags
int64 id -5
uint64 big
builtin_interfaces/Duration ttl
std_msgs/Empty nothing
float64 after                    # trailing value [m]
"""

# a type written directly in IDL (no .msg: rosbag2 embeds the .idl file as
# it is), as Kilted's keyed types: @key on the member's line, comments of
# both kinds. Its .msg twin, for the ros2msg input:
KEYED = """\
int32 id
string<=8 zone
float64[<=4] values
uint8 level
"""

# ----- service events (rosbag2's newer shape: `SRV: pkg/srv/X`, the .srv
# text, then the `MSG:` sections of the types it names)

HIT = """\
string name
float32 score
"""

LOOKUP_SRV = """\
# Look a key up.
int8 MODE_FAST=1
string key
uint8[] blob
geometry_msgs/Point where
int8 mode 1
---
bool found
string<=16 value "none"
float64[] scores
builtin_interfaces/Time stamp
Hit[<=2] hits      # bare name: bp_msgs/msg/Hit
"""

PING_SRV = """\
uint32 seq
byte flag
---
uint32 seq
char[4] tag
"""

# an empty request (as std_srvs/srv/Trigger): 1 byte on the wire per
# element of `request`, which is then a list of an empty type (no column)
TRIGGER_SRV = """\
---
bool success   # indicate successful run of triggered service
string message # informational, e.g. for error messages
"""

SERVICES = {"bp_msgs/srv/Lookup": LOOKUP_SRV, "bp_msgs/srv/Ping": PING_SRV, "bp_msgs/srv/Trigger": TRIGGER_SRV}

# service_msgs/msg/ServiceEventInfo (Jazzy; Humble has no service_msgs)
SERVICE_EVENT_INFO = """\
uint8 REQUEST_SENT = 0
uint8 REQUEST_RECEIVED = 1
uint8 RESPONSE_SENT = 2
uint8 RESPONSE_RECEIVED = 3
uint8 event_type
builtin_interfaces/Time stamp
char[16] client_gid
int64 sequence_number
"""

EXTRA = {
    "bp_geom_msgs/msg/Vertex": VERTEX,
    "bp_idl_msgs/msg/Obstacle": OBSTACLE,
    "bp_msgs/msg/Hit": HIT,
    "bp_idl_msgs/msg/Keyed": KEYED,
}
TEXTS = {**STD, **CUSTOM, **EXTRA}

# rosidl_adapter's IDL for the types of the ros2idl input (msg.idl.em: the
# three header comment lines, the #include of every type a field names,
# typedefs for fixed arrays, a <Type>_Constants module, @verbatim comments,
# @default values; byte -> octet, char -> uint8, float64 -> double,
# T[<=N] -> sequence<T, N>, string<=N -> string<N>). The standard types are
# Humble's own .idl files.
_IDL_HEAD = ("// generated from rosidl_adapter/resource/msg.idl.em\n"
             "// with input from {name}.msg\n"
             "// generated code does not contain a copyright notice\n\n")

IDL_TEXTS = {
    "bp_idl_msgs/msg/Keyed": """\
// A keyed type written directly in IDL (no .msg), as Kilted's keyed topics.
module bp_idl_msgs {
  module msg {
    /* two key members;
       a block comment */
    struct Keyed {
      @key int32 id;
      @key string<8> zone;  // a bounded string key
      sequence<double, 4> values;
      uint8 level;
    };
  };
};
""",
    "bp_idl_msgs/msg/Obstacle": """\
#include "bp_geom_msgs/msg/Vertex.idl"
#include "builtin_interfaces/msg/Duration.idl"
#include "geometry_msgs/msg/Point.idl"
#include "std_msgs/msg/Empty.idl"
#include "std_msgs/msg/Header.idl"

module bp_idl_msgs {
  module msg {
    typedef double double__9[9];
    typedef geometry_msgs::msg::Point geometry_msgs__msg__Point;
    typedef geometry_msgs__msg__Point geometry_msgs__msg__Point__2[2];
    typedef bp_geom_msgs::msg::Vertex bp_geom_msgs__msg__Vertex;
    typedef bp_geom_msgs__msg__Vertex bp_geom_msgs__msg__Vertex__2[2];
    typedef string<4> string__4__2[2];
    typedef uint8 uint8__3[3];
    typedef octet octet__4[4];
    typedef boolean boolean__2[2];
    module Obstacle_Constants {
      const uint8 KIND_UNKNOWN = 0;
      const uint8 KIND_PERSON = 1;
      const string LABEL_DEFAULT = "none";
      const boolean ENABLED = TRUE;
      const int8 NEG = -3;
      const double SCALE = 0.25;
    };
    @verbatim (language="comment", text=
      "An obstacle: written as ros2idl (rosidl_adapter's IDL of this .msg) and" "\\n"
      "as ros2msg; both must give the same rows and the same type hash.")
    struct Obstacle {
      std_msgs::msg::Header header;

      @default (value=1)
      uint8 kind;

      @verbatim (language="comment", text=
        "row major")
      double__9 covariance;

      sequence<geometry_msgs::msg::Point, 4> outline;

      geometry_msgs__msg__Point__2 corners;

      sequence<bp_geom_msgs::msg::Vertex> vertices;

      bp_geom_msgs__msg__Vertex__2 edge;

      @default (value="none")
      string<16> label;

      sequence<string<8>, 3> tags;

      string__4__2 codes;

      sequence<string> notes;

      uint8 code;

      octet raw;

      uint8__3 code3;

      octet__4 raw_fixed;

      sequence<octet, 8> raw_bounded;

      sequence<uint8> data;

      sequence<int16, 4> small;

      @default (value="(1.5, -2.0)")
      sequence<float> weights;

      boolean__2 flags;

      @default (value=-5)
      int64 id;

      uint64 big;

      builtin_interfaces::msg::Duration ttl;

      std_msgs::msg::Empty nothing;

      @verbatim (language="comment", text=
        "trailing value")
      @unit (value="m")
      double after;
    };
  };
};
""",
    "bp_geom_msgs/msg/Vertex": """\

module bp_geom_msgs {
  module msg {
    typedef int32 int32__2[2];
    struct Vertex {
      double x;

      double y;

      @verbatim (language="comment", text=
        ".msg char: IDL uint8")
      uint8 side;

      int32__2 idx;
    };
  };
};
""",
    "std_msgs/msg/Header": """\
#include "builtin_interfaces/msg/Time.idl"

module std_msgs {
  module msg {
    @verbatim (language="comment", text=
      "Standard metadata for higher-level stamped data types." "\\n"
      "This is generally used to communicate timestamped data" "\\n"
      "in a particular coordinate frame.")
    struct Header {
      @verbatim (language="comment", text=
        "Two-integer timestamp that is expressed as seconds and nanoseconds.")
      builtin_interfaces::msg::Time stamp;

      @verbatim (language="comment", text=
        "Transform frame with which this data is associated.")
      string frame_id;
    };
  };
};
""",
    "builtin_interfaces/msg/Time": """\

module builtin_interfaces {
  module msg {
    @verbatim (language="comment", text=
      "This message communicates ROS Time defined here:" "\\n"
      "https://design.ros2.org/articles/clock_and_time.html")
    struct Time {
      @verbatim (language="comment", text=
        "The seconds component, valid over all int32 values.")
      int32 sec;

      @verbatim (language="comment", text=
        "The nanoseconds component, valid in the range [0, 1e9), to be added to the seconds component." "\\n"
        "e.g." "\\n"
        "The time -1.7 seconds is represented as {sec: -2, nanosec: 3e8}" "\\n"
        "The time 1.7 seconds is represented as {sec: 1, nanosec: 7e8}")
      uint32 nanosec;
    };
  };
};
""",
    "builtin_interfaces/msg/Duration": """\

module builtin_interfaces {
  module msg {
    @verbatim (language="comment", text=
      "Duration defines a period between two time points." "\\n"
      "Messages of this datatype are of ROS Time following this design:" "\\n"
      "https://design.ros2.org/articles/clock_and_time.html")
    struct Duration {
      @verbatim (language="comment", text=
        "Seconds component, range is valid over any possible int32 value.")
      int32 sec;

      @verbatim (language="comment", text=
        "Nanoseconds component in the range of [0, 10e9).")
      uint32 nanosec;
    };
  };
};
""",
    "std_msgs/msg/Empty": """\

module std_msgs {
  module msg {
    struct Empty {
      uint8 structure_needs_at_least_one_member;
    };
  };
};
""",
    "geometry_msgs/msg/Point": """\

module geometry_msgs {
  module msg {
    @verbatim (language="comment", text=
      "This contains the position of a point in free space")
    struct Point {
      double x;

      double y;

      double z;
    };
  };
};
""",
    "geometry_msgs/msg/Quaternion": """\

module geometry_msgs {
  module msg {
    @verbatim (language="comment", text=
      "This represents an orientation in free space in quaternion form.")
    struct Quaternion {
      @default (value=0.0)
      double x;

      @default (value=0.0)
      double y;

      @default (value=0.0)
      double z;

      @default (value=1.0)
      double w;
    };
  };
};
""",
    "geometry_msgs/msg/Pose": """\
#include "geometry_msgs/msg/Point.idl"
#include "geometry_msgs/msg/Quaternion.idl"

module geometry_msgs {
  module msg {
    @verbatim (language="comment", text=
      "A representation of pose in free space, composed of position and orientation.")
    struct Pose {
      geometry_msgs::msg::Point position;

      geometry_msgs::msg::Quaternion orientation;
    };
  };
};
""",
    "geometry_msgs/msg/PoseStamped": """\
#include "geometry_msgs/msg/Pose.idl"
#include "std_msgs/msg/Header.idl"

module geometry_msgs {
  module msg {
    @verbatim (language="comment", text=
      "A Pose with reference coordinate frame and timestamp")
    struct PoseStamped {
      std_msgs::msg::Header header;

      geometry_msgs::msg::Pose pose;
    };
  };
};
""",
}


# IDL_TEXTS written directly in IDL (not generated from a .msg)
IDL_HAND_WRITTEN = {"bp_idl_msgs/msg/Keyed"}


def make_typestore():
    """Humble plus the bp_msgs types, parsed from the texts above; checks
    that the hand-written standard texts mean what Humble's types mean.
    Also registers the service types (see register_services)."""
    ts = get_typestore(Stores.ROS2_HUMBLE)
    for name, text in STD.items():
        parsed = get_types_from_msg(text, name)[name][1]
        have = ts.fielddefs[name][1]
        if name != "std_msgs/msg/Empty" and list(parsed) != list(have):
            raise SystemExit(f"hand-written {name} differs from Humble: {parsed} != {have}")
    for name, text in {**CUSTOM, **EXTRA}.items():
        ts.register(get_types_from_msg(text, name))
    register_services(ts)
    return ts


def register_services(ts) -> None:
    """service_msgs/msg/ServiceEventInfo, and per service X its X_Request,
    X_Response and the event type rosidl builds for a service
    (rosidl_parser.definition.Service):
    `{ServiceEventInfo info; X_Request[<=1] request; X_Response[<=1] response}`.
    rosbags' .msg parser files every name under <pkg>/msg/ (it cannot
    parse a .srv), so each half is parsed under a msg name and renamed; the
    event type is written as a fielddefs entry directly."""
    name = "service_msgs/msg/ServiceEventInfo"
    info = get_types_from_msg(SERVICE_EVENT_INFO, name)
    jazzy = get_typestore(Stores.ROS2_JAZZY).fielddefs[name]
    if list(info[name][1]) != list(jazzy[1]):
        raise SystemExit(f"hand-written {name} differs from Jazzy: {info[name]} != {jazzy}")
    ts.register(info)
    for srv, text in SERVICES.items():
        pkg, _, base = srv.split("/")
        lines = text.split("\n")
        cut = lines.index("---")
        request, response = "\n".join(lines[:cut]) + "\n", "\n".join(lines[cut + 1:])
        typs = {}
        for half, body in (("Request", request), ("Response", response)):
            parsed = get_types_from_msg(body, f"{pkg}/msg/{base}_{half}")
            consts, fields = parsed[f"{pkg}/msg/{base}_{half}"]
            typs[f"{srv}_{half}"] = (consts, fields)
        typs[f"{srv}_Event"] = ([], [
            ("info", (Nodetype.NAME, name)),
            ("request", (Nodetype.SEQUENCE, ((Nodetype.NAME, f"{srv}_Request"), 1))),
            ("response", (Nodetype.SEQUENCE, ((Nodetype.NAME, f"{srv}_Response"), 1))),
        ])
        ts.register(typs)


def srv_definition(ts, srv: str) -> bytes:
    """A service event's embedded definition as rosbag2 (rolling) writes it
    (rosbag2_cpp LocalMessageDefinitionSource, test can_find_srv_deps_in_msg):
    the 80-`=` line, `SRV: pkg/srv/X`, the .srv text and a blank line, then
    one `MSG: pkg/Type` section per type the .srv names, transitively."""
    deps: list[str] = []
    for half in ("Request", "Response"):
        for d in [f for _, f in ts.fielddefs[f"{srv}_{half}"][1]]:
            if d[0] in (Nodetype.ARRAY, Nodetype.SEQUENCE):
                d = d[1][0]
            if d[0] == Nodetype.NAME:
                for t in [d[1], *deps_of(ts, d[1])]:
                    if t not in deps:
                        deps.append(t)
    parts = [f"{SEP}SRV: {srv}\n{SERVICES[srv]}\n"]
    parts += [f"{SEP}MSG: {d.replace('/msg/', '/')}\n{TEXTS[d]}" for d in deps]
    return "".join(parts).encode()


def deps_of(ts, name: str) -> list[str]:
    """Every type `name` refers to, transitively, in first-reference order."""
    out: list[str] = []

    def walk(t: str) -> None:
        for _, desc in ts.fielddefs[t][1]:
            if desc[0] in (Nodetype.ARRAY, Nodetype.SEQUENCE):
                desc = desc[1][0]
            if desc[0] == Nodetype.NAME and desc[1] not in out:
                out.append(desc[1])
                walk(desc[1])
    walk(name)
    return out


def ros2msg(ts, name: str, long_names: bool = False) -> bytes:
    """The concatenated ros2msg definition, from the hand-written texts
    (field types `pkg/Type` or bare, as rosidl's .msg parser wants them;
    sections `MSG: pkg/msg/Type`). long_names: the other spellings seen in
    the wild, field types `pkg/msg/Type` and sections `MSG: pkg/Type`."""
    def spell(text: str) -> str:
        if not long_names:
            return text
        return re.sub(r"(?m)^([A-Za-z0-9_]+)/([A-Za-z0-9_]+)(\[[^\]]*\])? ", r"\1/msg/\2\3 ", text)

    parts = [spell(TEXTS[name])]
    for dep in deps_of(ts, name):
        head = dep.replace("/msg/", "/") if long_names else dep
        parts.append(f"{SEP}MSG: {head}\n{spell(TEXTS[dep])}")
    return "".join(parts).encode()


def ros2idl(ts, name: str) -> bytes:
    """The concatenated ros2idl definition as rosbag2 writes it
    (docs/message_definition_encoding.md; rosbag2_cpp
    LocalMessageDefinitionSource): every section, the top-level type first,
    after the 80-`=` line and `IDL: pkg/msg/Type`, holding that type's .idl
    file (IDL_TEXTS, with its #include lines); a blank line between
    sections."""
    return "\n".join(f"{SEP}IDL: {t}\n{'' if t in IDL_HAND_WRITTEN else _IDL_HEAD.format(name=t)}"
                     f"{IDL_TEXTS[t]}" for t in [name, *deps_of(ts, name)]).encode()


def rihs01(ts, name: str) -> str:
    """REP 2011 hash as rosidl computes it for a `.msg` (char hashed as
    uint8; rosbags' own hash_rihs01 uses CHAR, see rosbags_parity.py)."""
    import rosbags.typesys.store as store
    old = store.TIDMAP["char"]
    store.TIDMAP["char"] = store.TIDMAP["uint8"]
    try:
        return ts.hash_rihs01(name)
    finally:
        store.TIDMAP["char"] = old


# --------------------------------------------------------------------------
# The standard message set
# --------------------------------------------------------------------------

def qos(depth: int, reliability: QosReliability, durability: QosDurability) -> Qos:
    zero = QosTime(0, 0)
    return Qos(QosHistory.KEEP_LAST, depth, reliability, durability, zero, zero,
               QosLiveliness.AUTOMATIC, zero, False)


QOS_A = [qos(10, QosReliability.RELIABLE, QosDurability.VOLATILE)]
QOS_B = [qos(1, QosReliability.BEST_EFFORT, QosDurability.TRANSIENT_LOCAL)]

# (connection name, topic, type, QoS); connections are added in this order
STANDARD_CONNS = [
    ("probe", "/probe", "bp_msgs/msg/Probe", []),
    ("align", "/align", "bp_msgs/msg/AlignTrap", []),
    ("text_a", "/text", "std_msgs/msg/String", QOS_A),
    ("text_b", "/text", "std_msgs/msg/String", QOS_B),
    ("text_edge", "/text_edge", "std_msgs/msg/String", []),
    ("padded", "/padded", "std_msgs/msg/String", []),
    ("multi_s", "/multi", "std_msgs/msg/String", []),
    ("multi_i", "/multi", "std_msgs/msg/Int32", []),
    ("stamp", "/stamp", "builtin_interfaces/msg/Time", []),
    ("empty", "/empty", "std_msgs/msg/Empty", []),
    ("pose", "/pose", "geometry_msgs/msg/PoseStamped", []),
]
CONN_TYPE = {c[0]: c[2] for c in STANDARD_CONNS}


def _arr(values, dtype) -> np.ndarray:
    return np.array(values, dtype=dtype)


def _bytes_arr(values) -> np.ndarray:
    """rosbags holds `byte` arrays as int8."""
    return np.array(values, dtype=np.uint8).view(np.int8)


NP = {"bool": np.bool_, "int8": np.int8, "uint8": np.uint8, "char": np.uint8, "int16": np.int16,
      "uint16": np.uint16, "int32": np.int32, "uint32": np.uint32, "int64": np.int64,
      "uint64": np.uint64, "float32": np.float32, "float64": np.float64}


def probe(ts, kind: str):
    T = ts.types["builtin_interfaces/msg/Time"]
    D = ts.types["builtin_interfaces/msg/Duration"]
    S = ts.types["bp_msgs/msg/Sample"]
    E = ts.types["std_msgs/msg/Empty"]
    I = ts.types["bp_msgs/msg/Inner"]
    P = ts.types["bp_msgs/msg/Probe"]
    nan, inf = float("nan"), float("inf")
    if kind == "zero":
        scal = {"bool": False, "byte": 0, "char": 0, "int8": 0, "uint8": 0, "int16": 0, "uint16": 0,
                "int32": 0, "uint32": 0, "int64": 0, "uint64": 0, "float32": 0.0, "float64": 0.0,
                "string": ""}
        fixed = {p: [scal[p]] * _FIXED_N.get(p, 2) for p in _PRIMS}
        seq = {p: [] for p in _PRIMS}
        bounded = {p: [] for p in _PRIMS}
        extra = dict(bs="", bs_fixed=["", ""], bs_bounded=[], t=T(sec=0, nanosec=0), d=D(sec=0, nanosec=0),
                     t_seq=[], d_fixed=[D(sec=0, nanosec=0), D(sec=0, nanosec=0)], samples=[],
                     samples_fixed=[S(v=0.0, tag=0), S(v=0.0, tag=0)], samples_bounded=[],
                     inner=I(stamp=T(sec=0, nanosec=0), samples=[], nothing=E(), name=""), inners=[],
                     empty=E(), after_empty=0.0, empties=[], empties_fixed=[E(), E()], last=0)
    elif kind == "max":
        scal = {"bool": True, "byte": -1, "char": 200, "int8": 127, "uint8": 255, "int16": 32767,
                "uint16": 65535, "int32": 2**31 - 1, "uint32": 2**32 - 1, "int64": 2**63 - 1,
                "uint64": 2**64 - 1, "float32": float(np.finfo(np.float32).max), "float64": inf,
                "string": "żółw 🐢 ünïcødé"}
        fixed = {"bool": [True, False], "byte": [255, 128, 1], "char": [200, 0, 127], "int8": [127, -128],
                 "uint8": [255, 0, 1], "int16": [32767, -32768], "uint16": [65535, 0],
                 "int32": [2**31 - 1, -2**31], "uint32": [2**32 - 1, 0], "int64": [2**63 - 1, -2**63],
                 "uint64": [2**64 - 1, 0], "float32": [inf, -0.0], "float64": [nan, -inf],
                 "string": ["", "ünï"]}
        seq = {"bool": [True, True, False], "byte": [0, 255, 128, 127], "char": [200, 65],
               "int8": [-128, 127, 0], "uint8": [0, 255], "int16": [-1], "uint16": [65535, 1],
               "int32": [-2**31, 2**31 - 1, 7], "uint32": [2**32 - 1], "int64": [-2**63, 2**63 - 1],
               "uint64": [2**64 - 1, 1, 0], "float32": [nan, -inf, 1.5], "float64": [-0.0, nan, inf, 1e-300],
               "string": ["a", "", "ĉ🐢"]}
        bounded = {p: seq[p][:3] for p in _PRIMS}
        extra = dict(bs="abcdefgh", bs_fixed=["x", "12345678"], bs_bounded=["a", "bc", "def"],
                     t=T(sec=2**31 - 1, nanosec=999_999_999), d=D(sec=-2, nanosec=500_000_000),
                     t_seq=[T(sec=-1, nanosec=0), T(sec=0, nanosec=2**32 - 1), T(sec=1_700_000_000, nanosec=5)],
                     d_fixed=[D(sec=-2**31, nanosec=0), D(sec=2**31 - 1, nanosec=2**32 - 1)],
                     samples=[S(v=1.5, tag=1), S(v=-2.25, tag=2), S(v=nan, tag=255)],
                     samples_fixed=[S(v=inf, tag=3), S(v=-0.0, tag=4)],
                     samples_bounded=[S(v=3.0, tag=5)],
                     inner=I(stamp=T(sec=-5, nanosec=1), samples=[S(v=7.0, tag=7)], nothing=E(), name="inner"),
                     inners=[I(stamp=T(sec=1, nanosec=2), samples=[], nothing=E(), name="i0"),
                             I(stamp=T(sec=3, nanosec=4), samples=[S(v=8.0, tag=8), S(v=9.0, tag=9)],
                               nothing=E(), name="i1🐢")],
                     empty=E(), after_empty=-1.25, empties=[E(), E(), E()], empties_fixed=[E(), E()], last=255)
    else:   # "min"
        scal = {"bool": False, "byte": -128, "char": 1, "int8": -128, "uint8": 1, "int16": -32768,
                "uint16": 1, "int32": -2**31, "uint32": 1, "int64": -2**63, "uint64": 1,
                "float32": -inf, "float64": nan, "string": "x"}
        fixed = {p: [scal[p]] * _FIXED_N.get(p, 2) for p in _PRIMS}
        fixed["byte"] = [128, 0, 255]
        seq = {p: [scal[p]] for p in _PRIMS}
        seq["byte"] = [128]
        bounded = {p: [] for p in _PRIMS}
        extra = dict(bs="", bs_fixed=["", "x"], bs_bounded=[""], t=T(sec=-2**31, nanosec=0),
                     d=D(sec=-1, nanosec=2**32 - 1), t_seq=[T(sec=0, nanosec=0)],
                     d_fixed=[D(sec=-1, nanosec=999_999_999), D(sec=0, nanosec=1)],
                     samples=[S(v=-0.0, tag=0)], samples_fixed=[S(v=-inf, tag=255), S(v=1e300, tag=128)],
                     samples_bounded=[S(v=1.0, tag=1), S(v=2.0, tag=2), S(v=3.0, tag=3)],
                     inner=I(stamp=T(sec=0, nanosec=0), samples=[], nothing=E(), name=""),
                     inners=[I(stamp=T(sec=0, nanosec=0), samples=[], nothing=E(), name="")],
                     empty=E(), after_empty=float("nan"), empties=[E()], empties_fixed=[E(), E()], last=1)

    def conv(p, values):
        if p == "string":
            return list(values)
        if p == "byte":
            return _bytes_arr(values)
        return _arr(values, NP[p])

    kw = {}
    for p in _PRIMS:
        s = _SHORT[p]
        v = scal[p]
        kw[s] = v if p not in ("float32",) else float(np.float32(v))
        kw[f"{s}_fixed"] = conv(p, fixed[p])
        kw[f"{s}_seq"] = conv(p, seq[p])
        kw[f"{s}_bounded"] = conv(p, bounded[p])
    kw.update(extra)
    return P(**kw)


def align(ts, kind: int):
    A = ts.types["bp_msgs/msg/AlignTrap"]
    S = ts.types["bp_msgs/msg/Sample"]
    f64 = lambda v: np.array(v, dtype=np.float64)   # noqa: E731
    if kind == 0:
        return A(a=1, b=f64([]), c=2, a2=3, n=4, b2=f64([]), c2=5, s="abcd", d=6.5, pts=[], e=7, f=8.5)
    if kind == 1:
        return A(a=255, b=f64([]), c=254, a2=253, n=2**32 - 1, b2=f64([1.5, -2.5]), c2=252, s="abc", d=-0.5,
                 pts=[S(v=1.0, tag=1)], e=251, f=-8.25)
    if kind == 2:
        return A(a=0, b=f64([9.75]), c=0, a2=0, n=0, b2=f64([]), c2=0, s="", d=1e-10,
                 pts=[S(v=2.0, tag=2), S(v=3.0, tag=3)], e=0, f=float("inf"))
    return A(a=9, b=f64([1.0, 2.0, 3.0]), c=8, a2=7, n=6, b2=f64([4.0]), c2=5, s="odd length: 13", d=4.0,
             pts=[], e=3, f=2.0)


def standard_messages(ts) -> list[tuple[str, int, object, str]]:
    """(connection name, log time, message, payload edit) in write order.
    A payload edit is applied to the serialized bytes (see payload())."""
    String = ts.types["std_msgs/msg/String"]
    Int32 = ts.types["std_msgs/msg/Int32"]
    T = ts.types["builtin_interfaces/msg/Time"]
    E = ts.types["std_msgs/msg/Empty"]
    H = ts.types["std_msgs/msg/Header"]
    PS = ts.types["geometry_msgs/msg/PoseStamped"]
    Pose = ts.types["geometry_msgs/msg/Pose"]
    Pt = ts.types["geometry_msgs/msg/Point"]
    Q = ts.types["geometry_msgs/msg/Quaternion"]

    def pose(sec, nsec, frame, x):
        return PS(header=H(stamp=T(sec=sec, nanosec=nsec), frame_id=frame),
                  pose=Pose(position=Pt(x=x, y=-x, z=0.5), orientation=Q(x=0.0, y=0.0, z=0.0, w=1.0)))

    # logical list: (connection, time slot, message, edit); slot k is T0 + k*10ms
    logical = [
        ("probe", 3, probe(ts, "zero"), ""),
        ("probe", 3, probe(ts, "max"), ""),
        ("probe", 1, probe(ts, "min"), ""),
        ("align", 0, align(ts, 0), ""),
        ("align", 2, align(ts, 1), ""),
        ("align", 2, align(ts, 2), ""),
        ("align", 5, align(ts, 3), ""),
        ("text_a", 0, String(data="hello"), ""),
        ("text_b", 0, String(data="from b"), ""),
        ("text_a", 0, String(data=""), ""),
        ("text_b", 4, String(data="żółw 🐢"), ""),
        ("text_a", 4, String(data="tie with b"), ""),
        ("text_edge", 1, String(data="abQZcd"), "invalid_utf8"),
        ("text_edge", 1, String(data=""), "length0"),
        ("text_edge", 2, String(data="plain"), ""),
        ("padded", 0, String(data="pad0"), ""),
        ("padded", 1, String(data="pad1"), "pad1"),
        ("padded", 1, String(data="pad2"), "pad2"),
        ("padded", 2, String(data="pad3"), "pad3"),
        ("padded", 2, String(data="pad4"), "pad4"),
        ("padded", 3, String(data="cut short"), "cut"),
        ("padded", 3, String(data="after"), ""),
        ("multi_s", 1, String(data="multi-string"), ""),
        ("multi_i", 1, Int32(data=42), ""),
        ("multi_s", 4, String(data="again"), ""),
        ("multi_i", 5, Int32(data=-7), ""),
        ("stamp", 0, T(sec=1, nanosec=2), ""),
        ("stamp", 3, T(sec=-5, nanosec=999_999_999), ""),
        ("empty", 2, E(), ""),
        ("empty", 2, E(), ""),
        ("pose", 1, pose(1_700_000_000, 10 * MS, "map", 1.0), ""),
        ("pose", 5, pose(-1, 0, "", -3.5), ""),
        ("pose", 5, pose(0, 2**32 - 1, "odom ünï", 1e9), ""),
    ]
    n = len(logical)
    step = 14
    assert np.gcd(step, n) == 1
    # a fixed permutation: out of time order, ties in a known write order
    order = [(i * step) % n for i in range(n)]
    return [(logical[i][0], T0 + logical[i][1] * 10 * MS, logical[i][2], logical[i][3]) for i in order]


def payload(ts, conn: str, msg, edit: str, big_endian: bool) -> bytes:
    msgtype = CONN_TYPE[conn]
    raw = bytes(ts.serialize_cdr(msg, msgtype, little_endian=not big_endian))
    if edit == "invalid_utf8":
        assert raw.count(b"abQZcd") == 1
        return raw.replace(b"abQZcd", b"ab\xff\xfecd")
    if edit == "length0":   # a CDR string whose length field is 0 (no NUL)
        return raw[:4] + b"\x00\x00\x00\x00"
    if edit == "pad1":
        return raw + b"\x00"
    if edit == "pad2":
        return raw + b"\x00\x00"
    if edit == "pad3":
        return raw + b"\xee\xee\xee"
    if edit == "pad4":
        return raw + b"\xde\xad\xbe\xef"
    if edit == "cut":
        return raw[:-3]
    assert not edit
    return raw


# --------------------------------------------------------------------------
# The other message sets
# --------------------------------------------------------------------------

# db3 schemas 3, 2 and 1 embed no definitions: bagpipe takes them from its
# built-in (Humble) set. This set is the standard one with standard types
# only, plus sensor_msgs/msg/Imu, and one custom type (/probe), which no
# definition covers once the message_definitions table is gone.
LEGACY_CONNS = [c for c in STANDARD_CONNS if c[0] != "align"] + [("imu", "/imu", "sensor_msgs/msg/Imu", [])]

# the ros2idl input and its ros2msg twin
IDL_CONNS = [
    ("obstacle", "/obstacle", "bp_idl_msgs/msg/Obstacle", []),
    ("pose", "/pose", "geometry_msgs/msg/PoseStamped", []),
    ("keyed", "/keyed", "bp_idl_msgs/msg/Keyed", []),
]

# service events (topics /<service>/_service_event), and one plain topic
SRV_CONNS = [
    ("lookup_event", "/lookup/_service_event", "bp_msgs/srv/Lookup_Event", QOS_A),
    ("ping_event", "/ping/_service_event", "bp_msgs/srv/Ping_Event", []),
    ("trigger_event", "/trigger/_service_event", "bp_msgs/srv/Trigger_Event", []),
    ("chatter", "/chatter", "std_msgs/msg/String", []),
]
CONN_TYPE.update({c[0]: c[2] for c in LEGACY_CONNS + IDL_CONNS + SRV_CONNS})


def legacy_messages(ts, msgs) -> list[tuple[str, int, object, str]]:
    """The standard write sequence without /align, with three /imu messages
    put in at fixed places (log times tied with other topics')."""
    I = ts.types["sensor_msgs/msg/Imu"]
    H = ts.types["std_msgs/msg/Header"]
    T = ts.types["builtin_interfaces/msg/Time"]
    Q = ts.types["geometry_msgs/msg/Quaternion"]
    V = ts.types["geometry_msgs/msg/Vector3"]
    f64 = lambda v: np.array(v, dtype=np.float64)   # noqa: E731

    def imu(sec, nsec, frame, q, cov, w, a):
        return I(header=H(stamp=T(sec=sec, nanosec=nsec), frame_id=frame),
                 orientation=Q(x=q[0], y=q[1], z=q[2], w=q[3]),
                 orientation_covariance=f64(cov), angular_velocity=V(x=w[0], y=w[1], z=w[2]),
                 angular_velocity_covariance=f64([0.0] * 9), linear_acceleration=V(x=a[0], y=a[1], z=a[2]),
                 linear_acceleration_covariance=f64([1e-3, 0, 0, 0, 1e-3, 0, 0, 0, 1e-3]))

    imus = [
        ("imu", T0 + 2 * 10 * MS, imu(1_700_000_000, 20 * MS, "imu_link", (0.0, 0.0, 0.0, 1.0),
                                      [-1.0] + [0.0] * 8, (0.0, 0.0, 0.1), (0.0, 0.0, 9.81)), ""),
        ("imu", T0, imu(1_700_000_000, 0, "imu_link", (0.5, -0.5, 0.5, -0.5),
                        [float("nan"), -0.0, float("inf"), 1, 2, 3, 4, 5, 6], (-1e300, 1e-300, 0.0),
                        (1.0, 2.0, 3.0)), ""),
        ("imu", T0 + 2 * 10 * MS, imu(-1, 999_999_999, "", (0.0, 0.0, 0.0, 0.0),
                                      [0.0] * 9, (0.0, 0.0, 0.0), (0.0, 0.0, 0.0)), ""),
    ]
    out = [m for m in msgs if m[0] != "align"]
    for k, m in enumerate(imus):
        out.insert(3 + 7 * k, m)
    return out


def idl_messages(ts, msgs) -> list[tuple[str, int, object, str]]:
    """/obstacle messages (extreme, empty and in-between values) and the
    standard set's /pose messages, interleaved."""
    O = ts.types["bp_idl_msgs/msg/Obstacle"]
    Vx = ts.types["bp_geom_msgs/msg/Vertex"]
    H = ts.types["std_msgs/msg/Header"]
    T = ts.types["builtin_interfaces/msg/Time"]
    D = ts.types["builtin_interfaces/msg/Duration"]
    P = ts.types["geometry_msgs/msg/Point"]
    E = ts.types["std_msgs/msg/Empty"]
    nan, inf = float("nan"), float("inf")

    def vx(x, y, side, idx):
        return Vx(x=x, y=y, side=side, idx=np.array(idx, dtype=np.int32))

    full = O(header=H(stamp=T(sec=1_700_000_000, nanosec=5), frame_id="base_link"), kind=2,
             covariance=np.array([nan, -0.0, inf, -inf, 1e-300, 1e300, 1.0, 2.0, 3.0], dtype=np.float64),
             outline=[P(x=1.0, y=2.0, z=3.0), P(x=-1.0, y=-2.0, z=-3.0), P(x=0.0, y=0.0, z=0.0),
                      P(x=nan, y=inf, z=-0.0)],
             corners=[P(x=0.5, y=0.5, z=0.0), P(x=-0.5, y=-0.5, z=0.0)],
             vertices=[vx(1.5, -1.5, 200, [-1, 2**31 - 1]), vx(0.0, 0.0, 0, [0, 0])],
             edge=[vx(-inf, inf, 255, [-2**31, 1]), vx(1.0, 2.0, 65, [3, 4])],
             label="sixteen-chars-ok", tags=["a", "12345678", ""], codes=["abcd", ""], notes=["n1", "żółw 🐢", ""],
             code=255, raw=-1, code3=np.array([0, 65, 255], dtype=np.uint8),
             raw_fixed=np.array([0, 1, 128, 255], dtype=np.uint8).view(np.int8),
             raw_bounded=np.array(list(range(250, 256)) + [0, 1], dtype=np.uint8).view(np.int8),
             data=np.array([0, 255, 7], dtype=np.uint8), small=np.array([-32768, 32767, 0, 1], dtype=np.int16),
             weights=np.array([1.5, -inf, nan], dtype=np.float32), flags=np.array([True, False]),
             id=-2**63, big=2**64 - 1, ttl=D(sec=-1, nanosec=999_999_999), nothing=E(), after=1e-300)
    empty = O(header=H(stamp=T(sec=0, nanosec=0), frame_id=""), kind=0,
              covariance=np.zeros(9, dtype=np.float64), outline=[],
              corners=[P(x=0.0, y=0.0, z=0.0), P(x=0.0, y=0.0, z=0.0)], vertices=[],
              edge=[vx(0.0, 0.0, 0, [0, 0]), vx(0.0, 0.0, 0, [0, 0])],
              label="", tags=[], codes=["", ""], notes=[], code=0, raw=0, code3=np.zeros(3, dtype=np.uint8),
              raw_fixed=np.zeros(4, dtype=np.int8), raw_bounded=np.zeros(0, dtype=np.int8),
              data=np.zeros(0, dtype=np.uint8), small=np.zeros(0, dtype=np.int16),
              weights=np.zeros(0, dtype=np.float32), flags=np.array([False, False]),
              id=0, big=0, ttl=D(sec=0, nanosec=0), nothing=E(), after=0.0)
    mid = O(header=H(stamp=T(sec=-5, nanosec=2**32 - 1), frame_id="map ünï"), kind=1,
            covariance=np.arange(9, dtype=np.float64) / 8, outline=[P(x=7.0, y=8.0, z=9.0)],
            corners=[P(x=1.0, y=1.0, z=1.0), P(x=2.0, y=2.0, z=2.0)],
            vertices=[vx(3.0, 4.0, 127, [5, 6])], edge=[vx(0.25, 0.5, 1, [-1, -2]), vx(0.75, 1.0, 2, [-3, -4])],
            label="none", tags=["xyz"], codes=["ab", "cd"], notes=["only"], code=65, raw=127,
            code3=np.array([1, 2, 3], dtype=np.uint8), raw_fixed=np.array([-128, 127, 0, -1], dtype=np.int8),
            raw_bounded=np.array([-128], dtype=np.int8), data=np.array([42], dtype=np.uint8),
            small=np.array([-1], dtype=np.int16), weights=np.array([0.1], dtype=np.float32),
            flags=np.array([False, True]), id=-5, big=1, ttl=D(sec=2**31 - 1, nanosec=0), nothing=E(), after=-1.0)
    obstacles = [("obstacle", T0 + 1 * 10 * MS, full, ""), ("obstacle", T0, empty, ""),
                 ("obstacle", T0 + 1 * 10 * MS, mid, ""), ("obstacle", T0 + 5 * 10 * MS, full, "")]
    K = ts.types["bp_idl_msgs/msg/Keyed"]
    keyed = [("keyed", T0 + 1 * 10 * MS,
              K(id=-1, zone="zone-8ch", values=np.array([1.0, 2.0, 3.0, nan]), level=255), ""),
             ("keyed", T0 + 1 * 10 * MS, K(id=2**31 - 1, zone="", values=np.zeros(0), level=0), "")]
    poses = [m for m in msgs if m[0] == "pose"]
    return [obstacles[0], poses[0], keyed[0], obstacles[1], obstacles[2], poses[1], keyed[1], poses[2],
            obstacles[3]]


def service_messages(ts) -> list[tuple[str, int, object, str]]:
    """Service events as rosbag2 records them with introspection 'contents':
    request events (REQUEST_SENT 0, REQUEST_RECEIVED 1) carry the request,
    response events (RESPONSE_SENT 2, RESPONSE_RECEIVED 3) the response;
    one event carries neither ('metadata' introspection). Written out of
    log-time order, with ties."""
    Info = ts.types["service_msgs/msg/ServiceEventInfo"]
    T = ts.types["builtin_interfaces/msg/Time"]
    P = ts.types["geometry_msgs/msg/Point"]
    Hit = ts.types["bp_msgs/msg/Hit"]
    LReq = ts.types["bp_msgs/srv/Lookup_Request"]
    LResp = ts.types["bp_msgs/srv/Lookup_Response"]
    LEv = ts.types["bp_msgs/srv/Lookup_Event"]
    PReq = ts.types["bp_msgs/srv/Ping_Request"]
    PResp = ts.types["bp_msgs/srv/Ping_Response"]
    PEv = ts.types["bp_msgs/srv/Ping_Event"]
    TReq = ts.types["bp_msgs/srv/Trigger_Request"]
    TResp = ts.types["bp_msgs/srv/Trigger_Response"]
    TEv = ts.types["bp_msgs/srv/Trigger_Event"]
    String = ts.types["std_msgs/msg/String"]
    gid_a = np.arange(1, 17, dtype=np.uint8)
    gid_b = np.full(16, 255, dtype=np.uint8)

    def info(kind, sec, nsec, gid, seq):
        return Info(event_type=kind, stamp=T(sec=sec, nanosec=nsec), client_gid=gid, sequence_number=seq)

    req1 = LReq(key="k1", blob=np.array([0, 255, 7], dtype=np.uint8), where=P(x=1.5, y=-2.0, z=0.0), mode=1)
    resp1 = LResp(found=True, value="sixteen-chars-ok", scores=np.array([0.5, float("nan")], dtype=np.float64),
                  stamp=T(sec=-1, nanosec=5), hits=[Hit(name="a", score=1.5), Hit(name="", score=-0.0)])
    req2 = LReq(key="", blob=np.zeros(0, dtype=np.uint8), where=P(x=0.0, y=0.0, z=0.0), mode=-128)
    resp2 = LResp(found=False, value="", scores=np.zeros(0, dtype=np.float64), stamp=T(sec=0, nanosec=0), hits=[])
    ping_req = PReq(seq=2**32 - 1, flag=-1)
    ping_resp = PResp(seq=0, tag=np.array([65, 66, 0, 200], dtype=np.uint8))
    t = lambda slot: T0 + slot * 10 * MS   # noqa: E731
    return [
        ("lookup_event", t(1), LEv(info=info(1, 1_700_000_000, 200, gid_a, 1), request=[req1], response=[]), ""),
        ("ping_event", t(1), PEv(info=info(0, 1_700_000_000, 150, gid_b, 9), request=[ping_req], response=[]), ""),
        ("lookup_event", t(1), LEv(info=info(0, 1_700_000_000, 100, gid_a, 1), request=[req1], response=[]), ""),
        ("chatter", t(0), String(data="before the services"), ""),
        ("lookup_event", t(2), LEv(info=info(2, 1_700_000_000, 300, gid_a, 1), request=[], response=[resp1]), ""),
        ("lookup_event", t(0), LEv(info=info(0, -1, 0, gid_b, -7), request=[req2], response=[]), ""),
        ("ping_event", t(3), PEv(info=info(3, 1_700_000_000, 400, gid_b, 9), request=[], response=[ping_resp]), ""),
        ("lookup_event", t(2), LEv(info=info(3, 1_700_000_000, 400, gid_a, 1), request=[], response=[resp1]), ""),
        ("lookup_event", t(3), LEv(info=info(3, 0, 2**32 - 1, gid_b, -7), request=[], response=[resp2]), ""),
        ("lookup_event", t(3), LEv(info=info(2, 0, 0, gid_b, 2**63 - 1), request=[], response=[]), ""),
        ("chatter", t(2), String(data="between"), ""),
        ("trigger_event", t(2), TEv(info=info(0, 5, 0, gid_a, 3), request=[TReq()], response=[]), ""),
        ("trigger_event", t(1), TEv(info=info(3, 6, 0, gid_a, 3), request=[],
                                    response=[TResp(success=True, message="triggered")]), ""),
        ("trigger_event", t(2), TEv(info=info(1, 5, 1, gid_a, 3), request=[TReq()], response=[]), ""),
    ]


# --------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------

class Gen:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.tmp = out / ".work"
        self.tmp.mkdir()
        self.ts = make_typestore()
        self.msgs = standard_messages(self.ts)
        self.lines: list[tuple[str, str]] = []

    def emit(self, rel: str, what: str) -> None:
        self.lines.append((rel, what))
        print(f"{rel}\t{what}", flush=True)

    def payloads(self, msgs, big_endian: bool = False) -> list[tuple[str, int, bytes]]:
        return [(c, t, payload(self.ts, c, m, e, big_endian)) for c, t, m, e in msgs]

    def sorted_msgs(self):
        """The write sequence stably sorted by log time (ties keep their order)."""
        return sorted(self.msgs, key=lambda m: m[1])

    # ----- rosbags

    def rosbags_dir(self, path: Path, plugin: StoragePlugin, mode: CompressionMode | None,
                    msgs, conn_order=None, big_endian: bool = False, defs=None) -> None:
        """defs: {msgtype: (definition text, RIHS01)} embedded instead of
        rosbags' own rendering (rosbags picks ros2idl for a text that opens
        with the `IDL:` section header, ros2msg otherwise)."""
        w = Writer(path, version=9, storage_plugin=plugin)
        if mode is not None:
            w.set_compression(mode, CompressionFormat.ZSTD)
        conns = {}
        with w:
            for name, topic, msgtype, q in (conn_order or STANDARD_CONNS):
                if defs and msgtype in defs:
                    text, h = defs[msgtype]
                    conns[name] = w.add_connection(topic, msgtype, msgdef=text, rihs01=h, offered_qos_profiles=q)
                else:
                    conns[name] = w.add_connection(topic, msgtype, typestore=self.ts, offered_qos_profiles=q)
            for c, t, data in self.payloads(msgs, big_endian):
                w.write(conns[c], t, data)

    def rosbags_bare(self, name: str, plugin: StoragePlugin, mode: CompressionMode | None,
                     msgs=None, big_endian: bool = False, conns=None, defs=None) -> Path:
        """One storage file written by rosbags, moved out of its directory."""
        d = self.tmp / Path(name).name.split(".")[0]
        self.rosbags_dir(d, plugin, mode, msgs or self.msgs, conn_order=conns, big_endian=big_endian, defs=defs)
        (src,) = [p for p in d.iterdir() if p.name != "metadata.yaml"]
        dst = self.out / name
        src.rename(dst)
        shutil.rmtree(d)
        return dst

    def split(self, dirname: str, parts: int, plugin: StoragePlugin, metadata: str) -> None:
        """A rosbag2 directory of `parts` storage files `<dir>_<N>.<ext>`,
        each written by its own rosbags Writer (rosbags writes one file per
        Writer), the write sequence cut in contiguous slices. Each part adds
        every connection, in a different order (channel ids differ per
        part), keeping /multi's String before its Int32. metadata: "merged"
        (one metadata.yaml listing all parts), "none" (no metadata.yaml, a
        recorder that stopped), "missing" (the merged file, the last part
        deleted)."""
        d = self.out / dirname
        d.mkdir()
        n = len(self.msgs)
        metas = []
        for k in range(parts):
            part = f"{dirname}_{k}"
            lo, hi = k * n // parts, (k + 1) * n // parts
            order = list(STANDARD_CONNS)
            if k % 3 == 1:
                order.reverse()
            elif k % 3 == 2:
                order = order[3:] + order[:3]
            ms = [c for c in order if c[0] == "multi_s"][0]
            mi = [c for c in order if c[0] == "multi_i"][0]
            if order.index(mi) < order.index(ms):   # keep the first type first
                i, j = order.index(mi), order.index(ms)
                order[i], order[j] = ms, mi
            self.rosbags_dir(self.tmp / part, plugin, None, self.msgs[lo:hi], conn_order=order)
            metas.append(YAML(typ="safe").load((self.tmp / part / "metadata.yaml").read_text()))
            for f in (self.tmp / part).iterdir():
                if f.name != "metadata.yaml":
                    f.rename(d / f.name)
            shutil.rmtree(self.tmp / part)
        if metadata == "none":
            return
        infos = [m["rosbag2_bagfile_information"] for m in metas]
        merged = dict(infos[0])
        merged["relative_file_paths"] = [p for i in infos for p in i["relative_file_paths"]]
        merged["files"] = [f for i in infos for f in i["files"]]
        counted = [i for i in infos if i["message_count"]]
        start = min(i["starting_time"]["nanoseconds_since_epoch"] for i in counted)
        end = max(i["starting_time"]["nanoseconds_since_epoch"] + i["duration"]["nanoseconds"] for i in counted)
        merged["starting_time"] = {"nanoseconds_since_epoch": start}
        merged["duration"] = {"nanoseconds": end - start}
        merged["message_count"] = sum(i["message_count"] for i in infos)
        topics = []
        for i in infos:
            for tm in i["topics_with_message_count"]:
                same = [x for x in topics if x["topic_metadata"] == tm["topic_metadata"]]
                if same:
                    same[0]["message_count"] += tm["message_count"]
                else:
                    topics.append({"topic_metadata": tm["topic_metadata"], "message_count": tm["message_count"]})
        merged["topics_with_message_count"] = topics
        yaml = YAML(typ="safe")
        yaml.default_flow_style = False
        text = StringIO()
        yaml.dump({"rosbag2_bagfile_information": merged}, text)
        (d / "metadata.yaml").write_text(text.getvalue())
        if metadata == "missing":
            (d / merged["relative_file_paths"][-1]).unlink()

    # ----- Python mcap

    def mcap_file(self, name: str, *, chunked: bool = True, compression=CompressionType.LZ4,
                  chunk_size: int = 1024, summary: bool = True, msgs=None, json_channel: bool = False,
                  type_hashes: bool = True, long_names: bool = False, conns=None, schema_of=None) -> None:
        """The standard set written by the `mcap` library: ros2 profile,
        ros2msg schemas from the hand-written texts, cdr messages. conns
        and msgs: another set; schema_of(msgtype) -> (schema encoding,
        schema data) instead of ros2msg."""
        kw = {}
        if not summary:
            kw = dict(index_types=IndexType.NONE, repeat_channels=False, repeat_schemas=False,
                      use_statistics=False, use_summary_offsets=False)
        with (self.out / name).open("wb") as f:
            w = McapWriter(f, chunk_size=chunk_size, compression=compression, use_chunking=chunked, **kw)
            w.start(profile="ros2", library="bagpipe tests/parity/ros2_bags.py (mcap-python)")
            schemas, chans = {}, {}
            for cname, topic, msgtype, q in (conns or STANDARD_CONNS):
                if msgtype not in schemas:
                    enc, data = (schema_of(msgtype) if schema_of
                                 else ("ros2msg", ros2msg(self.ts, msgtype, long_names)))
                    schemas[msgtype] = w.register_schema(msgtype, enc, data)
                meta = {"offered_qos_profiles": ""}
                if q:
                    meta["offered_qos_profiles"] = (
                        f"- history: 1\n  depth: {q[0].depth}\n  reliability: {q[0].reliability.value}\n"
                        f"  durability: {q[0].durability.value}\n  deadline:\n    sec: 0\n    nsec: 0\n"
                        "  lifespan:\n    sec: 0\n    nsec: 0\n  liveliness: 1\n"
                        "  liveliness_lease_duration:\n    sec: 0\n    nsec: 0\n"
                        "  avoid_ros_namespace_conventions: false")
                if type_hashes:
                    meta["topic_type_hash"] = rihs01(self.ts, msgtype)
                chans[cname] = w.register_channel(topic, "cdr", schemas[msgtype], meta)
            if json_channel:
                js = w.register_schema("bp.Diagnostic", "jsonschema",
                                       b'{"type":"object","properties":{"level":{"type":"integer"}}}')
                jc = w.register_channel("/diagnostics_json", "json", js, {})
            seq = 0
            for i, (c, t, data) in enumerate(self.payloads(msgs or self.msgs)):
                if json_channel and i % 5 == 0:
                    w.add_message(jc, log_time=t, publish_time=t, sequence=seq,
                                  data=b'{"level": %d}' % i)
                    seq += 1
                w.add_message(chans[c], log_time=t, publish_time=t, sequence=0, data=data)
            w.finish()

    # ----- edits of rosbags' output with the sqlite3 module

    def db3_schema(self, src: Path, name: str, version: int) -> None:
        """A copy of a rosbags-written schema-4 db3 turned into database
        schema `version` (3, 2 or 1) as older rosbag2 releases wrote it
        (design ROS2.md 1.2): no message_definitions table and no
        topics.type_description_hash in all three; 3 keeps `schema`
        (schema_version 3, ros_distro humble) and `metadata`; 2 has neither,
        topics(id, name, type, serialization_format, offered_qos_profiles);
        1 also drops offered_qos_profiles. Vacuumed: no freed page keeps
        the dropped definitions."""
        dst = self.out / name
        shutil.copyfile(src, dst)
        con = sqlite3.connect(dst, isolation_level=None)
        try:
            con.execute("DROP TABLE message_definitions")
            con.execute("ALTER TABLE topics DROP COLUMN type_description_hash")
            if version == 3:
                con.execute("UPDATE schema SET schema_version = 3, ros_distro = 'humble'")
            else:
                con.execute("DROP TABLE schema")
                con.execute("DROP TABLE metadata")
            if version == 1:
                con.execute("ALTER TABLE topics DROP COLUMN offered_qos_profiles")
            con.execute("VACUUM")
        finally:
            con.close()

    def db3_wal(self, src: Path, name: str) -> None:
        """A copy of a db3 switched to journal_mode=WAL, checkpointed and
        closed: the file says WAL (header bytes 18/19 = 2) and no -wal or
        -shm file is left beside it."""
        dst = self.out / name
        shutil.copyfile(src, dst)
        con = sqlite3.connect(dst, isolation_level=None)
        try:
            mode = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            con.close()
        head = dst.read_bytes()[:100]
        side = [p.name for p in self.out.iterdir() if p.name.startswith(name + "-")]
        if mode != "wal" or head[18:20] != b"\x02\x02" or side:
            raise SystemExit(f"{name}: journal mode {mode}, header bytes 18/19 {head[18:20].hex()}, "
                             f"side files {side}")

    def ros1_profile_mcap(self, name: str) -> None:
        """An MCAP of profile ros1: ros1msg schemas (rosbags' ROS1 rendering of
        the definition), channel metadata md5sum/callerid, payloads from
        rosbags' serialize_ros1."""
        ts = get_typestore(Stores.ROS1_NOETIC)
        ts.register(get_types_from_msg("float64 v\nuint8 tag\n", "bp_msgs/msg/Sample1"))
        ts.register(get_types_from_msg(
            "Header header\nbyte by\nchar ch\nbool b\nint8 i8\nuint8 u8\nint16 i16\nuint16 u16\nint32 i32\n"
            "uint32 u32\nint64 i64\nuint64 u64\nfloat32 f32\nfloat64 f64\nstring s\ntime t\nduration d\n"
            "uint8[] u8s\nuint8[4] u8f\nchar[] chs\nbyte[] bys\nfloat64[] f64s\nstring[] ss\ntime[] ts\n"
            "duration[2] ds\nbp_msgs/Sample1[] samples\nstd_msgs/Empty e\nuint8 last\n",
            "bp_msgs/msg/Probe1"))
        T = ts.types["builtin_interfaces/msg/Time"]
        D = ts.types["builtin_interfaces/msg/Duration"]
        H = ts.types["std_msgs/msg/Header"]
        S = ts.types["bp_msgs/msg/Sample1"]
        P = ts.types["bp_msgs/msg/Probe1"]
        Str = ts.types["std_msgs/msg/String"]
        E = ts.types["std_msgs/msg/Empty"]

        def probe1(i):
            big = i == 1
            return P(header=H(seq=i, stamp=T(sec=1_700_000_000 + i, nanosec=i), frame_id=f"f{i}"),
                     by=-128 if big else 5, ch=255 if big else 0, b=big, i8=-1, u8=255 if big else 0,
                     i16=-32768, u16=65535, i32=-2**31, u32=2**32 - 1, i64=-2**63, u64=2**64 - 1 if big else 0,
                     f32=float("-inf"), f64=float("nan") if big else 0.5, s="ros1 ünï" if big else "",
                     # rosbags holds ROS1 time/duration as int32 sec, uint32 nsec: sec -1 is
                     # the wire's 0xFFFFFFFF (ROS1 time is unsigned), nsec 2^32 - 5e8 the
                     # wire's int32 -500000000 (ROS1 duration is signed)
                     t=T(sec=-1 if big else 0, nanosec=999_999_999 if big else 0),
                     d=D(sec=-3 if big else 0, nanosec=2**32 - 500_000_000 if big else 0),
                     u8s=np.array([0, 255] if big else [], dtype=np.uint8),
                     u8f=np.array([1, 2, 3, 255], dtype=np.uint8),
                     chs=np.array([65, 200] if big else [], dtype=np.uint8),
                     bys=np.array([-128, 127] if big else [], dtype=np.int8),
                     f64s=np.array([1.5, float("inf")] if big else [], dtype=np.float64),
                     ss=["a", ""] if big else [], ts=[T(sec=5, nanosec=6)] if big else [],
                     ds=[D(sec=-1, nanosec=0), D(sec=1, nanosec=1)],
                     samples=[S(v=2.5, tag=9)] if big else [], e=E(), last=7)

        conns = [("/chatter", "std_msgs/msg/String"), ("/probe1", "bp_msgs/msg/Probe1"),
                 ("/empty1", "std_msgs/msg/Empty")]
        msgs = [
            ("/probe1", T0 + 20 * MS, probe1(0)),
            ("/chatter", T0 + 10 * MS, Str(data="hello ros1")),
            ("/empty1", T0 + 10 * MS, E()),
            ("/probe1", T0 + 10 * MS, probe1(1)),
            ("/chatter", T0 + 10 * MS, Str(data="second, same time")),
            ("/chatter", T0 + 0 * MS, Str(data="first")),
        ]
        with (self.out / name).open("wb") as f:
            w = McapWriter(f, chunk_size=256, compression=CompressionType.ZSTD)
            w.start(profile="ros1", library="bagpipe tests/parity/ros2_bags.py (mcap-python)")
            chans = {}
            for topic, msgtype in conns:
                text, md5 = ts.generate_msgdef(msgtype, ros_version=1)
                ros1name = msgtype.replace("/msg/", "/")
                sid = w.register_schema(ros1name, "ros1msg", text.encode())
                chans[topic] = (w.register_channel(topic, "ros1", sid, {"md5sum": md5, "callerid": "/ros2_bags"}),
                                msgtype)
            for topic, t, m in msgs:
                cid, msgtype = chans[topic]
                w.add_message(cid, log_time=t, publish_time=t, sequence=0,
                              data=bytes(ts.serialize_ros1(m, msgtype)))
            w.finish()


def generate(out: Path) -> None:
    g = Gen(out)
    S, M = StoragePlugin.SQLITE3, StoragePlugin.MCAP

    # --- rosbags: the standard set in every container it writes
    g.rosbags_dir(out / "ros2_mcap_zstd", M, CompressionMode.STORAGE, g.msgs)
    g.emit("ros2_mcap_zstd/", "rosbag2 dir (metadata v9) + MCAP, zstd chunks (rosbags); the standard set")
    g.rosbags_bare("ros2_mcap_none.mcap", M, None)
    g.emit("ros2_mcap_none.mcap", "bare MCAP, uncompressed chunk (rosbags)")
    g.rosbags_dir(out / "ros2_db3", S, None, g.msgs)
    g.emit("ros2_db3/", "rosbag2 dir + sqlite3 db3 schema 4 with message_definitions (rosbags)")
    g.rosbags_bare("ros2_db3_plain.db3", S, None)
    g.emit("ros2_db3_plain.db3", "bare db3, plain blobs (rosbags)")
    g.rosbags_dir(out / "ros2_db3_msgzstd", S, CompressionMode.MESSAGE, g.msgs)
    g.emit("ros2_db3_msgzstd/", "rosbag2 dir, db3 with each blob zstd (compression_mode: message)")
    g.rosbags_bare("ros2_db3_msgzstd_bare.db3", S, CompressionMode.MESSAGE)
    g.emit("ros2_db3_msgzstd_bare.db3", "bare db3 with zstd blobs, no metadata.yaml (detect by magic)")
    g.rosbags_dir(out / "ros2_db3_filezstd", S, CompressionMode.FILE, g.msgs)
    g.emit("ros2_db3_filezstd/", "rosbag2 dir holding a whole-file .db3.zstd (compression_mode: file)")
    g.rosbags_bare("ros2_db3_filezstd_bare.db3.zstd", S, CompressionMode.FILE)
    g.emit("ros2_db3_filezstd_bare.db3.zstd", "bare whole-file zstd db3")
    g.rosbags_dir(out / "ros2_mcap_filezstd", M, CompressionMode.FILE, g.msgs)
    g.emit("ros2_mcap_filezstd/", "rosbag2 dir holding a whole-file .mcap.zstd")
    g.rosbags_bare("ros2_mcap_filezstd_bare.mcap.zstd", M, CompressionMode.FILE)
    g.emit("ros2_mcap_filezstd_bare.mcap.zstd", "bare whole-file zstd MCAP")
    g.rosbags_bare("ros2_mcap_bigendian.mcap", M, CompressionMode.STORAGE, big_endian=True)
    g.emit("ros2_mcap_bigendian.mcap", "bare MCAP (zstd chunks), every payload CDR_BE (00 00 header)")
    g.rosbags_bare("ros2_db3_bigendian.db3", S, None, big_endian=True)
    g.emit("ros2_db3_bigendian.db3", "bare db3, every payload CDR_BE")

    # --- split directories (rosbags parts, metadata merged by hand)
    g.split("ros2_split", 3, M, "merged")
    g.emit("ros2_split/", "split rosbag2 dir: 3 MCAP parts ros2_split_{0,1,2}.mcap, one metadata.yaml; "
           "channel ids differ per part; same messages as the one-file inputs")
    g.split("ros2_split_db3", 3, S, "merged")
    g.emit("ros2_split_db3/", "split rosbag2 dir: 3 db3 parts, one metadata.yaml")
    g.split("ros2_split_nometa", 11, M, "none")
    g.emit("ros2_split_nometa/", "11 MCAP parts <dir>_0..10.mcap, no metadata.yaml (read in N order, "
           "not name order; one bag, a warning)")
    g.split("ros2_split_missing", 3, M, "missing")
    g.emit("ros2_split_missing/", "metadata.yaml lists 3 parts, the last is missing (warning; the rows "
           "of parts 0 and 1 only)")

    # --- Python mcap writer
    g.mcap_file("ros2_mcap_lz4.mcap", compression=CompressionType.LZ4, chunk_size=1024)
    g.emit("ros2_mcap_lz4.mcap", "MCAP by the mcap library: lz4 chunks of ~1 KiB (many chunks, "
           "ties across chunks), hand-written ros2msg schemas, topic_type_hash metadata")
    g.mcap_file("ros2_mcap_unchunked.mcap", chunked=False, msgs=g.sorted_msgs())
    g.emit("ros2_mcap_unchunked.mcap", "MCAP without chunks (use_chunking=False), summary kept; "
           "messages in time order")
    g.mcap_file("ros2_mcap_nosummary.mcap", compression=CompressionType.ZSTD, chunk_size=2048,
                summary=False, msgs=g.sorted_msgs(), type_hashes=False, long_names=True)
    g.emit("ros2_mcap_nosummary.mcap", "MCAP with zstd chunks but no summary, no chunk or message "
           "index, no statistics (footer summary_start 0): a linear scan; definitions spelled "
           "with field types pkg/msg/Type and sections MSG: pkg/Type")
    g.mcap_file("ros2_mcap_mixed_json.mcap", compression=CompressionType.ZSTD, chunk_size=4096,
                json_channel=True)
    g.emit("ros2_mcap_mixed_json.mcap", "ros2 profile MCAP with a non-ROS channel /diagnostics_json "
           "(schema jsonschema, message json): counted, not decoded; the ROS 2 channels as usual")
    g.ros1_profile_mcap("ros1_profile.mcap")
    g.emit("ros1_profile.mcap", "MCAP profile ros1 (ros1msg schemas, ros1 messages, md5sum metadata, "
           "rosbags serialize_ros1 payloads): decoded as ROS1, catalogued with md5sum")


    # --- db3 schema versions 3, 2, 1 (edits of a rosbags schema-4 file) and WAL
    legacy = legacy_messages(g.ts, g.msgs)
    v4 = g.rosbags_bare("ros2_db3_schema4.db3", S, None, msgs=legacy, conns=LEGACY_CONNS)
    g.emit("ros2_db3_schema4.db3", "bare db3 schema 4 (rosbags) of the legacy set: the standard set "
           "without /align, plus /imu (sensor_msgs/msg/Imu); every definition embedded")
    for version, what in ((3, "schema table (schema_version 3, ros_distro humble) and metadata table kept"),
                          (2, "no schema or metadata table; topics with offered_qos_profiles"),
                          (1, "topics(id, name, type, serialization_format) only")):
        name = f"ros2_db3_schema{version}.db3"
        g.db3_schema(v4, name, version)
        g.emit(name, f"db3 schema {version} (ros2_db3_schema4.db3 edited with sqlite3: no "
               f"message_definitions, no type_description_hash; {what}): standard types from the "
               "built-in (Humble) set, same rows as schema 4; /probe (bp_msgs/msg/Probe, defined "
               "nowhere) counted, not decoded")
    g.db3_wal(out / "ros2_db3_plain.db3", "ros2_db3_wal.db3")
    g.emit("ros2_db3_wal.db3", "ros2_db3_plain.db3 in WAL mode (journal_mode=WAL, checkpointed, closed: "
           "header bytes 18/19 = 2, no -wal/-shm): must be read without writing anything beside it "
           "(read-only directory); the standard set")

    # --- ros2idl definitions, and the same messages with ros2msg ones
    idl = idl_messages(g.ts, g.msgs)
    g.mcap_file("ros2_idl.mcap", compression=CompressionType.ZSTD, chunk_size=2048, msgs=idl,
                conns=IDL_CONNS, schema_of=lambda t: ("ros2idl", ros2idl(g.ts, t)))
    g.emit("ros2_idl.mcap", "MCAP (mcap library) with ros2idl schemas (rosidl_adapter IDL: #include, "
           "typedef'd fixed arrays, sequence<T, N>, string<N>, @default, @verbatim, octet, uint8 for "
           "char, <Type>_Constants, an empty struct's placeholder member, @unit): /obstacle "
           "(bp_idl_msgs/msg/Obstacle, nested bp_geom_msgs/msg/Vertex), /pose, and /keyed "
           "(a hand-written IDL with @key members and block comments)")
    g.mcap_file("ros2_idl_as_msg.mcap", compression=CompressionType.ZSTD, chunk_size=2048, msgs=idl,
                conns=IDL_CONNS)
    g.emit("ros2_idl_as_msg.mcap", "the same messages as ros2_idl.mcap with ros2msg schemas: same rows, "
           "same type hashes")
    idl_defs = {t: (ros2idl(g.ts, t).decode(), rihs01(g.ts, t)) for _, _, t, _ in IDL_CONNS}
    g.rosbags_bare("ros2_idl_db3.db3", S, None, msgs=idl, conns=IDL_CONNS, defs=idl_defs)
    g.emit("ros2_idl_db3.db3", "the same messages in a db3 (rosbags) whose message_definitions hold "
           "the ros2idl texts (encoding ros2idl)")

    # --- service events
    srv = service_messages(g.ts)
    srv_defs = {f"{x}_Event": (srv_definition(g.ts, x).decode(), rihs01(g.ts, f"{x}_Event")) for x in SERVICES}
    g.mcap_file("ros2_srv_events_mcap.mcap", compression=CompressionType.ZSTD, chunk_size=2048, msgs=srv,
                conns=SRV_CONNS,
                schema_of=lambda t: ("ros2msg", srv_defs[t][0].encode() if t in srv_defs else ros2msg(g.ts, t)))
    g.emit("ros2_srv_events_mcap.mcap", "MCAP with service-event topics /lookup/_service_event and "
           "/ping/_service_event (types pkg/srv/X_Event, schema ros2msg in rosbag2's newer shape: "
           "`SRV: pkg/srv/X`, the .srv text, MSG: sections; payloads of the event type "
           "{ServiceEventInfo info, X_Request[<=1] request, X_Response[<=1] response}) and /chatter")
    g.rosbags_bare("ros2_srv_events_db3.db3", S, None, msgs=srv, conns=SRV_CONNS, defs=srv_defs)
    g.emit("ros2_srv_events_db3.db3", "the same service events in a db3 (rosbags; message_definitions "
           "hold the SRV texts)")

    shutil.rmtree(g.tmp)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0].startswith("-"):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    out = Path(argv[0])
    if out.exists() and any(out.iterdir()):
        print(f"{out}: not empty (the generator writes into an empty directory)", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    generate(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
