//! The dimensions of an array, and how Reshape infers new ones.

use std::fmt;

use crate::error::{Error, Result};

/// The dimensions of an array.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Shape(pub Vec<i64>);

impl Shape {
    /// The element count, or an error when a dimension is negative or the product overflows.
    pub fn size(&self) -> Result<usize> {
        let mut n: usize = 1;
        for &d in &self.0 {
            let d = usize::try_from(d)
                .map_err(|_| Error::invalid(format!("shape {self} has a negative dimension")))?;
            n = n.checked_mul(d).ok_or_else(|| Error::TooLarge {
                shape: self.to_string(),
                detail: "the element count overflows",
            })?;
        }
        Ok(n)
    }

    pub fn ndim(&self) -> usize {
        self.0.len()
    }

    /// The shape Reshape gives: `dims` may hold one -1 (inferred from the element count)
    /// and 0s (which copy the matching dimension of `self`; `reverse` matches from the
    /// right).
    pub fn infer(&self, dims: &[i64], reverse: bool) -> Result<Shape> {
        let n = self.ndim();
        let mut out = Vec::with_capacity(dims.len());
        let mut unknown = None;
        for (i, &d) in dims.iter().enumerate() {
            let copied = if reverse {
                (n + i).checked_sub(dims.len())
            } else {
                Some(i)
            };
            out.push(match d {
                0 => *copied.and_then(|j| self.0.get(j)).ok_or_else(|| {
                    Error::invalid(format!(
                        "reshape dimension {i} is 0 (copy), but {self} has no matching dimension"
                    ))
                })?,
                -1 => {
                    if unknown.replace(i).is_some() {
                        return Err(Error::invalid(format!(
                            "reshape {dims:?}: only one dimension can be -1"
                        )));
                    }
                    1
                }
                d if d > 0 => d,
                d => {
                    return Err(Error::invalid(format!(
                        "reshape {dims:?}: dimension {d} is not supported (use -1 or 0)"
                    )))
                }
            });
        }
        if let Some(i) = unknown {
            let known: usize = Shape(out.clone()).size()?;
            let total = self.size()?;
            if known == 0 || total % known != 0 {
                return Err(Error::invalid(format!(
                    "cannot reshape {self} to {dims:?}: the -1 dimension cannot be inferred"
                )));
            }
            out[i] = (total / known) as i64;
        }
        Ok(Shape(out))
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, ",")?;
            }
            write!(f, "{d}")?;
        }
        write!(f, "]")
    }
}

impl From<&[usize]> for Shape {
    fn from(dims: &[usize]) -> Shape {
        Shape(dims.iter().map(|&d| d as i64).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_text() {
        assert_eq!(Shape(vec![2, 3, 4]).size().unwrap(), 24);
        assert_eq!(Shape(vec![]).size().unwrap(), 1);
        assert!(Shape(vec![2, -1]).size().is_err());
        assert!(Shape(vec![1 << 40, 1 << 40]).size().is_err());
        assert_eq!(Shape(vec![3, 1, 2]).to_string(), "[3,1,2]");
    }

    #[test]
    fn reshape_inference() {
        let s = Shape(vec![4, 3, 2]);
        assert_eq!(s.infer(&[-1, 6], false).unwrap(), Shape(vec![4, 6]));
        assert_eq!(s.infer(&[0, -1], false).unwrap(), Shape(vec![4, 6]));
        assert_eq!(s.infer(&[-1, 0], true).unwrap(), Shape(vec![12, 2]));
        assert!(s.infer(&[-1, -1], false).is_err());
        assert!(s.infer(&[-1, 5], false).is_err());
        assert!(s.infer(&[0, 0, 0, 0], false).is_err());
        assert!(s.infer(&[-2], false).is_err());
    }
}
