//! A RawMarketEvent body read and checked in one pass: `Some` only when the Python reference
//! (fastavro decode, then workers.contracts.validation.check_raw_event) would accept it too.
//! Every doubt, broken rule or unusual encoding is `None`: the reference then decides, and
//! writes the dead letter with its own code and message.

use crate::avro::Reader;

pub const KINDS: [&str; 4] = ["TRADE", "QUOTE", "BAR", "SNAPSHOT_INPUTS"];
const SIDES: i64 = 3;

/// The bounds of check_raw_event.
#[derive(Clone, Copy)]
pub struct Bounds {
    pub min_ts_ms: i64,
    pub max_ts_ms: i64,
}

/// What the wrapping needs of an accepted event.
pub struct Accepted<'a> {
    pub event_id: &'a str,
    pub symbol: &'a str,
    pub event_ts_ms: i64,
    pub kind: usize,
}

pub fn accept<'a>(body: &'a [u8], bounds: Bounds) -> Option<Accepted<'a>> {
    let mut r = Reader::new(body);
    let event_id = r.string()?;
    let symbol = r.string()?;
    let ts = r.long()?;
    let kind = r.index(KINDS.len() as i64)?;
    // Exactly the member named by kind is set (the four unions, in schema order).
    for member in 0..KINDS.len() {
        let present = r.index(2)? == 1;
        if present != (member == kind) {
            return None;
        }
        if present {
            member_ok(&mut r, kind, ts)?;
        }
    }
    r.string()?; // source
    if !r.at_end() || !has_text(symbol) || !has_text(event_id) {
        return None;
    }
    if !(bounds.min_ts_ms <= ts && ts <= bounds.max_ts_ms) {
        return None;
    }
    Some(Accepted { event_id, symbol, event_ts_ms: ts, kind })
}

fn member_ok(r: &mut Reader<'_>, kind: usize, ts: i64) -> Option<()> {
    match kind {
        0 => {
            let price = r.double()?;
            let size = r.double()?;
            r.index(SIDES)?;
            (positive(price) && non_negative(size)).then_some(())
        }
        1 => {
            let (bid, bid_size, ask, ask_size) = (r.double()?, r.double()?, r.double()?, r.double()?);
            let ok = positive(bid) && positive(ask) && non_negative(bid_size) && non_negative(ask_size);
            (ok && bid <= ask).then_some(())
        }
        2 => bar_ok(r),
        _ => {
            let as_of = r.long()?;
            let mut bars = 0usize;
            loop {
                let count = r.long()?;
                if count == 0 {
                    break;
                }
                if count < 0 {
                    r.long()?; // a block's byte size, as fastavro reads it
                }
                for _ in 0..count.unsigned_abs() {
                    bar_ok(r)?;
                    bars += 1;
                }
            }
            (bars > 0 && as_of <= ts).then_some(())
        }
    }
}

/// check_bar: positive prices, a non-negative volume, low <= open, close <= high, a positive
/// interval.
fn bar_ok(r: &mut Reader<'_>) -> Option<()> {
    let (open, high, low, close, volume) = (r.double()?, r.double()?, r.double()?, r.double()?, r.double()?);
    let interval = r.long()?;
    let prices = positive(open) && positive(high) && positive(low) && positive(close);
    let range = low <= open.min(close) && open.max(close) <= high;
    (prices && non_negative(volume) && range && interval > 0).then_some(())
}

fn positive(x: f64) -> bool {
    0.0 < x && x < f64::INFINITY
}

fn non_negative(x: f64) -> bool {
    0.0 <= x && x < f64::INFINITY
}

/// Whether `s.strip()` in Python is surely non-empty: it holds a character that is no Python
/// whitespace (printable ASCII other than space, or a letter or digit). Anything else is left
/// to the reference, whose notion of whitespace is the one that counts.
fn has_text(s: &str) -> bool {
    s.chars().any(|c| matches!(c, '!'..='~') || (!c.is_ascii() && c.is_alphanumeric()))
}
