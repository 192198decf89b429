#ifndef SLUICE_CPREFETCH_SHIM_H
#define SLUICE_CPREFETCH_SHIM_H

// Swift has no prefetch intrinsic. The matcher knows some table slots it will read well before
// it reads them (a leaf's atom slot, from the bytes the walk records): starting those loads
// early lets their cache misses overlap instead of stalling one after another. On x86-64 this
// is one `prefetcht0` (read, keep in all cache levels); it never faults.
static inline void sluice_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

#endif
