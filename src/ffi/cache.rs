//! Cache hints: asking the CPU to start loading memory that a copy will soon read or
//! write. A long run of small copies (the arrays of many keys, each in its own allocation)
//! otherwise waits for memory at the start of every array, where the hardware's own
//! prefetching has not caught on yet. A hint never faults and changes no value, whatever
//! the address; on other CPUs it does nothing.

/// The bytes of a cache line.
const LINE: usize = 64;

/// Asks for the lines of `bytes`, to be read soon.
#[inline]
pub fn prefetch(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    for line in bytes.chunks(LINE) {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: a prefetch is a hint: it reads nothing the program sees and cannot fault.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}

/// Asks for the lines of the `len` bytes from address `addr`, to be written soon: their
/// stores then find them in cache, instead of each waiting for its line. Any address will
/// do (an address only, never read through).
#[inline]
pub fn prefetch_write(addr: usize, len: usize) {
    #[cfg(target_arch = "x86_64")]
    for line in (addr..addr.saturating_add(len)).step_by(LINE) {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_ET0};
        // SAFETY: as above; the hint asks for the line in a state that can be written.
        unsafe { _mm_prefetch::<_MM_HINT_ET0>(line as *const i8) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (addr, len);
}

#[cfg(test)]
mod tests {
    use super::{prefetch, prefetch_write};

    #[test]
    fn a_prefetch_changes_nothing() {
        let bytes: Vec<u8> = (0..=255).cycle().take(5000).collect();
        let before = bytes.clone();
        prefetch(&bytes);
        prefetch(&bytes[7..4001]);
        prefetch(&[]);
        prefetch_write(bytes.as_ptr() as usize + 3, 4000);
        prefetch_write(0, 4096);
        prefetch_write(usize::MAX - 10, 100);
        assert_eq!(bytes, before);
    }
}
