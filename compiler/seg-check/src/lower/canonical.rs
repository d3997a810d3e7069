//! The canonical JSON text of a syntax tree that rule ids hash, written in
//! one pass by a serde serializer instead of through a `serde_json::Value`.
//!
//! The text is exactly what `serde_json::to_value` followed by the
//! canonicalisation below and `to_string` gives (ids must never change):
//! compact JSON, object keys in the order serde writes them, and in every
//! object, innermost first:
//! - `{"node": x, "span": …}` becomes `x`;
//! - `{"text": t, "quoted": …}` becomes `t`;
//! - otherwise a `span` key is dropped the way `serde_json::Map::remove`
//!   drops it with `preserve_order` (a swap-remove: the last key takes its
//!   place).
//!
//! Each object's fields are written in place and rearranged when it closes,
//! so a rule costs a few small copies rather than a tree of maps.

use serde::ser::{self, Serialize};
use std::borrow::Cow;
use std::io::Write as _;
use std::ops::Range;

type Error = serde_json::Error;

/// The canonical JSON text of `value` (see the module docs).
pub(crate) fn to_vec<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut w = Writer::default();
    // Every method below is infallible except where serde_json's own value
    // serializer fails (a map key that is not a string, a 128-bit integer
    // out of range), which the syntax tree never produces.
    let _ = value.serialize(&mut w);
    w.out
}

/// Writes objects in place, keys and all, and fixes each one up when it
/// closes: usually by moving one value down or cutting the trailing `span`,
/// without allocating.
#[derive(Default)]
struct Writer {
    out: Vec<u8>,
    /// The fields of every object still open, innermost last.
    fields: Vec<Field>,
}

/// One field of an open object: where its `,"key":` starts and where its value lies.
struct Field {
    key: Cow<'static, str>,
    at: usize,
    value: Range<usize>,
}

/// Where an open object starts in `out` and where its fields start in `fields`.
#[derive(Clone, Copy)]
struct Open {
    start: usize,
    base: usize,
}

impl Writer {
    fn string(&mut self, s: &str) {
        // serde_json's own escaping (writing to a Vec cannot fail).
        let _ = serde_json::to_writer(&mut self.out, s);
    }

    fn raw(&mut self, s: &str) {
        self.out.extend_from_slice(s.as_bytes());
    }

    fn open(&mut self) -> Open {
        let open = Open {
            start: self.out.len(),
            base: self.fields.len(),
        };
        self.out.push(b'{');
        open
    }

    /// Write the key of a new field of `open`; returns where the field starts.
    fn key(&mut self, open: Open, key: &str) -> usize {
        let at = self.out.len();
        if self.fields.len() > open.base {
            self.out.push(b',');
        }
        if key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            // Nothing to escape (field and variant names).
            self.out.push(b'"');
            self.out.extend_from_slice(key.as_bytes());
            self.out.push(b'"');
        } else {
            let _ = serde_json::to_writer(&mut self.out, key);
        }
        self.out.push(b':');
        at
    }

    /// Record the field whose key was written at `at` and whose value ends here.
    fn field(&mut self, key: Cow<'static, str>, at: usize, value_start: usize) {
        let value = value_start..self.out.len();
        self.fields.push(Field { key, at, value });
    }

    /// Turn the object opened at `open` into its canonical form.
    fn close(&mut self, open: Open) {
        let fields = &self.fields[open.base..];
        let keys = |want: [&str; 2]| {
            fields.len() == 2 && fields[0].key == want[0] && fields[1].key == want[1]
        };
        let span = fields.iter().position(|f| f.key == "span");
        let repeated = fields
            .iter()
            .enumerate()
            .any(|(i, f)| fields[..i].iter().any(|g| g.key == f.key));
        if repeated || span.is_some_and(|i| i + 1 < fields.len()) {
            self.rebuild(open);
        } else if keys(["node", "span"]) || keys(["text", "quoted"]) {
            let value = fields[0].value.clone();
            let len = value.len();
            self.out.copy_within(value, open.start);
            self.out.truncate(open.start + len);
        } else {
            if let Some(i) = span {
                let at = fields[i].at;
                self.out.truncate(at);
            }
            self.out.push(b'}');
        }
        self.fields.truncate(open.base);
    }

    /// The general case of [`Writer::close`]: fields as `IndexMap::insert`
    /// keeps them (a repeated key keeps its first place and takes the new
    /// value), then the forms of the module docs, a `span` swap-removed.
    fn rebuild(&mut self, open: Open) {
        let mut fields: Vec<(Cow<'static, str>, Range<usize>)> = Vec::new();
        for f in self.fields.drain(open.base..) {
            match fields.iter_mut().find(|(k, _)| *k == f.key) {
                Some(slot) => slot.1 = f.value,
                None => fields.push((f.key, f.value)),
            }
        }
        let keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_ref()).collect();
        let text = if keys == ["node", "span"] || keys == ["text", "quoted"] {
            self.out[fields[0].1.clone()].to_vec()
        } else {
            if let Some(i) = keys.iter().position(|k| *k == "span") {
                fields.swap_remove(i);
            }
            let mut text = Vec::with_capacity(self.out.len() - open.start + 2);
            text.push(b'{');
            for (n, (key, value)) in fields.iter().enumerate() {
                if n > 0 {
                    text.push(b',');
                }
                let _ = serde_json::to_writer(&mut text, key.as_ref());
                text.push(b':');
                text.extend_from_slice(&self.out[value.clone()]);
            }
            text.push(b'}');
            text
        };
        self.out.truncate(open.start);
        self.out.extend_from_slice(&text);
    }

    /// Open `{"variant": ...` around a value about to be written.
    fn open_variant(&mut self, variant: &'static str) -> Variant {
        let open = self.open();
        let at = self.key(open, variant);
        Variant {
            open,
            variant,
            at,
            value_start: self.out.len(),
        }
    }

    fn close_variant(&mut self, v: Variant) {
        self.field(Cow::Borrowed(v.variant), v.at, v.value_start);
        self.close(v.open);
    }

    /// Through serde_json's value serializer, for the rare leaves whose
    /// exact text it decides (floats, 128-bit integers).
    fn via_value<T: Serialize>(&mut self, v: T) -> Result<(), Error> {
        let value = serde_json::to_value(v)?;
        serde_json::to_writer(&mut self.out, &value)
    }
}

/// An open `{"Variant": value}` wrapper.
#[derive(Clone, Copy)]
struct Variant {
    open: Open,
    variant: &'static str,
    at: usize,
    value_start: usize,
}

/// An array (sequences, tuples), possibly the value of a variant wrapper.
pub(crate) struct Array<'w> {
    w: &'w mut Writer,
    first: bool,
    variant: Option<Variant>,
}

/// An object (structs, maps), possibly the value of a variant wrapper.
pub(crate) struct Object<'w> {
    w: &'w mut Writer,
    open: Open,
    key: Option<String>,
    variant: Option<Variant>,
}

impl Writer {
    fn array(&mut self, variant: Option<&'static str>) -> Array<'_> {
        let variant = variant.map(|v| self.open_variant(v));
        self.out.push(b'[');
        Array {
            w: self,
            first: true,
            variant,
        }
    }

    fn object(&mut self, variant: Option<&'static str>) -> Object<'_> {
        let variant = variant.map(|v| self.open_variant(v));
        Object {
            open: self.open(),
            w: self,
            key: None,
            variant,
        }
    }
}

impl Array<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        if !self.first {
            self.w.out.push(b',');
        }
        self.first = false;
        value.serialize(&mut *self.w)
    }

    fn close(self) -> Result<(), Error> {
        self.w.out.push(b']');
        if let Some(v) = self.variant {
            self.w.close_variant(v);
        }
        Ok(())
    }
}

impl Object<'_> {
    fn value<T: Serialize + ?Sized>(
        &mut self,
        key: Cow<'static, str>,
        value: &T,
    ) -> Result<(), Error> {
        if key == "span" {
            // Never part of the text (collapsed or dropped when the object
            // closes): only its place among the keys counts.
            let at = self.w.out.len();
            self.w.field(key, at, at);
            return Ok(());
        }
        let at = self.w.key(self.open, &key);
        let start = self.w.out.len();
        value.serialize(&mut *self.w)?;
        self.w.field(key, at, start);
        Ok(())
    }

    fn close(self) -> Result<(), Error> {
        self.w.close(self.open);
        if let Some(v) = self.variant {
            self.w.close_variant(v);
        }
        Ok(())
    }
}

impl<'w> ser::Serializer for &'w mut Writer {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Array<'w>;
    type SerializeTuple = Array<'w>;
    type SerializeTupleStruct = Array<'w>;
    type SerializeTupleVariant = Array<'w>;
    type SerializeMap = Object<'w>;
    type SerializeStruct = Object<'w>;
    type SerializeStructVariant = Object<'w>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.raw(if v { "true" } else { "false" });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        let _ = write!(self.out, "{v}");
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        self.via_value(v)
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        let _ = write!(self.out, "{v}");
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        self.via_value(v)
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.via_value(v)
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        self.via_value(v)
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.string(v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.string(v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        let mut a = self.array(None);
        for b in v {
            ser::SerializeSeq::serialize_element(&mut a, b)?;
        }
        a.close()
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.raw("null");
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.raw("null");
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.string(variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        let v = self.open_variant(variant);
        value.serialize(&mut *self)?;
        self.close_variant(v);
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Array<'w>, Error> {
        Ok(self.array(None))
    }
    fn serialize_tuple(self, _len: usize) -> Result<Array<'w>, Error> {
        Ok(self.array(None))
    }
    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Array<'w>, Error> {
        Ok(self.array(None))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Array<'w>, Error> {
        Ok(self.array(Some(variant)))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Object<'w>, Error> {
        Ok(self.object(None))
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Object<'w>, Error> {
        Ok(self.object(None))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Object<'w>, Error> {
        Ok(self.object(Some(variant)))
    }
}

impl ser::SerializeSeq for Array<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeTuple for Array<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeTupleStruct for Array<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeTupleVariant for Array<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeMap for Object<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        // As serde_json's map keys: strings, and numbers and booleans as their text.
        self.key = Some(match serde_json::to_value(key)? {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            _ => return Err(ser::Error::custom("key must be a string")),
        });
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let key = self.key.take().unwrap_or_default();
        self.value(Cow::Owned(key), value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeStruct for Object<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.value(Cow::Borrowed(key), value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeStructVariant for Object<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.value(Cow::Borrowed(key), value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}
