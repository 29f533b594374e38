//! A schema's Avro binary body, written from and read into Python values exactly as fastavro
//! writes and reads them (workers/contracts/serde.py is the reference). Whatever fastavro
//! might treat differently is refused (`None`): a value of another Python type than the one
//! the schema names (fastavro converts some), a union it would have to choose among several
//! branches for, a missing field (fastavro fills defaults), a block count it reads in the
//! sized form; Serde then runs fastavro for that record, which also raises its errors.

use std::collections::HashMap;
use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString};

use crate::avro::{write_long, write_string, Reader};

#[derive(Clone)] // cheap: named types share their definition through Arc
pub enum Node {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    Str,
    Fixed(usize),
    Record(Arc<Vec<Field>>),
    Enum(Arc<Symbols>),
    Array(Box<Node>),
    Map(Box<Node>),
    Union(Vec<Node>),
}

pub struct Field {
    name: Py<PyString>,
    node: Node,
}

pub struct Symbols {
    names: Vec<Py<PyString>>,
    index: HashMap<String, usize>,
}

fn unsupported(what: &str) -> PyErr {
    PyValueError::new_err(format!(
        "schema not supported by the compiled codec: {}",
        what
    ))
}

/// The schema tree of a JSON schema as Python objects (dicts, lists, strings), named types
/// resolved; a recursive type (a name used inside its own definition) is refused.
pub fn build(
    py: Python<'_>,
    schema: &Bound<'_, PyAny>,
    names: &mut HashMap<String, Node>,
    namespace: &str,
) -> PyResult<Node> {
    if let Ok(name) = schema.downcast::<PyString>() {
        let name = name.to_str()?;
        let node = match name {
            "null" => Node::Null,
            "boolean" => Node::Boolean,
            "int" => Node::Int,
            "long" => Node::Long,
            "float" => Node::Float,
            "double" => Node::Double,
            "bytes" => Node::Bytes,
            "string" => Node::Str,
            _ => {
                let full = if name.contains('.') || namespace.is_empty() {
                    name.to_owned()
                } else {
                    format!("{}.{}", namespace, name)
                };
                match names.get(&full).or_else(|| names.get(name)) {
                    Some(node) => node.clone(),
                    None => {
                        return Err(unsupported(&format!("unknown or recursive type {}", name)))
                    }
                }
            }
        };
        return Ok(node);
    }
    if let Ok(branches) = schema.downcast::<PyList>() {
        let mut out = Vec::new();
        for branch in branches.iter() {
            out.push(build(py, &branch, names, namespace)?);
        }
        return Ok(Node::Union(out));
    }
    let dict = schema
        .downcast::<PyDict>()
        .map_err(|_| unsupported("not a dict, list or name"))?;
    let kind = dict
        .get_item("type")?
        .ok_or_else(|| unsupported("no type"))?;
    let kind_name = match kind.downcast::<PyString>() {
        Ok(s) => s.to_str()?.to_owned(),
        Err(_) => return build(py, &kind, names, namespace),
    };
    match kind_name.as_str() {
        "record" | "error" => {
            let (full, short) = full_name(dict, namespace)?;
            let inner = match full.rfind('.') {
                Some(i) => full[..i].to_owned(),
                None => String::new(),
            };
            let raw = dict
                .get_item("fields")?
                .ok_or_else(|| unsupported("no fields"))?;
            let mut fields = Vec::new();
            for f in raw
                .downcast::<PyList>()
                .map_err(|_| unsupported("fields not a list"))?
                .iter()
            {
                let f = f
                    .downcast::<PyDict>()
                    .map_err(|_| unsupported("field not a dict"))?
                    .clone();
                let fname = f
                    .get_item("name")?
                    .ok_or_else(|| unsupported("field without name"))?;
                let ftype = f
                    .get_item("type")?
                    .ok_or_else(|| unsupported("field without type"))?;
                let fname = fname
                    .downcast::<PyString>()
                    .map_err(|_| unsupported("field name"))?;
                fields.push(Field {
                    name: PyString::intern(py, fname.to_str()?).unbind(),
                    node: build(py, &ftype, names, &inner)?,
                });
            }
            Ok(define(names, full, short, Node::Record(Arc::new(fields))))
        }
        "enum" => {
            let raw: Vec<String> = dict
                .get_item("symbols")?
                .ok_or_else(|| unsupported("no symbols"))?
                .extract()?;
            let symbols = Symbols {
                names: raw
                    .iter()
                    .map(|s| PyString::intern(py, s).unbind())
                    .collect(),
                index: raw
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (s.clone(), i))
                    .collect(),
            };
            let (full, short) = full_name(dict, namespace)?;
            Ok(define(names, full, short, Node::Enum(Arc::new(symbols))))
        }
        "fixed" => {
            let size: usize = dict
                .get_item("size")?
                .ok_or_else(|| unsupported("no size"))?
                .extract()?;
            let (full, short) = full_name(dict, namespace)?;
            Ok(define(names, full, short, Node::Fixed(size)))
        }
        "array" => {
            let items = dict
                .get_item("items")?
                .ok_or_else(|| unsupported("no items"))?;
            Ok(Node::Array(Box::new(build(py, &items, names, namespace)?)))
        }
        "map" => {
            let values = dict
                .get_item("values")?
                .ok_or_else(|| unsupported("no values"))?;
            Ok(Node::Map(Box::new(build(py, &values, names, namespace)?)))
        }
        _ => build(py, &kind, names, namespace),
    }
}

/// A named type's full name (namespace.name) and its name.
fn full_name(dict: &Bound<'_, PyDict>, namespace: &str) -> PyResult<(String, String)> {
    let name: String = dict
        .get_item("name")?
        .ok_or_else(|| unsupported("no name"))?
        .extract()?;
    let space: String = match dict.get_item("namespace")? {
        Some(ns) => ns.extract()?,
        None => namespace.to_owned(),
    };
    let full = if name.contains('.') || space.is_empty() {
        name.clone()
    } else {
        format!("{}.{}", space, name)
    };
    Ok((full, name))
}

/// Register a named type under both names; the node itself.
fn define(names: &mut HashMap<String, Node>, full: String, short: String, node: Node) -> Node {
    names.insert(full, node.clone());
    names.insert(short, node.clone());
    node
}

/// Append `value`'s encoding; None: fastavro could write it differently (or refuse it).
pub fn write(node: &Node, value: &Bound<'_, PyAny>, out: &mut Vec<u8>) -> Option<()> {
    match node {
        Node::Null => {
            if !value.is_none() {
                return None;
            }
        }
        Node::Boolean => {
            let b = value.downcast_exact::<PyBool>().ok()?;
            out.push(u8::from(b.is_true()));
        }
        Node::Int => {
            let i = exact_int(value)?;
            if i < i64::from(i32::MIN) || i > i64::from(i32::MAX) {
                return None;
            }
            write_long(out, i);
        }
        Node::Long => write_long(out, exact_int(value)?),
        Node::Float => return None, // fastavro packs through a C float: not mirrored here
        Node::Double => {
            let f = value.downcast::<PyFloat>().ok()?;
            out.extend_from_slice(&f.value().to_le_bytes());
        }
        Node::Bytes => {
            let b = value.downcast_exact::<PyBytes>().ok()?.as_bytes();
            write_long(out, b.len() as i64);
            out.extend_from_slice(b);
        }
        Node::Str => write_string(out, value.downcast::<PyString>().ok()?.to_str().ok()?),
        Node::Fixed(_) => return None,
        Node::Record(fields) => {
            let dict = value.downcast::<PyDict>().ok()?;
            for field in fields.iter() {
                let item = dict.get_item(field.name.bind(value.py())).ok()??;
                write(&field.node, &item, out)?;
            }
        }
        Node::Enum(symbols) => {
            let name = value.downcast::<PyString>().ok()?.to_str().ok()?;
            write_long(out, *symbols.index.get(name)? as i64);
        }
        Node::Array(items) => {
            let list = value.downcast_exact::<PyList>().ok()?;
            if !list.is_empty() {
                write_long(out, list.len() as i64);
                for item in list.iter() {
                    write(items, &item, out)?;
                }
            }
            out.push(0);
        }
        Node::Map(values) => {
            let dict = value.downcast_exact::<PyDict>().ok()?;
            if !dict.is_empty() {
                write_long(out, dict.len() as i64);
                for (k, v) in dict.iter() {
                    write_string(out, k.downcast_exact::<PyString>().ok()?.to_str().ok()?);
                    write(values, &v, out)?;
                }
            }
            out.push(0);
        }
        Node::Union(branches) => {
            // None goes to the null branch; anything else only where one other branch exists
            // (fastavro would otherwise pick among several by validating each).
            let null = branches.iter().position(|b| matches!(b, Node::Null));
            if value.is_none() {
                write_long(out, null? as i64);
            } else {
                let mut others = branches
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| !matches!(b, Node::Null));
                let (index, branch) = others.next()?;
                if others.next().is_some() || matches!(branch, Node::Union(_)) {
                    return None;
                }
                write_long(out, index as i64);
                write(branch, value, out)?;
            }
        }
    }
    Some(())
}

fn exact_int(value: &Bound<'_, PyAny>) -> Option<i64> {
    value.downcast_exact::<PyInt>().ok()?.extract::<i64>().ok()
}

/// The value at the reader's position; None: fastavro could read it differently (or refuse it).
pub fn read<'py>(py: Python<'py>, node: &Node, r: &mut Reader<'_>) -> Option<Bound<'py, PyAny>> {
    Some(match node {
        Node::Null => py.None().into_bound(py),
        Node::Boolean => match r.take(1)?[0] {
            0 => PyBool::new(py, false).to_owned().into_any(),
            1 => PyBool::new(py, true).to_owned().into_any(),
            _ => return None,
        },
        Node::Int | Node::Long => r.long()?.into_pyobject(py).ok()?.into_any(),
        Node::Float => {
            let bytes: [u8; 4] = r.take(4)?.try_into().ok()?;
            PyFloat::new(py, f64::from(f32::from_le_bytes(bytes))).into_any()
        }
        Node::Double => PyFloat::new(py, r.double()?).into_any(),
        Node::Bytes => {
            let len = usize::try_from(r.long()?).ok()?;
            PyBytes::new(py, r.take(len)?).into_any()
        }
        Node::Str => PyString::new(py, r.string()?).into_any(),
        Node::Fixed(n) => PyBytes::new(py, r.take(*n)?).into_any(),
        Node::Record(fields) => {
            let dict = PyDict::new(py);
            for field in fields.iter() {
                dict.set_item(field.name.bind(py), read(py, &field.node, r)?)
                    .ok()?;
            }
            dict.into_any()
        }
        Node::Enum(symbols) => {
            let i = r.index(symbols.names.len() as i64)?;
            symbols.names[i].bind(py).clone().into_any()
        }
        Node::Array(items) => {
            let list = PyList::empty(py);
            while let Some(count) = block(r)? {
                for _ in 0..count {
                    list.append(read(py, items, r)?).ok()?;
                }
            }
            list.into_any()
        }
        Node::Map(values) => {
            let dict = PyDict::new(py);
            while let Some(count) = block(r)? {
                for _ in 0..count {
                    let key = PyString::new(py, r.string()?);
                    dict.set_item(key, read(py, values, r)?).ok()?;
                }
            }
            dict.into_any()
        }
        Node::Union(branches) => {
            let i = r.index(branches.len() as i64)?;
            read(py, &branches[i], r)?
        }
    })
}

/// The next block's item count (Some(None) at the end). A negative count (the sized form) is
/// refused, and so is a count beyond the bytes left: every item but a null takes a byte, and
/// a huge count of nulls would only spin.
fn block(r: &mut Reader<'_>) -> Option<Option<usize>> {
    let count = r.long()?;
    if count == 0 {
        return Some(None);
    }
    let count = usize::try_from(count).ok()?;
    if count > r.remaining() {
        return None;
    }
    Some(Some(count))
}
