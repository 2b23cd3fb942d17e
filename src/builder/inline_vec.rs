//! [`InlineVec`]: a vector that keeps its first `N` elements in place and
//! moves to the heap only beyond that — so that the common short chain is built,
//! encoded and validated without allocating for its parts. Safe code only: the
//! inline array is always fully initialised (its elements are `FromZeros`).

use std::ops::{Deref, DerefMut};

use zerocopy::FromZeros;

/// Up to `N` elements in place, more on the heap.
#[derive(Clone, Debug)]
pub(crate) enum InlineVec<T, const N: usize> {
    /// `items[..len]` are the elements; the rest are zeros.
    Inline { len: usize, items: [T; N] },
    /// Spilled (or made with a larger capacity).
    Heap(Vec<T>),
}

impl<T: Copy + FromZeros, const N: usize> Default for InlineVec<T, N> {
    #[inline]
    fn default() -> Self {
        InlineVec::Inline {
            len: 0,
            items: FromZeros::new_zeroed(),
        }
    }
}

impl<T: Copy + FromZeros, const N: usize> InlineVec<T, N> {
    /// Empty, inline when `cap` elements fit, else on the heap with room for `cap`.
    pub(crate) fn with_capacity(cap: usize) -> Self {
        if cap <= N {
            Self::default()
        } else {
            InlineVec::Heap(Vec::with_capacity(cap))
        }
    }

    /// Append `n` zeros.
    #[inline]
    pub(crate) fn extend_zeroed(&mut self, n: usize) {
        match self {
            // The inline tail beyond `len` is always zero (nothing shrinks).
            InlineVec::Inline { len, .. } if n <= N - *len => *len += n,
            InlineVec::Inline { .. } => {
                let v = self.spill(n);
                v.resize(v.len() + n, T::new_zeroed());
            }
            InlineVec::Heap(v) => v.resize(v.len() + n, T::new_zeroed()),
        }
    }
}

impl<T: Copy + FromZeros, const N: usize> InlineVec<T, N> {
    // (continued: the operations that do not zero)
    /// Move to the heap with room for `extra` more elements.
    #[cold]
    #[inline(never)]
    fn spill(&mut self, extra: usize) -> &mut Vec<T> {
        if let InlineVec::Inline { len, items } = self {
            let mut v = Vec::with_capacity((*len + extra).max(2 * N));
            v.extend_from_slice(&items[..*len]);
            *self = InlineVec::Heap(v);
        }
        match self {
            InlineVec::Heap(v) => v,
            InlineVec::Inline { .. } => unreachable!("just spilled"),
        }
    }

    /// Append one element.
    #[inline]
    pub(crate) fn push(&mut self, value: T) {
        match self {
            InlineVec::Inline { len, items } if *len < N => {
                items[*len] = value;
                *len += 1;
            }
            InlineVec::Inline { .. } => self.spill(1).push(value),
            InlineVec::Heap(v) => v.push(value),
        }
    }

    /// Append `values`.
    #[inline]
    pub(crate) fn extend_from_slice(&mut self, values: &[T]) {
        match self {
            InlineVec::Inline { len, items } if values.len() <= N - *len => {
                items[*len..*len + values.len()].copy_from_slice(values);
                *len += values.len();
            }
            InlineVec::Inline { .. } => self.spill(values.len()).extend_from_slice(values),
            InlineVec::Heap(v) => v.extend_from_slice(values),
        }
    }
}

impl<T, const N: usize> Deref for InlineVec<T, N> {
    type Target = [T];

    #[inline]
    fn deref(&self) -> &[T] {
        match self {
            InlineVec::Inline { len, items } => &items[..*len],
            InlineVec::Heap(v) => v,
        }
    }
}

impl<T, const N: usize> DerefMut for InlineVec<T, N> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [T] {
        match self {
            InlineVec::Inline { len, items } => &mut items[..*len],
            InlineVec::Heap(v) => v,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spills_and_keeps_order() {
        let mut v: InlineVec<u32, 3> = InlineVec::default();
        let mut model = Vec::new();
        for i in 0..20u32 {
            match i % 3 {
                0 => {
                    v.push(i);
                    model.push(i);
                }
                1 => {
                    v.extend_from_slice(&[i, i + 100]);
                    model.extend_from_slice(&[i, i + 100]);
                }
                _ => {
                    v.extend_zeroed(2);
                    model.extend_from_slice(&[0, 0]);
                }
            }
            assert_eq!(&v[..], &model[..]);
        }
        assert!(matches!(v, InlineVec::Heap(_)));
        let w: InlineVec<u8, 4> = InlineVec::with_capacity(5);
        assert!(matches!(w, InlineVec::Heap(ref h) if h.capacity() >= 5));
    }

    #[test]
    fn inline_tail_stays_zero() {
        let mut v: InlineVec<u8, 8> = InlineVec::default();
        v.extend_from_slice(&[1, 2, 3]);
        v.extend_zeroed(2);
        v.push(9);
        assert_eq!(&v[..], &[1, 2, 3, 0, 0, 9]);
        assert!(matches!(v, InlineVec::Inline { .. }));
    }
}
