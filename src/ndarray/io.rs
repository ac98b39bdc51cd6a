//! MXNet's binary array format (reference §2.2), so that `.params` files move freely
//! between MXNet and mxkv. All integers are little-endian.
//!
//! file   = u64 0x112, u64 0, u64 count, count × array, u64 name_count, name_count × name
//! array  = u32 magic, i32 stype, shape, [if not none: i32 dev_type, i32 dev_id, i32 dtype, data]
//! shape  = i32 ndim, ndim × i64
//! name   = u64 len, len bytes

use super::{Context, DType, NDArray, Shape, Storage};
use crate::error::{Error, Result};

const FILE_MAGIC: u64 = 0x112;
/// Legacy-shape arrays (what MXNet 1.x writes by default).
const ARRAY_MAGIC_V2: u32 = 0xF993_FAC9;
/// numpy-shape arrays (`ndim == -1` means unknown, i.e. none).
const ARRAY_MAGIC_V3: u32 = 0xF993_FACA;

/// A whole `.params` file: arrays and (empty, or one per array) names.
pub fn save(arrays: &[NDArray], names: &[String]) -> Result<Vec<u8>> {
    if !names.is_empty() && names.len() != arrays.len() {
        return Err(Error::invalid(format!(
            "{} arrays but {} names",
            arrays.len(),
            names.len()
        )));
    }
    let mut out = Vec::new();
    out.extend_from_slice(&FILE_MAGIC.to_le_bytes());
    out.extend_from_slice(&0u64.to_le_bytes());
    out.extend_from_slice(&(arrays.len() as u64).to_le_bytes());
    for a in arrays {
        save_array(a, &mut out)?;
    }
    out.extend_from_slice(&(names.len() as u64).to_le_bytes());
    for n in names {
        out.extend_from_slice(&(n.len() as u64).to_le_bytes());
        out.extend_from_slice(n.as_bytes());
    }
    Ok(out)
}

/// One array record (the `MXNDArraySaveRawBytes` format).
pub fn save_array(a: &NDArray, out: &mut Vec<u8>) -> Result<()> {
    out.extend_from_slice(&ARRAY_MAGIC_V2.to_le_bytes());
    out.extend_from_slice(&(a.storage() as i32).to_le_bytes());
    out.extend_from_slice(&(a.shape().ndim() as i32).to_le_bytes());
    for &d in &a.shape().0 {
        out.extend_from_slice(&d.to_le_bytes());
    }
    if a.is_none() {
        return Ok(());
    }
    let ctx = a.context();
    out.extend_from_slice(&ctx.dev_type.to_le_bytes());
    out.extend_from_slice(&ctx.dev_id.to_le_bytes());
    out.extend_from_slice(&a.dtype().code().to_le_bytes());
    a.read(|bytes| out.extend_from_slice(bytes))
}

pub fn load(bytes: &[u8]) -> Result<(Vec<NDArray>, Vec<String>)> {
    let mut r = Reader { bytes, pos: 0 };
    let magic = r.u64()?;
    if magic != FILE_MAGIC {
        return Err(Error::Format(format!(
            "not an MXNet array file (header 0x{magic:x}, expected 0x112)"
        )));
    }
    r.u64()?; // reserved
    let count = r.count(4)?;
    let arrays = (0..count)
        .map(|_| load_record(&mut r))
        .collect::<Result<Vec<_>>>()?;
    let name_count = r.count(8)?;
    if name_count != 0 && name_count != count {
        return Err(Error::Format(format!(
            "{count} arrays but {name_count} names"
        )));
    }
    let names = (0..name_count)
        .map(|_| {
            let len = r.count(1)?;
            String::from_utf8(r.take(len)?.to_vec())
                .map_err(|_| Error::Format("a name is not UTF-8".into()))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((arrays, names))
}

/// One array record, which must fill `bytes` exactly.
pub fn load_array(bytes: &[u8]) -> Result<NDArray> {
    let mut r = Reader { bytes, pos: 0 };
    let a = load_record(&mut r)?;
    if r.pos != bytes.len() {
        return Err(Error::Format(format!(
            "{} bytes left over after the array",
            bytes.len() - r.pos
        )));
    }
    Ok(a)
}

fn load_record(r: &mut Reader<'_>) -> Result<NDArray> {
    let magic = r.u32()?;
    if magic != ARRAY_MAGIC_V2 && magic != ARRAY_MAGIC_V3 {
        return Err(Error::Format(format!(
            "bad array magic 0x{magic:08x} at byte {}",
            r.pos - 4
        )));
    }
    match Storage::from_code(r.i32()?).map_err(|e| Error::Format(e.to_string()))? {
        Storage::Dense => {}
        Storage::RowSparse => return Err(Error::UnsupportedStorage("row_sparse")),
        Storage::Csr => return Err(Error::UnsupportedStorage("csr")),
    }
    let ndim = r.i32()?;
    if ndim == -1 && magic == ARRAY_MAGIC_V3 || ndim == 0 && magic == ARRAY_MAGIC_V2 {
        return Ok(NDArray::none());
    }
    let ndim = usize::try_from(ndim).map_err(|_| Error::Format(format!("bad ndim {ndim}")))?;
    let dims = (0..r.count_of(ndim, 8)?)
        .map(|_| r.i64())
        .collect::<Result<Vec<_>>>()?;
    let shape = Shape(dims);
    let dev_type = r.i32()?;
    let dev_id = r.i32()?;
    // Arrays saved on a GPU load onto the CPU of the same number.
    let ctx = if dev_type == Context::GPU {
        Context::new(Context::CPU, dev_id)
    } else {
        Context::new(dev_type, dev_id)
    }
    .map_err(|e| Error::Format(e.to_string()))?;
    let dtype = DType::from_code(r.i32()?)?;
    let size = shape.size().map_err(|e| Error::Format(e.to_string()))?;
    let nbytes = r.count_of(size, dtype.size())? * dtype.size();
    let data = r.take(nbytes)?;
    let a = NDArray::new(shape, dtype, ctx)?;
    a.write(|dst| dst.copy_from_slice(data))?;
    Ok(a)
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| {
                Error::Format(format!(
                    "truncated: needed {n} bytes at byte {}, only {} left",
                    self.pos,
                    self.bytes.len() - self.pos
                ))
            })?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.take(N)?.try_into().expect("take returns N bytes"))
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    /// A u64 count of items of at least `min_item` bytes each, checked against what is left.
    fn count(&mut self, min_item: usize) -> Result<usize> {
        let n = self.u64()?;
        let n = usize::try_from(n).map_err(|_| Error::Format(format!("count {n} is too large")))?;
        self.count_of(n, min_item)
    }

    fn count_of(&self, n: usize, item: usize) -> Result<usize> {
        let left = self.bytes.len() - self.pos;
        match n.checked_mul(item) {
            Some(b) if b <= left => Ok(n),
            _ => Err(Error::Format(format!(
                "truncated: {n} items of {item} bytes announced, {left} bytes left"
            ))),
        }
    }
}

/// Reads a file into memory, naming the path in errors.
pub fn read_file(path: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::Io {
        path: path.to_string(),
        detail: e.to_string(),
    })
}

/// Writes a file, naming the path in errors.
pub fn write_file(path: &str, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| Error::Io {
        path: path.to_string(),
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_shape_dtype_context_values_and_names() {
        let a = NDArray::new(Shape(vec![2, 3]), DType::F64, Context::new(3, 2).unwrap()).unwrap();
        a.copy_from_bytes(bytemuck::cast_slice(&[1.0f64, 2., 3., 4., 5., 6.]), 6)
            .unwrap();
        let b = NDArray::new(Shape(vec![4]), DType::I8, Context::cpu(0)).unwrap();
        let bytes = save(
            &[a.clone(), b.clone(), NDArray::none()],
            &["w".into(), "b".into(), "n".into()],
        )
        .unwrap();
        let (arrays, names) = load(&bytes).unwrap();
        assert_eq!(names, vec!["w", "b", "n"]);
        assert_eq!(arrays[0].shape(), a.shape());
        assert_eq!(arrays[0].dtype(), DType::F64);
        assert_eq!(arrays[0].context(), a.context());
        assert_eq!(arrays[0].to_bytes().unwrap(), a.to_bytes().unwrap());
        assert_eq!(arrays[1].dtype(), DType::I8);
        assert!(arrays[2].is_none());
        assert_eq!(save(&arrays, &names).unwrap(), bytes);
    }

    #[test]
    fn truncated_and_garbage_input_are_errors() {
        let a = NDArray::new(Shape(vec![8]), DType::F32, Context::cpu(0)).unwrap();
        let bytes = save(&[a], &[]).unwrap();
        for cut in 0..bytes.len() {
            assert!(load(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert!(load(b"garbage garbage garbage").is_err());
        let mut huge = bytes.clone();
        huge[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(load(&huge).is_err());
    }

    #[test]
    fn sparse_and_unknown_storage_types_are_errors() {
        let a = NDArray::new(Shape(vec![8]), DType::F32, Context::cpu(0)).unwrap();
        let bytes = save(&[a], &[]).unwrap();
        // Header: magic, reserved, count (8 bytes each); then the record's magic and stype.
        let with_stype = |stype: i32| {
            let mut b = bytes.clone();
            b[28..32].copy_from_slice(&stype.to_le_bytes());
            load(&b).unwrap_err().to_string()
        };
        assert!(with_stype(1).contains("row_sparse storage is not supported"));
        assert!(with_stype(2).contains("csr storage is not supported"));
        assert!(with_stype(7).contains("unknown storage type 7"));
        assert!(with_stype(-1).contains("unknown storage type -1"));
    }
}
