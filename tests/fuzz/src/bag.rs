//! Target `bag`: the file-level reader (`extractor::bag`) over any bytes.
//!
//! Input: a whole file.
//!
//! Properties: reading the layout either fails because the input is not a
//! v2.0 bag, or gives chunks in file order that start inside the file,
//! connections unique by id each with a message count and an offset inside
//! the file where it is defined, and warnings that name offsets inside the
//! file. Each chunk then reads to exactly the size its header claims, with
//! every message inside it, or fails with an error naming that chunk's
//! offset.

use std::collections::HashSet;

use extractor::container::ros1::bag;

pub fn check(input: &[u8]) {
    let len = input.len() as u64;
    let layout = match bag::read_layout(&input) {
        Ok(layout) => layout,
        Err(e) => {
            let message = e.to_string();
            assert!(
                message.contains("not a ROS bag") || message.contains("unsupported bag version"),
                "a layout error other than not-a-bag: {message}"
            );
            return;
        }
    };
    assert_eq!(layout.file_len, len);
    let mut ids = HashSet::new();
    for conn in &layout.connections {
        assert!(ids.insert(conn.id), "connection {} listed twice", conn.id);
        assert!(layout.message_counts.contains_key(&conn.id));
        let at = layout.connection_offsets.get(&conn.id);
        assert!(
            at.is_some_and(|&at| at < len),
            "connection {} defined at {at:?} of a {len}-byte file",
            conn.id
        );
    }
    assert_eq!(layout.connection_offsets.len(), layout.connections.len());
    for w in &layout.warnings {
        if let Some(offset) = w.offset {
            assert!(
                offset < len.max(1),
                "warning at {offset} of a {len}-byte file"
            );
        }
    }
    let mut previous = None;
    for chunk in &layout.chunks {
        assert!(
            chunk.offset < len,
            "chunk at {} of a {len}-byte file",
            chunk.offset
        );
        assert!(previous < Some(chunk.offset), "chunks out of file order");
        previous = Some(chunk.offset);
        match bag::read_chunk(&input, chunk) {
            Ok(contents) => {
                assert_eq!(contents.data.len() as u64, chunk.uncompressed_len);
                for m in &contents.messages {
                    assert!(m.range.start <= m.range.end && m.range.end <= contents.data.len());
                    assert_eq!(m.offset, chunk.offset);
                }
            }
            Err(e) => {
                let message = e.to_string();
                assert!(
                    message.contains(&format!("offset {}", chunk.offset)),
                    "a chunk error that does not name the chunk at {}: {message}",
                    chunk.offset
                );
            }
        }
    }
}
