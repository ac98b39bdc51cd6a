//! MXNet's text form of a float parameter: how dmlc-core's `Parameter` reads a `float`
//! field (`dmlc::stof`, its own parser, not the C library's) and how a failed check prints
//! one (C++ `ostream`, six significant digits). Gradient compression's `threshold` is read
//! and reported this way, so that the same strings are accepted, give the same value and
//! fail with the same words as in MXNet 1.9.1 (reference §3.8).

/// Why a string is not a float parameter; each is one of dmlc's messages.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// Nothing could be read as a number.
    NoNumber,
    /// An exponent beyond float's range.
    OutOfRange,
    /// A number, then these characters.
    Trailing(String),
    /// `nan(` without its closing parenthesis.
    BadNan,
}

impl Refusal {
    /// dmlc's message for parameter `name` given as `text`.
    pub fn message(&self, name: &str, text: &str) -> String {
        match self {
            Refusal::NoNumber => {
                format!("Invalid Parameter format for {name} expect float but value='{text}'")
            }
            Refusal::OutOfRange => format!("Out of range value for {name}, value='{text}'"),
            Refusal::Trailing(rest) => {
                format!("Some trailing characters could not be parsed: '{rest}'")
            }
            Refusal::BadNan => {
                format!("Invalid NAN literal for {name}: no ')' closes value='{text}'")
            }
        }
    }
}

/// Reads `text` as dmlc reads a float field: leading blanks, a sign, `inf`/`infinity`/`nan`
/// in any case, digits with at most 19 counted after the point, an exponent of at most 38,
/// an `f` suffix, and nothing after that.
pub fn parse(text: &str) -> Result<f32, Refusal> {
    let s = text.as_bytes();
    let at = |p: usize| s.get(p).copied().unwrap_or(0);
    let mut p = 0;
    while matches!(at(p), b' ' | b'\t' | b'\r' | b'\n' | 0x0c) {
        p += 1;
    }
    let negative = at(p) == b'-';
    if matches!(at(p), b'-' | b'+') {
        p += 1;
    }
    let matched = |p: usize, w: &[u8]| {
        w.iter()
            .enumerate()
            .take_while(|&(i, &c)| at(p + i) | 32 == c)
            .count()
    };
    let inf = matched(p, b"infinity");
    if inf == 3 || inf == 8 {
        let value = if negative {
            f32::NEG_INFINITY
        } else {
            f32::INFINITY
        };
        return finish(text, p + inf, value);
    }
    if matched(p, b"nan") == 3 {
        p += 3;
        if at(p) == b'(' {
            p += 1;
            while at(p).is_ascii_alphanumeric() || at(p) == b'_' {
                p += 1;
            }
            if at(p) != b')' {
                return Err(Refusal::BadNan);
            }
            p += 1;
        }
        return finish(text, p, f32::NAN);
    }
    let mut whole: u64 = 0;
    while at(p).is_ascii_digit() {
        whole = whole.wrapping_mul(10).wrapping_add(u64::from(at(p) - b'0'));
        p += 1;
    }
    let mut v = whole as f32;
    if at(p) == b'.' {
        p += 1;
        let (mut frac, mut pow10, mut digits) = (0u64, 1u64, 0);
        while at(p).is_ascii_digit() {
            if digits < 19 {
                frac = frac * 10 + u64::from(at(p) - b'0');
                pow10 *= 10;
            }
            digits += 1;
            p += 1;
        }
        v += (frac as f64 / pow10 as f64) as f32;
    }
    if matches!(at(p), b'e' | b'E') {
        p += 1;
        let divide = at(p) == b'-';
        if matches!(at(p), b'-' | b'+') {
            p += 1;
        }
        let mut exp: u32 = 0;
        while at(p).is_ascii_digit() {
            exp = exp.wrapping_mul(10).wrapping_add(u32::from(at(p) - b'0'));
            p += 1;
        }
        // dmlc's largest significands at exponent ±38 (3.402823466 and 1.175494351 as floats).
        let edge = exp == 38 && ((!divide && v > 3.402_823_4) || (divide && v < 1.175_494_3));
        if exp > 38 || edge {
            return Err(Refusal::OutOfRange);
        }
        let mut scale = 1.0f32;
        while exp >= 8 {
            scale *= 1e8;
            exp -= 8;
        }
        while exp > 0 {
            scale *= 10.0;
            exp -= 1;
        }
        v = if divide { v / scale } else { v * scale };
    }
    if matches!(at(p), b'f' | b'F') {
        p += 1;
    }
    if p == 0 {
        return Err(Refusal::NoNumber);
    }
    finish(text, p, if negative { -v } else { v })
}

fn finish(text: &str, end: usize, value: f32) -> Result<f32, Refusal> {
    match text.get(end..) {
        Some("") | None => Ok(value),
        Some(rest) => Err(Refusal::Trailing(rest.to_string())),
    }
}

/// `value` as C++'s `ostream << value` prints it: `%g` with six significant digits
/// (`0.5`, `-1.5e-07`, `-1.23457e+08`, `inf`, `nan`).
pub fn display(value: f32) -> String {
    const DIGITS: i32 = 6;
    if value.is_nan() {
        return "nan".into();
    }
    if value.is_infinite() {
        return if value < 0.0 { "-inf" } else { "inf" }.into();
    }
    if value == 0.0 {
        return if value.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let value = f64::from(value);
    let scientific = format!("{:.*e}", (DIGITS - 1) as usize, value);
    let (mantissa, exp) = scientific
        .split_once('e')
        .expect("Rust's {:e} has an exponent");
    let exp: i32 = exp.parse().expect("Rust's {:e} exponent is an integer");
    if (-4..DIGITS).contains(&exp) {
        let fixed = format!("{:.*}", (DIGITS - 1 - exp) as usize, value);
        trim_zeros(&fixed).to_string()
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{}{:02}", trim_zeros(mantissa), sign, exp.abs())
    }
}

fn trim_zeros(number: &str) -> &str {
    if number.contains('.') {
        number.trim_end_matches('0').trim_end_matches('.')
    } else {
        number
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_mxnet_reads() {
        // Each accepted by MXNet 1.9.1 as a threshold.
        for (text, value) in [
            ("0.5", 0.5f32),
            (" 0.5", 0.5),
            ("\t\n0.5", 0.5),
            ("+0.5", 0.5),
            (".5", 0.5),
            ("5.", 5.0),
            ("5e", 5.0),
            ("1.5f", 1.5),
            ("1e-3", 1e-3),
            ("1E2", 100.0),
            ("1e+2", 100.0),
            // dmlc's arithmetic, not the nearest float (MXNet 1.9.1 reads these bits).
            ("2e-38", f32::from_bits(0x00d9_c7dc)),
            ("1e38", f32::from_bits(0x7e96_769a)),
            ("3.4e38", f32::from_bits(0x7f7f_c9a0)),
            ("12345678901234567890123", f32::from_bits(0x5e85_6c9d)),
            ("inf", f32::INFINITY),
            ("INFINITY", f32::INFINITY),
            ("-inf", f32::NEG_INFINITY),
            (".", 0.0),
            ("e5", 0.0),
            ("f", 0.0),
        ] {
            assert_eq!(parse(text), Ok(value), "{text:?}");
        }
        assert_eq!(parse("-").map(f32::to_bits), Ok((-0.0f32).to_bits()));
        assert!(parse("nan").unwrap().is_nan());
        assert!(parse("nan(a_1)").unwrap().is_nan());
        assert!(parse("-NaN").unwrap().is_nan());
    }

    #[test]
    fn refuses_what_mxnet_refuses() {
        use Refusal::*;
        for (text, refusal) in [
            ("abc", NoNumber),
            ("", NoNumber),
            ("infin", NoNumber),
            ("\u{b}0.5", NoNumber),
            ("+infin", Trailing("infin".into())),
            ("0.5abc", Trailing("abc".into())),
            ("0.5 ", Trailing(" ".into())),
            ("0x1p-1", Trailing("x1p-1".into())),
            ("1e40", OutOfRange),
            ("1e-50", OutOfRange),
            ("1e-38", OutOfRange),
            ("3.5e38", OutOfRange),
            ("-1e39", OutOfRange),
            ("nan(", BadNan),
            ("nan(abc", BadNan),
        ] {
            assert_eq!(parse(text), Err(refusal), "{text:?}");
        }
        assert_eq!(
            NoNumber.message("threshold", "abc"),
            "Invalid Parameter format for threshold expect float but value='abc'"
        );
        assert_eq!(
            OutOfRange.message("threshold", "1e40"),
            "Out of range value for threshold, value='1e40'"
        );
    }

    #[test]
    fn prints_as_cpp_streams_do() {
        for (value, text) in [
            (0.0f32, "0"),
            (-0.0, "-0"),
            (-1.0, "-1"),
            (-1.5e-7, "-1.5e-07"),
            (-123_456_789.0, "-1.23457e+08"),
            (-0.000_123_456, "-0.000123456"),
            (-1_234_567.0, "-1.23457e+06"),
            (-100_000.0, "-100000"),
            (-999_999.5, "-1e+06"),
            (f32::NEG_INFINITY, "-inf"),
            (f32::NAN, "nan"),
        ] {
            assert_eq!(display(value), text);
        }
    }
}
