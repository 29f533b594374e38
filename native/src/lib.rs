//! regime_fleet_native: two compiled paths, each beside a Python reference it must agree with.
//!
//! Ingest's batch path: `Wrapper.wrap` takes consumed messages (anything with confluent-kafka
//! Message's methods) and returns, for the longest run it can take, what ingest writes to
//! market.buffer, ready for the producer: the RawInputBufferRecord spliced around the raw
//! event's bytes (byte for byte what workers.ingest's Python path writes), its key and
//! headers. It stops at the first message it cannot vouch for; the runtime gives that one to
//! the Python reference.
//!
//! The scheduler's projection: `BufferProjector.project` reads a market.buffer value for the
//! few fields the scheduler reads, exactly as Serde.decode would give them, or None where it
//! cannot vouch for that; the scheduler then decodes that record in full.
//!
//! Serde's codec: `Codec` writes and reads one schema's Avro body as fastavro does, or says
//! None where it cannot vouch for that; Serde then runs fastavro (codec.rs).

mod avro;
mod codec;
mod event;
mod project;

use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};
use sha2::{Digest, Sha256};

use event::{accept, Bounds, KINDS};

const BUFFER_SCHEMA: &str = "RawInputBufferRecord";
const CORRELATION: &str = "correlation_id";
const PREFIX: usize = 10; // C3 01 + the 8-byte fingerprint

/// The Some value, or return Ok(None): leave this record to the Python reference. (A macro,
/// not let-else: Debian bookworm's rustc, which the image builds with, is 1.63.)
macro_rules! or_reference {
    ($option:expr) => {
        match $option {
            Some(value) => value,
            None => return Ok(None),
        }
    };
}

#[pyclass(frozen)]
struct Wrapper {
    output_topic: Py<PyString>,
    kind_values: Vec<Py<PyBytes>>, // the event_type header's value per kind, made once
    schema_value: Py<PyBytes>,
    raw_prefix: Vec<u8>,
    buffer_prefix: Vec<u8>,
    bounds: Bounds,
    max_future_ms: i64,
}

#[pymethods]
impl Wrapper {
    /// raw_prefix / buffer_prefix: the single-object headers (C3 01 + fingerprint) of the
    /// current RawMarketEvent and RawInputBufferRecord schemas.
    #[new]
    #[pyo3(signature = (output_topic, raw_prefix, buffer_prefix, min_ts_ms, max_ts_ms, max_future_ms))]
    fn new(
        output_topic: Bound<'_, PyString>,
        raw_prefix: &[u8],
        buffer_prefix: &[u8],
        min_ts_ms: i64,
        max_ts_ms: i64,
        max_future_ms: i64,
        py: Python<'_>,
    ) -> PyResult<Self> {
        if raw_prefix.len() != PREFIX || buffer_prefix.len() != PREFIX {
            return Err(PyValueError::new_err(
                "prefixes are C3 01 and an 8-byte fingerprint",
            ));
        }
        Ok(Wrapper {
            output_topic: output_topic.unbind(),
            kind_values: KINDS
                .iter()
                .map(|k| PyBytes::new(py, k.as_bytes()).unbind())
                .collect(),
            schema_value: PyBytes::new(py, BUFFER_SCHEMA.as_bytes()).unbind(),
            raw_prefix: raw_prefix.to_vec(),
            buffer_prefix: buffer_prefix.to_vec(),
            bounds: Bounds {
                min_ts_ms,
                max_ts_ms,
            },
            max_future_ms,
        })
    }

    /// messages[start:] while each is a record of one topic that the reference would accept:
    /// a list of (event_id, (output_topic, key, value, headers, partition)), where value is
    /// the encoded RawInputBufferRecord (source_topic, ingest_ts_ms = now_ms) and the output
    /// is at most max_bytes as Checkpoint.emit counts it.
    fn wrap<'py>(
        &self,
        py: Python<'py>,
        messages: &Bound<'py, PyList>,
        start: usize,
        source_topic: &str,
        now_ms: i64,
        max_bytes: usize,
    ) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        let mut topic: Option<Bound<'py, PyAny>> = None;
        for msg in messages.iter().skip(start) {
            if !msg.call_method0(intern!(py, "error"))?.is_none() {
                break;
            }
            let this_topic = msg.call_method0(intern!(py, "topic"))?;
            match &topic {
                None => topic = Some(this_topic),
                Some(t) if !t.eq(&this_topic)? => break,
                _ => {}
            }
            match self.one(py, &msg, source_topic, now_ms, max_bytes)? {
                Some(item) => out.append(item)?,
                None => break,
            }
        }
        Ok(out)
    }
}

impl Wrapper {
    fn one<'py>(
        &self,
        py: Python<'py>,
        msg: &Bound<'py, PyAny>,
        source_topic: &str,
        now_ms: i64,
        max_bytes: usize,
    ) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let value = msg.call_method0(intern!(py, "value"))?;
        let value = or_reference!(value.downcast::<PyBytes>().ok());
        let raw = value.as_bytes();
        if raw.len() < PREFIX || raw[..PREFIX] != self.raw_prefix[..] {
            return Ok(None);
        }
        let body = &raw[PREFIX..];
        let event = or_reference!(accept(body, self.bounds));
        // check_trust: keyed by the symbol, and not too far ahead of the record's timestamp.
        let key = msg.call_method0(intern!(py, "key"))?;
        let key = or_reference!(key.downcast::<PyBytes>().ok());
        if key.as_bytes() != event.symbol.as_bytes() {
            return Ok(None);
        }
        let stamped: i64 = msg
            .call_method0(intern!(py, "timestamp"))?
            .get_item(1)?
            .extract()?;
        let future =
            i128::from(event.event_ts_ms) > i128::from(stamped) + i128::from(self.max_future_ms);
        if self.max_future_ms != 0 && stamped > 0 && future {
            return Ok(None);
        }
        let corr = or_reference!(correlation(py, msg, event.event_id)?);
        let partition: i64 = msg.call_method0(intern!(py, "partition"))?.extract()?;
        let offset: i64 = msg.call_method0(intern!(py, "offset"))?.extract()?;
        let kind = KINDS[event.kind];

        let mut wrapped = Vec::with_capacity(raw.len() + source_topic.len() + corr.len() + 32);
        wrapped.extend_from_slice(&self.buffer_prefix);
        wrapped.extend_from_slice(body);
        avro::write_string(&mut wrapped, source_topic);
        avro::write_long(&mut wrapped, partition);
        avro::write_long(&mut wrapped, offset);
        avro::write_long(&mut wrapped, now_ms);
        avro::write_string(&mut wrapped, &corr);
        // What Checkpoint.emit counts: value bytes, key characters, header names and values.
        let headers = "event_type".len() + kind.len() + "schema".len() + BUFFER_SCHEMA.len();
        let size =
            wrapped.len() + event.symbol.chars().count() + headers + CORRELATION.len() + corr.len();
        if size > max_bytes {
            return Ok(None);
        }
        let headers = PyList::new(
            py,
            [
                (
                    intern!(py, "event_type"),
                    self.kind_values[event.kind].bind(py).clone(),
                ),
                (intern!(py, "schema"), self.schema_value.bind(py).clone()),
                (intern!(py, CORRELATION), PyBytes::new(py, corr.as_bytes())),
            ],
        )?;
        let output = (
            self.output_topic.bind(py),
            key,
            PyBytes::new(py, &wrapped),
            headers,
            partition,
        );
        Ok(Some(
            (PyString::new(py, event.event_id), output).into_pyobject(py)?,
        ))
    }
}

/// The last correlation_id header when it is set (strict UTF-8; anything else goes to the
/// reference, which decodes with replacement), else the id derived from the event_id as
/// workers.contracts.identity.correlation_id derives it. None: leave it to the reference.
fn correlation(py: Python<'_>, msg: &Bound<'_, PyAny>, event_id: &str) -> PyResult<Option<String>> {
    let headers = msg.call_method0(intern!(py, "headers"))?;
    let mut given: &[u8] = b"";
    let mut holder = None;
    if !headers.is_none() {
        for pair in headers.try_iter()? {
            let pair = pair?;
            let name = pair.get_item(0)?;
            let name = or_reference!(name.downcast::<PyString>().ok());
            if name.to_str()? != CORRELATION {
                continue;
            }
            holder = Some(pair.get_item(1)?);
        }
    }
    if let Some(v) = &holder {
        if !v.is_none() {
            let bytes = or_reference!(v.downcast::<PyBytes>().ok());
            given = bytes.as_bytes();
        }
    }
    if !given.is_empty() {
        return Ok(std::str::from_utf8(given).ok().map(str::to_owned));
    }
    let mut hasher = Sha256::new();
    hasher.update(b"correlation:");
    hasher.update(event_id.as_bytes());
    Ok(Some(format!("evt-{}", hex(&hasher.finalize()[..12]))))
}

#[pyclass(frozen)]
struct BufferProjector {
    buffer_prefix: Vec<u8>,
    kinds: Vec<Py<PyString>>, // the kind enum's symbols, made once
}

#[pymethods]
impl BufferProjector {
    /// buffer_prefix: the single-object header (C3 01 + fingerprint) of the current
    /// RawInputBufferRecord schema; a record of any other schema or framing is left to the
    /// full decode.
    #[new]
    fn new(buffer_prefix: &[u8], py: Python<'_>) -> PyResult<Self> {
        if buffer_prefix.len() != PREFIX {
            return Err(PyValueError::new_err(
                "the prefix is C3 01 and an 8-byte fingerprint",
            ));
        }
        Ok(BufferProjector {
            buffer_prefix: buffer_prefix.to_vec(),
            kinds: KINDS
                .iter()
                .map(|k| PyString::new(py, k).unbind())
                .collect(),
        })
    }

    /// The decoded record's event_id, symbol, event_ts_ms, kind and snapshot_inputs'
    /// as_of_ts_ms (as {"event": {...}}) and its source_topic, source_partition,
    /// source_offset, ingest_ts_ms and correlation_id; None: decode this one in full.
    fn project<'py>(
        &self,
        py: Python<'py>,
        value: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let value = or_reference!(value.downcast::<PyBytes>().ok());
        let data = value.as_bytes();
        if data.len() < PREFIX || data[..PREFIX] != self.buffer_prefix[..] {
            return Ok(None);
        }
        let p = or_reference!(project::project(&data[PREFIX..]));
        let event = PyDict::new(py);
        event.set_item(intern!(py, "event_id"), p.event_id)?;
        event.set_item(intern!(py, "symbol"), p.symbol)?;
        event.set_item(intern!(py, "event_ts_ms"), p.event_ts_ms)?;
        event.set_item(intern!(py, "kind"), self.kinds[p.kind].bind(py))?;
        let snapshot = match p.as_of_ts_ms {
            Some(as_of) => {
                let inputs = PyDict::new(py);
                inputs.set_item(intern!(py, "as_of_ts_ms"), as_of)?;
                inputs.into_any()
            }
            None => py.None().into_bound(py),
        };
        event.set_item(intern!(py, "snapshot_inputs"), snapshot)?;
        let record = PyDict::new(py);
        record.set_item(intern!(py, "event"), event)?;
        record.set_item(intern!(py, "source_topic"), p.source_topic)?;
        record.set_item(intern!(py, "source_partition"), p.source_partition)?;
        record.set_item(intern!(py, "source_offset"), p.source_offset)?;
        record.set_item(intern!(py, "ingest_ts_ms"), p.ingest_ts_ms)?;
        record.set_item(intern!(py, CORRELATION), p.correlation_id)?;
        Ok(Some(record))
    }

    /// The v2 input hash chained one record on (workers/contracts/input_hash.py `fold`):
    /// sha256 of `previous` then the event's Avro bytes as stored, lowercase hex; None where
    /// the Python fold would not slice them (anything `project` refuses, or a tail that is not
    /// minimally encoded), which then folds that record itself.
    fn digest_v2(&self, previous: &str, value: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
        let value = or_reference!(value.downcast::<PyBytes>().ok());
        let data = value.as_bytes();
        if data.len() < PREFIX || data[..PREFIX] != self.buffer_prefix[..] {
            return Ok(None);
        }
        let p = or_reference!(project::project(&data[PREFIX..]));
        if !p.canonical_tail {
            return Ok(None);
        }
        let mut hasher = Sha256::new();
        hasher.update(previous.as_bytes());
        hasher.update(p.event);
        Ok(Some(hex(&hasher.finalize())))
    }
}

fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

#[pyclass(frozen)]
struct Codec {
    root: codec::Node,
}

#[pymethods]
impl Codec {
    /// `schema`: the JSON schema as Python objects (logical types removed); ValueError for
    /// what this codec does not support (Serde then keeps to fastavro for the schema).
    #[new]
    fn new(py: Python<'_>, schema: &Bound<'_, PyAny>) -> PyResult<Self> {
        let mut names = std::collections::HashMap::new();
        Ok(Codec {
            root: codec::build(py, schema, &mut names, "")?,
        })
    }

    /// The Avro body of `value`, or None: leave it to fastavro.
    fn encode<'py>(
        &self,
        py: Python<'py>,
        value: &Bound<'py, PyAny>,
    ) -> Option<Bound<'py, PyBytes>> {
        let mut out = Vec::with_capacity(256);
        codec::write(&self.root, value, &mut out)?;
        Some(PyBytes::new(py, &out))
    }

    /// The value a whole Avro body holds, or None: leave it to fastavro (which also says
    /// what is wrong with a body that is not a record of this schema).
    fn decode<'py>(&self, py: Python<'py>, body: &[u8]) -> Option<Bound<'py, PyAny>> {
        let mut reader = avro::Reader::new(body);
        let value = codec::read(py, &self.root, &mut reader)?;
        if reader.at_end() {
            Some(value)
        } else {
            None
        }
    }
}

#[pymodule]
fn regime_fleet_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Codec>()?;
    m.add_class::<Wrapper>()?;
    m.add_class::<BufferProjector>()?;
    Ok(())
}
