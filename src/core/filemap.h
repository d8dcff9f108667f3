// filemap: read-only mappings of large files (model weights) that Linux can
// back with 2 MiB pages, the means to make it do so, and anonymous memory in
// 2 MiB pages for weights kept in another layout.
//
// Generation reads every weight once per token. With 4 KiB pages a 500 MiB
// model is 128 thousand page-table walks per token; with 2 MiB pages, 250.
// Measured on an AMD Zen 5 (docs/PERFORMANCE.md, session 9): tokens/s +9-11%
// on one thread for Q8_0 and Q4_K models, +9% on two for Q8_0.
//
// Linux maps a file with 2 MiB pages when the mapping is aligned to 2 MiB,
// asks for them (MADV_HUGEPAGE), and the page cache holds the file in 2 MiB
// folios, which ext4 (Linux 6.16 on) and XFS read in when the faults come
// through such a mapping. A file cached earlier in small folios (just
// written, downloaded or copied) stays so until it leaves the cache:
// filemap_promote drops it from the cache and reads it back.
#ifndef LLMUX_FILEMAP_H
#define LLMUX_FILEMAP_H
#include <stdbool.h>
#include <stddef.h>

// Anonymous memory of size bytes, 2 MiB-aligned and asked to be backed by
// 2 MiB pages, for weights the engine keeps in a layout of its own (the same
// page-walk saving as a file mapped so). NULL on failure. Free with
// filemap_free_anon(p, size).
void *filemap_alloc_anon(size_t size);
void filemap_free_anon(void *p, size_t size);

// Drops the whole pages of [p, p + size) of a read-only file mapping from
// this process's page tables: its resident memory shrinks; the page cache
// keeps the data, and a later read maps it back.
void filemap_release(const void *p, size_t size);

// This process's resident memory (VmRSS), 0 when unknown: what the model
// loader reports, since a loaded model should hold about its file's size.
size_t filemap_resident_bytes(void);

// Maps size bytes of fd read-only at a 2 MiB-aligned address and asks for
// huge pages. NULL on failure, with errno set.
void *filemap_map(int fd, size_t size);

// Reads every page of the mapping once (so that the first request does not
// pay for the disk), reporting the fraction done.
void filemap_touch(const void *base, size_t size, void (*progress)(float, void *), void *user);

// Bytes of the mapping that starts at base that are mapped with huge pages
// (from /proc/self/smaps); 0 when unknown.
size_t filemap_huge_bytes(const void *base);

// When less than half of a touched mapping of path is in huge pages and
// its file system can provide them, drops the file from the page cache
// (only pages no other process maps go) and touches the mapping again, so
// that it is read back in 2 MiB folios. Returns true when it did.
// LLMUX_NO_HUGEPAGES=1 turns this off.
bool filemap_promote(const char *path, const void *base, size_t size, void (*progress)(float, void *), void *user);

#endif
