//! ROS1 bag v2.0: [`records`] parses records from bytes, [`bag`] finds the
//! chunks and connections (from the index, or by a recovery scan) and
//! reads one chunk. This module adapts both to the shared container types.

pub mod bag;
pub mod records;

use std::collections::BTreeMap;

use rustc_hash::FxHashSet;

use super::{
    Connection, ENCODING_ROS1, Format, MessageRef, Opened, SCHEMA_ROS1MSG, Storage, Unit,
    UnitContents, UnitKind,
};
use crate::error::Result;
use crate::source::ReadAt;

/// The shared form of a ROS1 connection record.
pub fn connection(c: &records::Connection) -> Connection {
    Connection {
        id: c.id,
        topic: c.topic.clone(),
        datatype: c.datatype.clone(),
        encoding: ENCODING_ROS1.to_string(),
        schema_encoding: SCHEMA_ROS1MSG.to_string(),
        definition: c.message_definition.clone(),
        md5sum: Some(c.md5sum.clone()),
        type_hash: None,
        callerid: c.callerid.clone(),
        latching: c.latching,
        qos: None,
        metadata: BTreeMap::new(),
        file: 0,
    }
}

/// A unit for one ROS1 chunk.
pub fn unit(chunk: &bag::ChunkInfo) -> Unit {
    Unit {
        file: 0,
        offset: chunk.offset,
        read_len: chunk.compressed_len,
        // A chunk from a trusted index has not told its size yet: its
        // stored bytes stand in (what batching by size needs).
        size: if chunk.head_unread {
            chunk.compressed_len
        } else {
            chunk.uncompressed_len
        },
        compression: chunk.compression,
        start_time_ns: chunk.start_time_ns,
        end_time_ns: chunk.end_time_ns,
        connections: chunk
            .connections
            .as_ref()
            .map(|ids| ids.iter().map(|&c| i64::from(c)).collect()),
        kind: UnitKind::Ros1(chunk.clone()),
    }
}

/// Reads a ROS1 bag's layout (trusting its index's chunk infos when
/// `trust_index`, see [`bag::read_layout_with`]).
pub(super) fn open(src: Box<dyn ReadAt>, trust_index: bool) -> Result<Opened> {
    let layout = bag::read_layout_with(src.as_ref(), trust_index)?;
    Ok(Opened {
        format: Format::Ros1,
        connections: layout.connections.iter().map(connection).collect(),
        local_ids: layout.connections.iter().map(|c| i64::from(c.id)).collect(),
        connection_offsets: layout
            .connection_offsets
            .iter()
            .map(|(&id, &o)| (i64::from(id), o))
            .collect(),
        units: layout.chunks.iter().map(unit).collect(),
        message_counts: layout
            .message_counts
            .iter()
            .map(|(&id, &n)| (i64::from(id), n))
            .collect(),
        mode: layout.mode,
        warnings: layout.warnings,
        ros_distro: None,
        profile: None,
        library: None,
        storage: Storage::Ros1 { src },
    })
}

/// Reads one chunk's messages. A message whose connection neither the
/// layout nor the chunk defines is counted as unknown.
pub(super) fn read_unit(
    src: &dyn ReadAt,
    chunk: &bag::ChunkInfo,
    known: &FxHashSet<u32>,
) -> Result<UnitContents> {
    let contents = bag::read_chunk(src, chunk)?;
    let in_chunk: FxHashSet<u32> = contents.connections.iter().map(|c| c.id).collect();
    let mut out = UnitContents::default();
    for m in contents.messages {
        if !known.contains(&m.conn) && !in_chunk.contains(&m.conn) {
            *out.unknown.entry(m.conn).or_default() += 1;
            continue;
        }
        out.messages.push(MessageRef {
            conn: m.conn,
            time_ns: m.time_ns,
            range: m.range,
        });
    }
    out.data = contents.data;
    Ok(out)
}
