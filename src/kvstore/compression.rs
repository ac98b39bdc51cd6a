//! Gradient-compression parameters (reference §3.8). Local stores validate and keep them;
//! the quantisation itself applies to multi-device and distributed reductions.

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradientCompression {
    /// The 2-bit quantisation threshold (> 0).
    pub threshold: f32,
}

impl GradientCompression {
    /// Parses `(key, value)` pairs as MXNet does: `type` is required and must be `2bit`,
    /// `threshold` defaults to 0.5 and must be > 0; unknown keys are ignored.
    pub fn parse<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<GradientCompression> {
        let mut kind = None;
        let mut threshold = 0.5f32;
        for (key, value) in params {
            match key {
                "type" => kind = Some(value),
                "threshold" => {
                    threshold = value.trim().parse::<f32>().map_err(|_| {
                        Error::GradientCompression(format!(
                        "Invalid Parameter format for threshold expect float but value='{value}'"
                    ))
                    })?
                }
                _ => {}
            }
        }
        match kind {
            None => Err(Error::GradientCompression("Required parameter type of string is not presented".into())),
            Some("2bit") if threshold > 0.0 => Ok(GradientCompression { threshold }),
            Some("2bit") => Err(Error::GradientCompression(format!(
                "Check failed: params.threshold > 0 ({threshold} vs. 0) : threshold must be greater than 0"
            ))),
            Some(other) => Err(Error::GradientCompression(format!(
                "Unknown type for gradient compression {other} (supported: 2bit)"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects_like_mxnet() {
        assert_eq!(
            GradientCompression::parse([("type", "2bit")])
                .unwrap()
                .threshold,
            0.5
        );
        let g =
            GradientCompression::parse([("threshold", "0.25"), ("type", "2bit"), ("other", "x")])
                .unwrap();
        assert_eq!(g.threshold, 0.25);
        let msg = |p: &[(&str, &str)]| {
            GradientCompression::parse(p.iter().copied())
                .unwrap_err()
                .to_string()
        };
        assert!(msg(&[("threshold", "1")])
            .contains("Required parameter type of string is not presented"));
        assert!(msg(&[("type", "2bit"), ("threshold", "0")])
            .contains("threshold must be greater than 0"));
        assert!(
            msg(&[("type", "2bit"), ("threshold", "abc")]).contains("expect float but value='abc'")
        );
        assert!(msg(&[("type", "1bit")]).contains("Unknown type for gradient compression 1bit"));
    }
}
