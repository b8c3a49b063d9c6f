// The libfuse (high-level, path-based API) callback table of strata-aufs: each callback unpacks
// its arguments and calls one UnionFs method. fuse_new() gets the UnionFs as user_data; the
// callbacks find it through fuse_get_context()->private_data.
#pragma once

#include <fuse.h>

namespace strata::aufs {

// The operations table. Tuning done in init(): 1 MiB max_write and readahead, splice in both
// directions, readdirplus, parallel dirops, symlink caching, use_ino (InodeTable numbers),
// nullpath_ok + hard_remove (no .fuse_hidden files in the rw branch), one-day entry and negative
// timeouts, one-second attribute timeout (see fuse_fs.cc), keep_cache on files opened from read-only branches.
const fuse_operations& Operations();

}  // namespace strata::aufs
