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
use std::ops::Range;

type Error = serde_json::Error;

/// The canonical JSON text of `value` (see the module docs).
pub(crate) fn to_vec<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut w = Writer { out: Vec::new() };
    // Every method below is infallible except where serde_json's own value
    // serializer fails (a map key that is not a string, a 128-bit integer
    // out of range), which the syntax tree never produces.
    let _ = value.serialize(&mut w);
    w.out
}

struct Writer {
    out: Vec<u8>,
}

/// An object's fields as written so far: key and where its value lies in `out`.
type Fields = Vec<(Cow<'static, str>, Range<usize>)>;

impl Writer {
    fn string(&mut self, s: &str) {
        // serde_json's own escaping (writing to a Vec cannot fail).
        let _ = serde_json::to_writer(&mut self.out, s);
    }

    fn raw(&mut self, s: &str) {
        self.out.extend_from_slice(s.as_bytes());
    }

    /// Add a field, as `IndexMap::insert` does: a repeated key keeps its
    /// first place and takes the new value.
    fn field(fields: &mut Fields, key: Cow<'static, str>, value: Range<usize>) {
        match fields.iter_mut().find(|(k, _)| *k == key) {
            Some(f) => f.1 = value,
            None => fields.push((key, value)),
        }
    }

    /// Replace the object written from `start` by its canonical form.
    fn close_object(&mut self, start: usize, mut fields: Fields) {
        let keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_ref()).collect();
        let text = if keys == ["node", "span"] || keys == ["text", "quoted"] {
            self.out[fields[0].1.clone()].to_vec()
        } else {
            if let Some(i) = keys.iter().position(|k| *k == "span") {
                fields.swap_remove(i);
            }
            let mut text = Vec::with_capacity(self.out.len() - start + 2);
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
        self.out.truncate(start);
        self.out.extend_from_slice(&text);
    }

    /// Through serde_json's value serializer, for the rare leaves whose
    /// exact text it decides (floats, 128-bit integers).
    fn via_value<T: Serialize>(&mut self, v: T) -> Result<(), Error> {
        let value = serde_json::to_value(v)?;
        serde_json::to_writer(&mut self.out, &value)
    }
}

/// An array (sequences, tuples), possibly the value of a variant wrapper.
pub(crate) struct Array<'w> {
    w: &'w mut Writer,
    first: bool,
    /// `{"Variant": [...]}`: where the wrapper started, and the variant.
    variant: Option<(usize, &'static str)>,
}

/// An object (structs, maps), possibly the value of a variant wrapper.
pub(crate) struct Object<'w> {
    w: &'w mut Writer,
    start: usize,
    fields: Fields,
    key: Option<String>,
    variant: Option<(usize, &'static str)>,
}

impl Writer {
    fn array(&mut self, variant: Option<&'static str>) -> Array<'_> {
        let wrapper = variant.map(|v| (self.out.len(), v));
        self.out.push(b'[');
        Array {
            w: self,
            first: true,
            variant: wrapper,
        }
    }

    fn object(&mut self, variant: Option<&'static str>) -> Object<'_> {
        let wrapper = variant.map(|v| (self.out.len(), v));
        Object {
            start: self.out.len(),
            w: self,
            fields: Vec::new(),
            key: None,
            variant: wrapper,
        }
    }

    /// Close `{"variant": value}` whose value was written from `value_start`.
    fn close_variant(&mut self, start: usize, variant: &'static str, value_start: usize) {
        let end = self.out.len();
        self.close_object(start, vec![(Cow::Borrowed(variant), value_start..end)]);
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
        if let Some((start, variant)) = self.variant {
            self.w.close_variant(start, variant, start);
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
        let at = self.w.out.len();
        value.serialize(&mut *self.w)?;
        let end = self.w.out.len();
        Writer::field(&mut self.fields, key, at..end);
        Ok(())
    }

    fn close(self) -> Result<(), Error> {
        self.w.close_object(self.start, self.fields);
        if let Some((start, variant)) = self.variant {
            self.w.close_variant(start, variant, start);
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
        self.raw(&v.to_string());
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
        self.raw(&v.to_string());
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
        let start = self.out.len();
        value.serialize(&mut *self)?;
        self.close_variant(start, variant, start);
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
