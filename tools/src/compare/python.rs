//! Python's view of a [`Value`]: what `sqlite3` hands the official scorers (`None`, `int`,
//! `float`, `str`, `bytes`) and how Python compares, hashes and prints those objects.
//!
//! The official scorers are Python programs; their verdicts depend on Python's `==` (`1 == 1.0`,
//! `'1' != 1`, `b'a' != 'a'`), on hash-consistent sets and dicts (`hash(1) == hash(1.0)`), and on
//! `str(v) + str(type(v))` in the test-suite's quick rejection. Everything here reproduces those
//! rules exactly over learnat's [`Value`].

use std::fmt::Write as _;
use std::hash::{Hash, Hasher};

use crate::value::Value;

/// Python `a == b` for the objects `sqlite3` returns.
///
/// Integers and floats compare by exact mathematical value (Python never rounds the integer to a
/// float: `2**53 + 1 != 2.0**53`); NaN equals nothing, because every fetched float is a distinct
/// object and Python's identity shortcut never applies across two results.
pub(crate) fn python_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Integer(x), Value::Integer(y)) => x == y,
        (Value::Real(x), Value::Real(y)) => x == y,
        (Value::Integer(i), Value::Real(f)) | (Value::Real(f), Value::Integer(i)) => {
            integral_float_as_i64(*f) == Some(*i)
        }
        (Value::Text(x), Value::Text(y)) => x == y,
        (Value::Blob(x), Value::Blob(y)) => x == y,
        _ => false,
    }
}

/// The `i64` a float is exactly equal to, if any.
fn integral_float_as_i64(f: f64) -> Option<i64> {
    // 2^63 as f64 is exact; the half-open range excludes it because i64::MAX < 2^63.
    const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
    if f.fract() == 0.0 && (-TWO_POW_63..TWO_POW_63).contains(&f) {
        Some(f as i64)
    } else {
        None
    }
}

/// Feeds a hash consistent with [`python_eq`]: values Python finds equal hash equally (an
/// integral float hashes as the integer it equals; `-0.0` as `0`).
pub(crate) fn hash_python_value<H: Hasher>(value: &Value, state: &mut H) {
    match value {
        Value::Null => state.write_u8(0),
        Value::Integer(i) => {
            state.write_u8(1);
            state.write_i64(*i);
        }
        Value::Real(f) => match integral_float_as_i64(*f) {
            Some(i) => {
                state.write_u8(1);
                state.write_i64(i);
            }
            None => {
                state.write_u8(2);
                state.write_u64(f.to_bits());
            }
        },
        Value::Text(s) => {
            state.write_u8(3);
            s.as_bytes().hash(state);
        }
        Value::Blob(b) => {
            state.write_u8(4);
            b.hash(state);
        }
    }
}

/// Python's `str(type(v))` of the object `sqlite3` returns for this value.
pub(crate) fn python_type_str(value: &Value) -> &'static str {
    match value {
        Value::Null => "<class 'NoneType'>",
        Value::Integer(_) => "<class 'int'>",
        Value::Real(_) => "<class 'float'>",
        Value::Text(_) => "<class 'str'>",
        Value::Blob(_) => "<class 'bytes'>",
    }
}

/// Python's `str()` of the object `sqlite3` returns for a value, exactly.
///
/// `None`; integers in decimal; floats as `repr` writes them (shortest round-trip digits,
/// `1.0`, `0.0001`, `1e-05`, `1e+16`, `1.5e-07`, `inf`, `-inf`, `nan`); text as itself; bytes as
/// their literal (`b'ab\x00'`, `b"it's"`).
///
/// ```
/// use learnat_tools::compare::python_str;
/// use learnat_tools::Value;
/// assert_eq!(python_str(&Value::Real(1e16)), "1e+16");
/// assert_eq!(python_str(&Value::Real(10.0)), "10.0");
/// assert_eq!(python_str(&Value::Null), "None");
/// ```
pub fn python_str(value: &Value) -> String {
    let mut out = String::new();
    write_python_str(value, &mut out);
    out
}

/// [`python_str`] appended to `out` (no allocation beyond `out`'s growth).
pub(crate) fn write_python_str(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("None"),
        // Writing into a String cannot fail.
        Value::Integer(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Real(f) => write_python_float_repr(*f, out),
        Value::Text(s) => out.push_str(s),
        Value::Blob(b) => write_python_bytes_repr(b, out),
    }
}

/// Python's `repr(float)`: the shortest digits that round-trip, in positional notation when the
/// decimal exponent is in `-4..16` (with `.0` added to integral values), else in scientific
/// notation with a signed exponent of at least two digits.
fn write_python_float_repr(f: f64, out: &mut String) {
    if f.is_nan() {
        out.push_str("nan");
        return;
    }
    if f.is_sign_negative() {
        out.push('-');
    }
    let magnitude = f.abs();
    if magnitude.is_infinite() {
        out.push_str("inf");
        return;
    }
    if magnitude == 0.0 {
        out.push_str("0.0");
        return;
    }
    let scientific = shortest_round_trip_digits(magnitude);
    let text = scientific.as_str();
    let (mantissa, exponent) = text.split_once('e').unwrap_or((text, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (lead, rest) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (-4..16).contains(&exponent) {
        let digits_before_point = exponent + 1;
        if digits_before_point <= 0 {
            out.push_str("0.");
            for _ in 0..-digits_before_point {
                out.push('0');
            }
            out.push_str(lead);
            out.push_str(rest);
        } else {
            // Positional: the digits `lead rest`, the point after `digits_before_point` of them.
            let wanted = digits_before_point as usize - 1;
            out.push_str(lead);
            if rest.len() <= wanted {
                out.push_str(rest);
                for _ in rest.len()..wanted {
                    out.push('0');
                }
                out.push_str(".0");
            } else {
                out.push_str(&rest[..wanted]);
                out.push('.');
                out.push_str(&rest[wanted..]);
            }
        }
    } else {
        out.push_str(lead);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let sign = if exponent < 0 { '-' } else { '+' };
        let _ = write!(out, "e{sign}{:02}", exponent.unsigned_abs());
    }
}

/// The digits of Python's `repr` for a positive finite float, as `d[.ddd]e<exp>`.
///
/// Rust's `{:e}` finds the shortest digit count that round-trips, as Python does, but when two
/// strings of that length are equally close it may take the upper one, where Python rounds half
/// to even. Such ties need 16 or more digits (below that the decimal spacing exceeds the float's
/// spacing), and there the correctly rounded `{:.N$e}` (half to even, like Python) decides,
/// provided it still round-trips.
fn shortest_round_trip_digits(magnitude: f64) -> InlineText {
    let mut shortest = InlineText::default();
    let _ = write!(shortest, "{magnitude:e}");
    let digit_count = shortest.as_str().split('e').next().map_or(0, |mantissa| {
        mantissa.bytes().filter(u8::is_ascii_digit).count()
    });
    if digit_count >= 16 {
        let mut rounded = InlineText::default();
        let _ = write!(rounded, "{magnitude:.*e}", digit_count - 1);
        if rounded.as_str().parse::<f64>() == Ok(magnitude) {
            return rounded;
        }
    }
    shortest
}

/// Python's `repr(bytes)` (which `str(bytes)` returns): `b'..'`, or `b".."` when the bytes hold
/// a `'` and no `"`; `\\`, the quote, `\t`, `\n`, `\r` escaped; other bytes outside printable
/// ASCII as `\xhh`.
fn write_python_bytes_repr(bytes: &[u8], out: &mut String) {
    let quote = if bytes.contains(&b'\'') && !bytes.contains(&b'"') {
        b'"'
    } else {
        b'\''
    };
    out.push('b');
    out.push(quote as char);
    for &byte in bytes {
        match byte {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            _ if byte == quote => {
                out.push('\\');
                out.push(byte as char);
            }
            0x20..=0x7e => out.push(byte as char),
            _ => {
                let _ = write!(out, "\\x{byte:02x}");
            }
        }
    }
    out.push(quote as char);
}

/// Python's `str.isspace()` for one character (what `str.strip()` and the regex `\s` use): the
/// Unicode White_Space characters plus the ASCII separators U+001C..U+001F.
pub(crate) fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.strip()` without arguments.
pub(crate) fn python_strip(text: &str) -> &str {
    text.trim_matches(is_python_space)
}

/// A small fixed buffer for formatting one float without allocating; `{:e}` of an f64 needs at
/// most 24 bytes.
#[derive(Default)]
struct InlineText {
    bytes: [u8; 32],
    len: usize,
}

impl InlineText {
    fn as_str(&self) -> &str {
        // Only whole `&str`s are ever copied in, so the prefix is valid UTF-8.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

impl std::fmt::Write for InlineText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.bytes.len() {
            return Err(std::fmt::Error);
        }
        self.bytes[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float_str(f: f64) -> String {
        python_str(&Value::Real(f))
    }

    #[test]
    fn float_repr_matches_python() {
        // Each expectation is what CPython 3.11 prints for repr(x).
        let cases: &[(f64, &str)] = &[
            (1.0, "1.0"),
            (10.0, "10.0"),
            (-2.5, "-2.5"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (0.1, "0.1"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (123456.789, "123456.789"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.2345e16, "1.2345e+16"),
            (9999999999999998.0, "9999999999999998.0"),
            (1e100, "1e+100"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (0.1 + 0.2, "0.30000000000000004"),
            (2.0 / 3.0, "0.6666666666666666"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
            (12.34567, "12.34567"),
            (100.0, "100.0"),
            (65.5, "65.5"),
            (1234.5e-10, "1.2345e-07"),
            // Ties between two shortest candidates go to the even digit, as in CPython.
            // (exactly -201562347225087.625 and 934356417220194.25)
            (f64::from_bits(0xc2e6_ea3c_8367_fff4), "-201562347225087.62"),
            (f64::from_bits(0x430a_8e56_72bc_7312), "934356417220194.2"),
        ];
        for &(value, expected) in cases {
            assert_eq!(float_str(value), expected, "repr of {value:?}");
        }
    }

    #[test]
    fn str_of_other_types_matches_python() {
        assert_eq!(python_str(&Value::Null), "None");
        assert_eq!(python_str(&Value::Integer(-42)), "-42");
        assert_eq!(python_str(&Value::Text("ab c".into())), "ab c");
        assert_eq!(python_str(&Value::Blob(b"ab".to_vec())), "b'ab'");
        assert_eq!(python_str(&Value::Blob(b"it's".to_vec())), "b\"it's\"");
        assert_eq!(python_str(&Value::Blob(b"'\"".to_vec())), "b'\\'\"'");
        assert_eq!(
            python_str(&Value::Blob(vec![0, 9, 10, 13, 0x7f, 0xff, b'\\'])),
            "b'\\x00\\t\\n\\r\\x7f\\xff\\\\'"
        );
        assert_eq!(python_str(&Value::Blob(Vec::new())), "b''");
    }

    #[test]
    fn equality_follows_python() {
        assert!(python_eq(&Value::Integer(1), &Value::Real(1.0)));
        assert!(python_eq(&Value::Real(0.0), &Value::Real(-0.0)));
        assert!(python_eq(&Value::Null, &Value::Null));
        assert!(!python_eq(&Value::Text("1".into()), &Value::Integer(1)));
        assert!(!python_eq(
            &Value::Blob(b"a".to_vec()),
            &Value::Text("a".into())
        ));
        assert!(!python_eq(&Value::Real(f64::NAN), &Value::Real(f64::NAN)));
        assert!(!python_eq(&Value::Integer(1), &Value::Real(1.5)));
        // Exact comparison: 2^53 + 1 is not the float 2^53.
        assert!(!python_eq(
            &Value::Integer((1 << 53) + 1),
            &Value::Real(9007199254740992.0)
        ));
        assert!(python_eq(
            &Value::Integer(1 << 53),
            &Value::Real(9007199254740992.0)
        ));
        assert!(!python_eq(
            &Value::Integer(i64::MAX),
            &Value::Real(9223372036854775808.0)
        ));
        assert!(python_eq(
            &Value::Integer(i64::MIN),
            &Value::Real(-9223372036854775808.0)
        ));
    }

    #[test]
    fn equal_values_hash_equally() {
        fn hash_of(value: &Value) -> u64 {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            hash_python_value(value, &mut hasher);
            hasher.finish()
        }
        assert_eq!(hash_of(&Value::Integer(7)), hash_of(&Value::Real(7.0)));
        assert_eq!(hash_of(&Value::Real(-0.0)), hash_of(&Value::Integer(0)));
        assert_ne!(
            hash_of(&Value::Text("a".into())),
            hash_of(&Value::Blob(b"a".to_vec()))
        );
    }

    #[test]
    fn strip_uses_python_whitespace() {
        assert_eq!(python_strip("\u{1f} \t SELECT 1 \u{a0}\n"), "SELECT 1");
        assert_eq!(python_strip(""), "");
    }
}
