//! The scheduler's projection of a market.buffer record: the fields its core reads, without
//! building the trade, quote and bar members or the snapshot window. `Some` only when
//! Serde.decode would give exactly these values; anything it would refuse or might read
//! otherwise is `None`, and the scheduler decodes that record in full. No validation rules:
//! ingest checked these events before writing them, and the projection answers for the decode.

use crate::avro::{long_length, string_length, Reader};
use crate::event::KINDS;

const SIDES: i64 = 3; // Trade.side's symbols
const QUOTE_BYTES: usize = 4 * 8; // bid_price, bid_size, ask_price, ask_size

/// What the scheduler reads of a RawInputBufferRecord.
pub struct Projected<'a> {
    pub event_id: &'a str,
    pub symbol: &'a str,
    pub event_ts_ms: i64,
    pub kind: usize,
    pub as_of_ts_ms: Option<i64>, // snapshot_inputs, when set
    pub source_topic: &'a str,
    pub source_partition: i32,
    pub source_offset: i64,
    pub ingest_ts_ms: i64,
    pub correlation_id: &'a str,
    /// The RawMarketEvent's bytes (the start of the body), which the v2 input hash chains.
    pub event: &'a [u8],
    /// Whether the fields after the event take the bytes a minimal encoding of their values
    /// takes: where they do, workers.contracts.input_hash slices the event (else it encodes it).
    pub canonical_tail: bool,
}

/// `body`: the record after its single-object header. Every field is read as fastavro reads
/// it, the skipped ones too (their strings, enums and varints can make the decode fail).
pub fn project(body: &[u8]) -> Option<Projected<'_>> {
    let mut r = Reader::new(body);
    let event_id = r.string()?;
    let symbol = r.string()?;
    let event_ts_ms = r.long()?;
    let kind = r.index(KINDS.len() as i64)?;
    // The four member unions in schema order, whichever are set (the decode does not mind).
    if present(&mut r)? {
        r.skip(2 * 8)?; // price, size
        r.index(SIDES)?;
    }
    if present(&mut r)? {
        r.skip(QUOTE_BYTES)?;
    }
    if present(&mut r)? {
        skip_bar(&mut r)?;
    }
    let as_of_ts_ms = if present(&mut r)? {
        let as_of = r.long()?;
        skip_window(&mut r)?;
        Some(as_of)
    } else {
        None
    };
    r.string()?; // source
    let event_len = r.position();
    let source_topic = r.string()?;
    // An Avro int, which fastavro reads as a long: Serde.decode refuses one beyond 32 bits.
    let source_partition = i32::try_from(r.long()?).ok()?;
    let source_offset = r.long()?;
    let ingest_ts_ms = r.long()?;
    let correlation_id = r.string()?;
    if !r.at_end() {
        return None; // Serde.decode refuses bytes after the record
    }
    let tail = string_length(source_topic)
        + long_length(i64::from(source_partition))
        + long_length(source_offset)
        + long_length(ingest_ts_ms)
        + string_length(correlation_id);
    Some(Projected {
        event_id,
        symbol,
        event_ts_ms,
        kind,
        as_of_ts_ms,
        source_topic,
        source_partition,
        source_offset,
        ingest_ts_ms,
        correlation_id,
        event: &body[..event_len],
        canonical_tail: body.len() - event_len == tail,
    })
}

/// A ["null", record] union's branch: whether the record follows.
fn present(r: &mut Reader<'_>) -> Option<bool> {
    Some(r.index(2)? == 1)
}

/// The window's blocks as fastavro reads them: a negative count is followed by the block's
/// byte size, which it reads and does not use, so neither do we.
fn skip_window(r: &mut Reader<'_>) -> Option<()> {
    loop {
        let count = r.long()?;
        if count == 0 {
            return Some(());
        }
        if count < 0 {
            r.long()?;
        }
        // Each bar takes at least 41 bytes: a huge count runs out of body, not of time.
        for _ in 0..count.unsigned_abs() {
            skip_bar(r)?;
        }
    }
}

/// open, high, low, close, volume, then interval_ms.
fn skip_bar(r: &mut Reader<'_>) -> Option<()> {
    r.skip(5 * 8)?;
    r.long().map(|_| ())
}
