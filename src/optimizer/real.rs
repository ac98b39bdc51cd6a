//! The arithmetic types of the update rules: `f32`, `f64`, and [`Half`], float16 computed
//! as MXNet's `mshadow::half_t` does it — every operation in float32, rounded back to
//! float16 — so that one generic body gives MXNet's results for each dtype.

use std::ops::{Add, Div, Mul, Neg, Sub};

use half::f16;

/// A floating-point element type of the rules. Parameters arrive as float32 (MXNet's
/// `float` fields) and are cast to the element type once, as MXNet's kernels do.
pub trait Real:
    Copy
    + Send
    + Sync
    + PartialOrd
    + bytemuck::Pod
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + 'static
{
    fn of_f32(v: f32) -> Self;
    fn of_f64(v: f64) -> Self;
    fn to_f32(self) -> f32;
    fn to_f64(self) -> f64;
    fn sqrt(self) -> Self;
    fn powf(self, e: Self) -> Self;

    fn zero() -> Self {
        Self::of_f32(0.0)
    }
    fn one() -> Self {
        Self::of_f32(1.0)
    }
    /// `a / (1. - b)` with a C++ `double` literal: computed in double for float32 and
    /// float64, in float32 (rounded to half) for float16.
    fn div_one_minus_f64(self, b: Self) -> Self;
}

impl Real for f32 {
    fn of_f32(v: f32) -> f32 {
        v
    }
    fn of_f64(v: f64) -> f32 {
        v as f32
    }
    fn to_f32(self) -> f32 {
        self
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn sqrt(self) -> f32 {
        f32::sqrt(self)
    }
    fn powf(self, e: f32) -> f32 {
        f32::powf(self, e)
    }
    fn div_one_minus_f64(self, b: f32) -> f32 {
        (self as f64 / (1.0 - b as f64)) as f32
    }
}

impl Real for f64 {
    fn of_f32(v: f32) -> f64 {
        v as f64
    }
    fn of_f64(v: f64) -> f64 {
        v
    }
    fn to_f32(self) -> f32 {
        self as f32
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn sqrt(self) -> f64 {
        f64::sqrt(self)
    }
    fn powf(self, e: f64) -> f64 {
        f64::powf(self, e)
    }
    fn div_one_minus_f64(self, b: f64) -> f64 {
        self / (1.0 - b)
    }
}

/// float16 with `half_t` arithmetic: each operation rounds its float32 result to float16.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(transparent)]
pub struct Half(pub f16);

impl Half {
    fn round(v: f32) -> Half {
        Half(f16::from_f32(v))
    }
}

macro_rules! half_op {
    ($trait:ident, $method:ident, $op:tt) => {
        impl $trait for Half {
            type Output = Half;
            #[inline]
            fn $method(self, rhs: Half) -> Half {
                Half::round(self.0.to_f32() $op rhs.0.to_f32())
            }
        }
    };
}
half_op!(Add, add, +);
half_op!(Sub, sub, -);
half_op!(Mul, mul, *);
half_op!(Div, div, /);

impl Neg for Half {
    type Output = Half;
    fn neg(self) -> Half {
        Half(-self.0)
    }
}

impl Real for Half {
    fn of_f32(v: f32) -> Half {
        Half::round(v)
    }
    fn of_f64(v: f64) -> Half {
        Half(f16::from_f64(v))
    }
    fn to_f32(self) -> f32 {
        self.0.to_f32()
    }
    fn to_f64(self) -> f64 {
        self.0.to_f64()
    }
    fn sqrt(self) -> Half {
        Half::round(self.to_f32().sqrt())
    }
    fn powf(self, e: Half) -> Half {
        Half::round(self.to_f32().powf(e.to_f32()))
    }
    fn div_one_minus_f64(self, b: Half) -> Half {
        self / (Half::one() - b)
    }
}

/// mshadow's `clip::Map(x, bound)`: NaN passes through.
#[inline]
pub fn clip<T: Real>(x: T, bound: T) -> T {
    if x > bound {
        bound
    } else if x < -bound {
        -bound
    } else {
        x
    }
}

/// mshadow's `sign::Map`: 1, -1 or 0 (NaN gives 0).
#[inline]
pub fn sign<T: Real>(x: T) -> T {
    if x > T::zero() {
        T::one()
    } else if x < T::zero() {
        -T::one()
    } else {
        T::zero()
    }
}

#[inline]
pub fn abs<T: Real>(x: T) -> T {
    if x < T::zero() {
        -x
    } else {
        x
    }
}

/// mshadow's `maximum::Map`: `a > b ? a : b`.
#[inline]
pub fn maximum<T: Real>(a: T, b: T) -> T {
    if a > b {
        a
    } else {
        b
    }
}

/// mshadow's `minimum::Map`: `a < b ? a : b`.
#[inline]
pub fn minimum<T: Real>(a: T, b: T) -> T {
    if a < b {
        a
    } else {
        b
    }
}

/// A weight or gradient element of a multi-precision rule (float16, or float32 itself),
/// read as float32 and written back from float32.
pub trait Storage: Copy + Send + Sync + bytemuck::Pod + 'static {
    fn widen(self) -> f32;
    fn narrow(v: f32) -> Self;
}

impl Storage for f32 {
    fn widen(self) -> f32 {
        self
    }
    fn narrow(v: f32) -> f32 {
        v
    }
}

impl Storage for Half {
    fn widen(self) -> f32 {
        self.0.to_f32()
    }
    fn narrow(v: f32) -> Half {
        Half::round(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_operations_round_each_result_to_float16() {
        let third = Half::of_f32(1.0) / Half::of_f32(3.0);
        assert_eq!(third.0, f16::from_f32(1.0 / 3.0));
        // 2048 + 1 is not representable in float16: the sum rounds back to 2048.
        assert_eq!((Half::of_f32(2048.0) + Half::of_f32(1.0)).to_f32(), 2048.0);
        assert_eq!(
            (Half::of_f32(0.1) * Half::of_f32(0.1)).0,
            f16::from_f32(f16::from_f32(0.1).to_f32() * f16::from_f32(0.1).to_f32())
        );
    }

    #[test]
    fn clip_sign_and_extrema_follow_mshadow() {
        assert_eq!(clip(5.0f32, 2.0), 2.0);
        assert_eq!(clip(-5.0f32, 2.0), -2.0);
        assert!(clip(f32::NAN, 2.0).is_nan());
        assert_eq!(sign(-0.5f64), -1.0);
        assert_eq!(sign(0.0f32), 0.0);
        assert_eq!(sign(f32::NAN), 0.0);
        assert_eq!(maximum(f32::NAN, 1.0), 1.0);
        assert!(maximum(1.0, f32::NAN).is_nan());
        assert_eq!(abs(-3.0f32), 3.0);
        assert_eq!(minimum(1.0f32, 2.0), 1.0);
    }
}
