//! Typed access for Rust callers: arrays from and to slices of their element type, and
//! (with the `ndarray` feature) `ndarray` views of the data under the array's lock.

use super::dtype::Element;
use super::kernels::{self, Elems, SumOrder};
use super::{Context, NDArray, Shape};
#[cfg(feature = "ndarray")]
use crate::error::Error;
use crate::error::Result;

impl NDArray {
    /// An array of `shape` holding `data`, with the dtype of `T`.
    pub fn from_slice<T: Element>(shape: &[usize], data: &[T], ctx: Context) -> Result<NDArray> {
        let a = NDArray::new(Shape::from(shape), T::DTYPE, ctx)?;
        a.copy_from_slice(data)?;
        Ok(a)
    }

    /// Copies `data` into the array, converting from `T` to the array's dtype; `data`
    /// must hold exactly the array's element count.
    pub fn copy_from_slice<T: Element>(&self, data: &[T]) -> Result<()> {
        self.check_count(data.len())?;
        let src = [Elems {
            bytes: bytemuck::cast_slice(data),
            dtype: T::DTYPE,
        }];
        let dtype = self.dtype();
        self.write(|dst| kernels::sum_into(dst, dtype, &src, SumOrder::Sequential))
    }

    /// The elements, converted to `T`.
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        let mut out = vec![T::zeroed(); self.size()];
        let dtype = self.dtype();
        self.read(|bytes| {
            kernels::sum_into(
                bytemuck::cast_slice_mut(&mut out),
                T::DTYPE,
                &[Elems { bytes, dtype }],
                SumOrder::Sequential,
            )
        })?;
        Ok(out)
    }
}

#[cfg(feature = "ndarray")]
impl NDArray {
    fn check_element<T: Element>(&self) -> Result<()> {
        if T::DTYPE != self.dtype() {
            return Err(Error::invalid(format!(
                "the array holds {}, not {}",
                self.dtype().name(),
                T::DTYPE.name()
            )));
        }
        Ok(())
    }

    fn dims(&self) -> Vec<usize> {
        self.shape().0.iter().map(|&d| d as usize).collect()
    }

    /// Runs `f` on a typed view of the data under the array's read lock. `T` must be the
    /// array's element type.
    ///
    /// ```
    /// use mxkv::ndarray::{Context, NDArray};
    ///
    /// let a = NDArray::from_slice(&[2, 3], &[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], Context::cpu(0))?;
    /// let column_sums = a.view(|v: ndarray::ArrayViewD<f32>| v.sum_axis(ndarray::Axis(0)))?;
    /// assert_eq!(column_sums.as_slice().unwrap(), &[5.0, 7.0, 9.0]);
    /// # Ok::<(), mxkv::Error>(())
    /// ```
    pub fn view<T: Element, R>(
        &self,
        f: impl FnOnce(ndarray::ArrayViewD<'_, T>) -> R,
    ) -> Result<R> {
        self.check_element::<T>()?;
        let dims = self.dims();
        self.read(|bytes| {
            let view = ndarray::ArrayViewD::from_shape(dims, bytemuck::cast_slice(bytes))
                .expect("the view's shape matches its element count");
            f(view)
        })
    }

    /// Runs `f` on a typed mutable view of the data under the array's write lock.
    ///
    /// ```
    /// use mxkv::ndarray::{Context, NDArray};
    ///
    /// let a = NDArray::from_slice(&[3], &[1.0f64, 2.0, 3.0], Context::cpu(0))?;
    /// a.view_mut(|mut v: ndarray::ArrayViewMutD<f64>| v *= 10.0)?;
    /// assert_eq!(a.to_vec::<f64>()?, [10.0, 20.0, 30.0]);
    /// # Ok::<(), mxkv::Error>(())
    /// ```
    pub fn view_mut<T: Element, R>(
        &self,
        f: impl FnOnce(ndarray::ArrayViewMutD<'_, T>) -> R,
    ) -> Result<R> {
        self.check_element::<T>()?;
        let dims = self.dims();
        self.write(|bytes| {
            let view = ndarray::ArrayViewMutD::from_shape(dims, bytemuck::cast_slice_mut(bytes))
                .expect("the view's shape matches its element count");
            f(view)
        })
    }
}

#[cfg(test)]
mod tests {
    use half::f16;

    use crate::ndarray::{Context, DType, NDArray};

    #[test]
    fn typed_round_trips_and_conversions() {
        let a = NDArray::from_slice(&[2, 2], &[1i32, -2, 3, 4], Context::cpu(0)).unwrap();
        assert_eq!(a.dtype(), DType::I32);
        assert_eq!(a.to_vec::<i32>().unwrap(), vec![1, -2, 3, 4]);
        assert_eq!(a.to_vec::<f64>().unwrap(), vec![1.0, -2.0, 3.0, 4.0]);
        let h = NDArray::from_slice(
            &[2],
            &[f16::from_f32(0.5), f16::from_f32(2.0)],
            Context::cpu(0),
        )
        .unwrap();
        assert_eq!(h.dtype(), DType::F16);
        assert_eq!(h.to_vec::<f32>().unwrap(), vec![0.5, 2.0]);
        a.copy_from_slice(&[0.9f32, 1.9, -3.0, 8.0]).unwrap();
        assert_eq!(a.to_vec::<i32>().unwrap(), vec![0, 1, -3, 8]);
    }

    #[test]
    fn wrong_counts_are_errors() {
        assert!(NDArray::from_slice(&[3], &[1f32, 2.0], Context::cpu(0)).is_err());
        let a = NDArray::from_slice(&[2], &[1f32, 2.0], Context::cpu(0)).unwrap();
        assert!(a.copy_from_slice(&[1f32]).is_err());
        assert!(NDArray::none().to_vec::<f32>().is_err());
    }

    #[cfg(feature = "ndarray")]
    #[test]
    fn views_need_the_element_type_and_see_views() {
        let a = NDArray::from_slice(&[2, 2], &[1f32, 2.0, 3.0, 4.0], Context::cpu(0)).unwrap();
        let err = a.view(|_: ndarray::ArrayViewD<f64>| ()).unwrap_err();
        assert_eq!(err.to_string(), "the array holds float32, not float64");
        let row = a.at(1).unwrap();
        row.view_mut(|mut v: ndarray::ArrayViewMutD<f32>| v.fill(0.0))
            .unwrap();
        assert_eq!(a.to_vec::<f32>().unwrap(), vec![1.0, 2.0, 0.0, 0.0]);
        let shape = a
            .view(|v: ndarray::ArrayViewD<f32>| v.shape().to_vec())
            .unwrap();
        assert_eq!(shape, vec![2, 2]);
    }
}
