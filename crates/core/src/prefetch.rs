//! Asking the processor for memory ahead of its use, where reads are too scattered for it to
//! guess: a level's calls are spread over a million-call queue, a plan's steps name ids
//! allocated all over it. Each was a cache miss, waited for in turn.

/// Asks for the memory `x` lives in to be brought into the cache. A hint: it changes nothing
/// the program sees, and does nothing off x86-64.
#[inline(always)]
pub fn prefetch<T: ?Sized>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: a prefetch reads nothing into the program and cannot fault; it is given the
        // address of a live value. SSE, which it needs, is part of x86-64.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(x).cast::<i8>()) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}

/// [`prefetch`] of `slice[i]`; nothing when `i` is out of range.
#[inline(always)]
pub fn prefetch_at<T>(slice: &[T], i: usize) {
    if let Some(x) = slice.get(i) {
        prefetch(x);
    }
}
