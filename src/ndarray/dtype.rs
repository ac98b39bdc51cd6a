//! Element types (reference §2.1 codes) and the conversions between them.

use half::{bf16, f16};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    F32 = 0,
    F64 = 1,
    F16 = 2,
    U8 = 3,
    I32 = 4,
    I8 = 5,
    I64 = 6,
    Bool = 7,
    I16 = 8,
    U16 = 9,
    U32 = 10,
    U64 = 11,
    BF16 = 12,
}

impl DType {
    /// Every dtype, in code order (`ALL[c].code() == c`).
    pub const ALL: [DType; 13] = {
        use DType::*;
        [
            F32, F64, F16, U8, I32, I8, I64, Bool, I16, U16, U32, U64, BF16,
        ]
    };

    pub fn from_code(code: i32) -> Result<DType> {
        usize::try_from(code)
            .ok()
            .and_then(|i| DType::ALL.get(i).copied())
            .ok_or_else(|| Error::UnknownDType {
                code,
                known: DType::known(),
            })
    }

    /// The codes and names, for messages: `0-12: float32, float64, …`.
    fn known() -> String {
        let names: Vec<&str> = DType::ALL.iter().map(|d| d.name()).collect();
        format!("0-{}: {}", DType::ALL.len() - 1, names.join(", "))
    }

    pub fn code(self) -> i32 {
        self as i32
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        use DType::*;
        match self {
            U8 | I8 | Bool => 1,
            F16 | BF16 | I16 | U16 => 2,
            F32 | I32 | U32 => 4,
            F64 | I64 | U64 => 8,
        }
    }

    pub fn name(self) -> &'static str {
        use DType::*;
        match self {
            F32 => "float32",
            F64 => "float64",
            F16 => "float16",
            U8 => "uint8",
            I32 => "int32",
            I8 => "int8",
            I64 => "int64",
            Bool => "bool",
            I16 => "int16",
            U16 => "uint16",
            U32 => "uint32",
            U64 => "uint64",
            BF16 => "bfloat16",
        }
    }
}

/// The bool dtype: one byte, 0 or 1.
#[derive(Debug, Clone, Copy, PartialEq, Default, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(transparent)]
pub struct Bool8(pub u8);

/// An element type of an array. Sums are formed in an accumulator type chosen by the
/// destination: f32 for float32/float16/bfloat16 (so half-precision sums do not lose
/// precision on the way), f64 for float64, i64 (wrapping) for the integer types.
pub trait Element: bytemuck::Pod + Send + Sync + 'static {
    const DTYPE: DType;
    fn to_f32(self) -> f32;
    fn to_f64(self) -> f64;
    fn to_i64(self) -> i64;
    fn from_f32(v: f32) -> Self;
    fn from_f64(v: f64) -> Self;
    fn from_i64(v: i64) -> Self;
}

macro_rules! primitive_element {
    ($t:ty, $d:ident) => {
        impl Element for $t {
            const DTYPE: DType = DType::$d;
            #[inline(always)]
            fn to_f32(self) -> f32 {
                self as f32
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn to_i64(self) -> i64 {
                self as i64
            }
            #[inline(always)]
            fn from_f32(v: f32) -> Self {
                v as $t
            }
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn from_i64(v: i64) -> Self {
                v as $t
            }
        }
    };
}

primitive_element!(f32, F32);
primitive_element!(f64, F64);
primitive_element!(u8, U8);
primitive_element!(i32, I32);
primitive_element!(i8, I8);
primitive_element!(i64, I64);
primitive_element!(i16, I16);
primitive_element!(u16, U16);
primitive_element!(u32, U32);
primitive_element!(u64, U64);

macro_rules! half_element {
    ($t:ty, $d:ident) => {
        impl Element for $t {
            const DTYPE: DType = DType::$d;
            #[inline(always)]
            fn to_f32(self) -> f32 {
                <$t>::to_f32(self)
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                <$t>::to_f64(self)
            }
            #[inline(always)]
            fn to_i64(self) -> i64 {
                <$t>::to_f32(self) as i64
            }
            #[inline(always)]
            fn from_f32(v: f32) -> Self {
                <$t>::from_f32(v)
            }
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                <$t>::from_f64(v)
            }
            #[inline(always)]
            fn from_i64(v: i64) -> Self {
                <$t>::from_f64(v as f64)
            }
        }
    };
}

half_element!(f16, F16);
half_element!(bf16, BF16);

impl Element for Bool8 {
    const DTYPE: DType = DType::Bool;
    fn to_f32(self) -> f32 {
        self.0 as f32
    }
    fn to_f64(self) -> f64 {
        self.0 as f64
    }
    fn to_i64(self) -> i64 {
        self.0 as i64
    }
    fn from_f32(v: f32) -> Self {
        Bool8((v != 0.0) as u8)
    }
    fn from_f64(v: f64) -> Self {
        Bool8((v != 0.0) as u8)
    }
    fn from_i64(v: i64) -> Self {
        Bool8((v != 0) as u8)
    }
}

/// Runs `$body` with `$t` bound to the Rust element type of `$dtype`.
macro_rules! with_dtype {
    ($dtype:expr, $t:ident => $body:expr) => {{
        use $crate::ndarray::dtype::{Bool8, DType};
        match $dtype {
            DType::F32 => {
                type $t = f32;
                $body
            }
            DType::F64 => {
                type $t = f64;
                $body
            }
            DType::F16 => {
                type $t = half::f16;
                $body
            }
            DType::U8 => {
                type $t = u8;
                $body
            }
            DType::I32 => {
                type $t = i32;
                $body
            }
            DType::I8 => {
                type $t = i8;
                $body
            }
            DType::I64 => {
                type $t = i64;
                $body
            }
            DType::Bool => {
                type $t = Bool8;
                $body
            }
            DType::I16 => {
                type $t = i16;
                $body
            }
            DType::U16 => {
                type $t = u16;
                $body
            }
            DType::U32 => {
                type $t = u32;
                $body
            }
            DType::U64 => {
                type $t = u64;
                $body
            }
            DType::BF16 => {
                type $t = half::bf16;
                $body
            }
        }
    }};
}
pub(crate) use with_dtype;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_names_and_the_message_come_from_one_list() {
        for (i, d) in DType::ALL.iter().enumerate() {
            assert_eq!(d.code(), i as i32);
            assert_eq!(DType::from_code(i as i32).unwrap(), *d);
        }
        assert_eq!(
            DType::from_code(13).unwrap_err().to_string(),
            "unknown dtype code 13 (known: 0-12: float32, float64, float16, uint8, int32, int8, int64, bool, int16, uint16, uint32, uint64, bfloat16)"
        );
        assert!(DType::from_code(-1).is_err());
    }

    #[test]
    fn each_element_type_names_its_dtype() {
        fn size_of_dtype<T: Element>() -> (usize, usize) {
            (T::DTYPE.size(), std::mem::size_of::<T>())
        }
        for (a, b) in [
            size_of_dtype::<f32>(),
            size_of_dtype::<half::bf16>(),
            size_of_dtype::<Bool8>(),
            size_of_dtype::<u64>(),
        ] {
            assert_eq!(a, b);
        }
        assert_eq!(<half::f16 as Element>::DTYPE, DType::F16);
        assert_eq!(<Bool8 as Element>::DTYPE, DType::Bool);
    }
}
