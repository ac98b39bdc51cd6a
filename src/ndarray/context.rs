//! Where an array lives. mxkv is a CPU library: the three CPU device types are accepted
//! (reference §2.1), and each keeps its code so that `GetContext` reports what was asked.

use crate::error::{Error, Result};

/// The device types mxkv accepts, with MXNet's codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Device {
    Cpu = 1,
    CpuPinned = 3,
    CpuShared = 5,
}

/// cbindgen:ignore
impl Device {
    /// MXNet's code for a GPU, which mxkv refuses (and maps to the CPU in loaded files).
    pub const GPU_CODE: i32 = 2;

    /// The device of an MXNet `dev_type` code; gpu (2) and unknown codes are errors.
    pub fn from_code(code: i32) -> Result<Device> {
        match code {
            1 => Ok(Device::Cpu),
            3 => Ok(Device::CpuPinned),
            5 => Ok(Device::CpuShared),
            2 => Err(Error::InvalidContext(
                "gpu requested (dev_type 2), but mxkv runs on CPUs only: use cpu (1), cpu_pinned (3) or cpu_shared (5)".into(),
            )),
            _ => Err(Error::InvalidContext(format!(
                "unknown dev_type {code} (known: 1 cpu, 2 gpu, 3 cpu_pinned, 5 cpu_shared)"
            ))),
        }
    }

    /// MXNet's `dev_type` code.
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// A device and its id (0–[`Context::MAX_DEV_ID`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Context {
    pub device: Device,
    pub dev_id: i32,
}

/// cbindgen:ignore
impl Context {
    /// Highest dev_id accepted.
    pub const MAX_DEV_ID: i32 = 63;

    /// A checked context.
    pub fn new(device: Device, dev_id: i32) -> Result<Context> {
        if !(0..=Context::MAX_DEV_ID).contains(&dev_id) {
            return Err(Error::InvalidContext(format!(
                "dev_id {dev_id} is out of range 0..={}",
                Context::MAX_DEV_ID
            )));
        }
        Ok(Context { device, dev_id })
    }

    pub const fn cpu(dev_id: i32) -> Context {
        Context {
            device: Device::Cpu,
            dev_id,
        }
    }

    pub const fn cpu_pinned(dev_id: i32) -> Context {
        Context {
            device: Device::CpuPinned,
            dev_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_are_checked() {
        assert!(Device::from_code(2)
            .unwrap_err()
            .to_string()
            .contains("CPUs only"));
        assert!(Device::from_code(4)
            .unwrap_err()
            .to_string()
            .contains("unknown dev_type 4"));
        assert_eq!(Device::from_code(3).unwrap(), Device::CpuPinned);
        assert_eq!(Device::CpuShared.code(), 5);
        assert!(Context::new(Device::Cpu, 64).is_err());
        assert!(Context::new(Device::Cpu, -1).is_err());
        assert_eq!(
            Context::new(Device::CpuPinned, 63).unwrap(),
            Context::cpu_pinned(63)
        );
    }
}
