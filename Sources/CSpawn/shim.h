#ifndef SLUICE_CSPAWN_SHIM_H
#define SLUICE_CSPAWN_SHIM_H
#include <spawn.h>

// glibc 2.34+ declares this only under _GNU_SOURCE, which Swift's Glibc module is not built
// with; the symbol is in libc. It closes every descriptor from `from` up in the child, after the
// file actions before it (the dup2s onto stdio).
int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int from);

#endif
