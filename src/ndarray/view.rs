//! Views: Slice, At and Reshape give arrays that share their source's memory.

use super::array::View;
use super::{NDArray, Shape};
use crate::error::{Error, Result};

impl NDArray {
    /// Rows `begin..end` along the first dimension, sharing memory.
    pub fn slice(&self, begin: usize, end: usize) -> Result<NDArray> {
        self.dense("cannot slice it")?;
        let rows = *self
            .0
            .shape
            .0
            .first()
            .ok_or_else(|| Error::invalid("cannot slice a 0-dimensional array"))?
            as usize;
        if begin > end || end > rows {
            return Err(Error::invalid(format!(
                "slice [{begin}, {end}) is out of range for shape {} (first dimension {rows})",
                self.0.shape
            )));
        }
        let row = self.0.size.checked_div(rows).unwrap_or(0);
        let mut shape = self.0.shape.clone();
        shape.0[0] = (end - begin) as i64;
        Ok(NDArray::of(View {
            offset: self.0.offset + begin * row,
            size: (end - begin) * row,
            shape,
            ..(*self.0).clone()
        }))
    }

    /// Row `idx`, without the first dimension (a 1-D array gives shape [1]), sharing memory.
    pub fn at(&self, idx: usize) -> Result<NDArray> {
        self.dense("cannot index it")?;
        let rows = self.0.shape.0.first().copied().unwrap_or(0) as usize;
        if idx >= rows {
            return Err(Error::invalid(format!(
                "index {idx} is out of range for shape {} (first dimension {rows})",
                self.0.shape
            )));
        }
        let row = self.slice(idx, idx + 1)?;
        if self.0.shape.ndim() > 1 {
            Ok(NDArray::of(View {
                shape: Shape(self.0.shape.0[1..].to_vec()),
                ..(*row.0).clone()
            }))
        } else {
            Ok(row)
        }
    }

    /// The same elements under another shape (see [`Shape::infer`]).
    pub fn reshape(&self, dims: &[i64], reverse: bool) -> Result<NDArray> {
        self.dense("cannot reshape it")?;
        let shape = self.0.shape.infer(dims, reverse)?;
        if shape.size()? != self.0.size {
            return Err(Error::invalid(format!(
                "cannot reshape {} ({} elements) to {} ({} elements)",
                self.0.shape,
                self.0.size,
                shape,
                shape.size()?
            )));
        }
        Ok(NDArray::of(View {
            shape,
            ..(*self.0).clone()
        }))
    }
}

#[cfg(test)]
mod tests {
    use crate::ndarray::{Context, NDArray, Shape};

    #[test]
    fn views_share_memory() {
        let a = NDArray::from_slice(&[3, 2], &[1f32, 2., 3., 4., 5., 6.], Context::cpu(0)).unwrap();
        let row = a.at(1).unwrap();
        assert_eq!(row.shape(), &Shape(vec![2]));
        assert_eq!(row.to_vec::<f32>().unwrap(), vec![3., 4.]);
        row.copy_from_slice(&[9f32, 9.]).unwrap();
        assert_eq!(a.to_vec::<f32>().unwrap(), vec![1., 2., 9., 9., 5., 6.]);
        let s = a.slice(1, 3).unwrap();
        assert_eq!(s.to_vec::<f32>().unwrap(), vec![9., 9., 5., 6.]);
        let r = a.reshape(&[-1, 3], false).unwrap();
        assert_eq!(r.shape(), &Shape(vec![2, 3]));
        let r = a.reshape(&[0, -1], false).unwrap();
        assert_eq!(r.shape(), &Shape(vec![3, 2]));
        assert!(a.reshape(&[4, -1], false).is_err());
        assert!(a.reshape(&[-1, -1], false).is_err());
        assert!(a.slice(2, 4).is_err());
        assert!(a.at(3).is_err());
    }
}
