//! Reading and writing the few Avro primitives a RawMarketEvent is made of, exactly as
//! fastavro reads them; anything fastavro might read differently is refused (`None`), and the
//! caller then leaves the record to the Python reference.

/// A cursor over an Avro binary body.
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    pub fn at_end(&self) -> bool {
        self.pos == self.data.len()
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let bytes = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(bytes)
    }

    /// A zig-zag varint long. At most 10 bytes, and no bits beyond 64: past that fastavro's
    /// reading depends on its build, so such a record goes to the reference.
    pub fn long(&mut self) -> Option<i64> {
        let mut n: u64 = 0;
        let mut shift = 0u32;
        loop {
            let b = *self.data.get(self.pos)?;
            self.pos += 1;
            if shift == 63 && b > 1 {
                return None;
            }
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 63 {
                return None;
            }
        }
        Some(((n >> 1) as i64) ^ -((n & 1) as i64))
    }

    pub fn double(&mut self) -> Option<f64> {
        let end = self.pos.checked_add(8)?;
        let bytes: [u8; 8] = self.data.get(self.pos..end)?.try_into().ok()?;
        self.pos = end;
        Some(f64::from_le_bytes(bytes))
    }

    /// Past `n` bytes the caller does not need: fastavro reads any 8 bytes as a double, so a
    /// skipped double only has to be there.
    pub fn skip(&mut self, n: usize) -> Option<()> {
        let end = self.pos.checked_add(n)?;
        if end > self.data.len() {
            return None;
        }
        self.pos = end;
        Some(())
    }

    /// A string: its length, then strict UTF-8 (what Python's strict decode accepts).
    pub fn string(&mut self) -> Option<&'a str> {
        let len = usize::try_from(self.long()?).ok()?;
        let end = self.pos.checked_add(len)?;
        let bytes = self.data.get(self.pos..end)?;
        self.pos = end;
        std::str::from_utf8(bytes).ok()
    }

    /// An enum's or a union's branch, within `0..count` (fastavro would index a Python list,
    /// where a negative index wraps: refused).
    pub fn index(&mut self, count: i64) -> Option<usize> {
        let i = self.long()?;
        if (0..count).contains(&i) {
            usize::try_from(i).ok()
        } else {
            None
        }
    }
}

pub fn write_long(out: &mut Vec<u8>, value: i64) {
    let mut n = ((value << 1) ^ (value >> 63)) as u64;
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

pub fn write_string(out: &mut Vec<u8>, value: &str) {
    write_long(out, value.len() as i64);
    out.extend_from_slice(value.as_bytes());
}

/// Bytes of `value` as a minimal zig-zag varint (what every Avro writer we know writes).
pub fn long_length(value: i64) -> usize {
    let n = ((value << 1) ^ (value >> 63)) as u64;
    let bits = 64 - n.leading_zeros() as usize;
    std::cmp::max(1, (bits + 6) / 7)
}

/// Bytes of `value` as an Avro string written minimally: its length, then its UTF-8.
pub fn string_length(value: &str) -> usize {
    long_length(value.len() as i64) + value.len()
}
