//! Parsing numbers and addresses straight from bytes, and interning the
//! strings that repeat from record to record.

use seg_ir::fasthash::FastMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

/// A decimal `u64` without sign, spaces or overflow.
pub(crate) fn parse_u64(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    if b.len() < 20 {
        // At most 19 digits: no overflow possible.
        let mut n: u64 = 0;
        for &c in b {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            n = n * 10 + u64::from(d);
        }
        return Some(n);
    }
    let mut n: u64 = 0;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(d))?;
    }
    Some(n)
}

pub(crate) fn parse_i64(b: &[u8]) -> Option<i64> {
    match b {
        [b'-', rest @ ..] => parse_u64(rest)
            .and_then(|n| i64::try_from(n).ok())
            .map(|n| -n),
        _ => parse_u64(b).and_then(|n| i64::try_from(n).ok()),
    }
}

pub(crate) fn parse_u16(b: &[u8]) -> Option<u16> {
    parse_u64(b).and_then(|n| u16::try_from(n).ok())
}

pub(crate) fn parse_u8(b: &[u8]) -> Option<u8> {
    parse_u64(b).and_then(|n| u8::try_from(n).ok())
}

/// An IPv4 dotted quad (fast path) or any address `std` parses.
pub(crate) fn parse_ip(b: &[u8]) -> Option<IpAddr> {
    if let Some(v4) = parse_ipv4(b) {
        return Some(IpAddr::V4(v4));
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

fn parse_ipv4(b: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut i = 0;
    let mut value: u32 = 0;
    let mut digits = 0;
    for &c in b {
        if c == b'.' {
            if digits == 0 || i == 3 {
                return None;
            }
            octets[i] = u8::try_from(value).ok()?;
            i += 1;
            value = 0;
            digits = 0;
        } else {
            let d = c.wrapping_sub(b'0');
            // No leading zeros (`010` is ambiguous), at most three digits.
            if d > 9 || digits == 3 || (digits == 1 && value == 0) {
                return None;
            }
            value = value * 10 + u32::from(d);
            digits += 1;
        }
    }
    if i != 3 || digits == 0 {
        return None;
    }
    octets[3] = u8::try_from(value).ok()?;
    Some(Ipv4Addr::from(octets))
}

/// Shares one `Arc<str>` among the records naming the same interface or
/// rule, so a record costs no allocation for them. Looked up on every
/// record: a [`FastMap`] (keyed per process from the OS's random source, as
/// the names come from the input).
#[derive(Default)]
pub(crate) struct Interner {
    map: FastMap<Box<[u8]>, Arc<str>>,
}

/// Past this many distinct strings the table starts afresh (memory bound).
const INTERNER_LIMIT: usize = 1 << 20;

impl Interner {
    pub(crate) fn get(&mut self, b: &[u8]) -> Arc<str> {
        if let Some(s) = self.map.get(b) {
            return s.clone();
        }
        if self.map.len() >= INTERNER_LIMIT {
            self.map.clear();
        }
        let s: Arc<str> = Arc::from(String::from_utf8_lossy(b).as_ref());
        self.map.insert(b.into(), s.clone());
        s
    }
}

/// A short, printable rendering of a field for an error message.
pub(crate) fn shown(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(60)]);
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if b.len() > 60 {
        out.push('…');
    }
    out
}

/// A number or a string, without serde's `untagged` buffering (which
/// builds an error per failed variant: slow on every record).
pub(crate) enum NumberOrText<'a> {
    Number(i64),
    Text(std::borrow::Cow<'a, str>),
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for NumberOrText<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = NumberOrText<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number or a string")
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Self::Value, E> {
                Ok(NumberOrText::Number(n))
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Self::Value, E> {
                i64::try_from(n)
                    .map(NumberOrText::Number)
                    .map_err(|_| E::custom(format!("{n} is out of range")))
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                s: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(NumberOrText::Text(std::borrow::Cow::Borrowed(s)))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(NumberOrText::Text(std::borrow::Cow::Owned(s.to_string())))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_u64(b"0"), Some(0));
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"1a"), None);
        assert_eq!(parse_i64(b"-5"), Some(-5));
        assert_eq!(parse_u16(b"65536"), None);
        assert_eq!(parse_u8(b"255"), Some(255));
    }

    #[test]
    fn addresses() {
        assert_eq!(
            parse_ip(b"172.31.16.139"),
            Some("172.31.16.139".parse().unwrap())
        );
        assert_eq!(parse_ip(b"0.0.0.0"), Some("0.0.0.0".parse().unwrap()));
        assert_eq!(
            parse_ip(b"2001:db8::1"),
            Some("2001:db8::1".parse().unwrap())
        );
        for bad in [
            "256.1.1.1",
            "1.2.3",
            "1.2.3.4.5",
            "01.2.3.4",
            "1..2.3",
            "",
            "-",
            "1.2.3.4 ",
        ] {
            assert_eq!(parse_ip(bad.as_bytes()), None, "{bad}");
        }
    }
}
