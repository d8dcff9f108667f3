// filemap: aligned read-only file mappings, and moving a cached file into
// huge pages without changing a byte of what the mapping reads.
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/filemap.h"
#include "testutil.h"

#define MIB ((size_t)1 << 20)

static uint8_t pattern(size_t i) { return (uint8_t)(i * 2654435761u >> 13); }

// Writes size bytes of the pattern to path (through the page cache, as a
// download or a copy does); returns an fd open for reading, or -1.
static int make_file(const char *path, size_t size) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  uint8_t buf[65536];
  for (size_t off = 0; off < size; off += sizeof buf) {
    size_t n = size - off < sizeof buf ? size - off : sizeof buf;
    for (size_t i = 0; i < n; i++) buf[i] = pattern(off + i);
    if (fwrite(buf, 1, n, f) != n) break;
  }
  if (fclose(f) != 0) return -1;
  return open(path, O_RDONLY);
}

static bool reads_pattern(const uint8_t *p, size_t size) {
  for (size_t i = 0; i < size; i++)
    if (p[i] != pattern(i)) return false;
  return true;
}

// The pattern written to path and mapped, or NULL (a failed check).
static uint8_t *map_new_file(const char *path, size_t size) {
  int fd = make_file(path, size);
  CHECK_MSG(fd >= 0, "cannot write %s", path);
  if (fd < 0) return NULL;
  uint8_t *p = filemap_map(fd, size);
  close(fd);
  CHECK(p != NULL);
  return p;
}

static void test_map(void) {
  const char *path = "filemap_small.bin";
  size_t size = 3 * MIB + 123, len = (size + 4095) & ~(size_t)4095;
  uint8_t *p = map_new_file(path, size);
  if (!p) return;
  CHECK_MSG((uintptr_t)p % (2 * MIB) == 0, "mapping at %p is not 2 MiB-aligned", (void *)p);
  CHECK(reads_pattern(p, size));
  // The reservation past the mapping is given back.
  unsigned char vec[1];
  CHECK(mincore(p + len, 4096, vec) == -1 && errno == ENOMEM);
  CHECK(!filemap_promote(path, p, size, NULL, NULL));  // too small to be worth a second read
  munmap(p, size);
  unlink(path);
}

static void test_promote(void) {
  const char *path = "filemap_large.bin";
  size_t size = 80 * MIB + 4096 + 7;
  uint8_t *p = map_new_file(path, size);
  if (!p) return;
  filemap_touch(p, size, NULL, NULL);
  setenv("LLMUX_NO_HUGEPAGES", "1", 1);
  CHECK(!filemap_promote(path, p, size, NULL, NULL));
  unsetenv("LLMUX_NO_HUGEPAGES");
  bool promoted = filemap_promote(path, p, size, NULL, NULL);
  CHECK(reads_pattern(p, size));  // dropped from the cache and read back: the same bytes
  size_t huge = filemap_huge_bytes(p);
  printf("note: promoted %s, %zu of %zu bytes in huge pages\n", promoted ? "yes" : "no (not offered here)", huge,
         size);
  if (huge >= size / 2) CHECK(!filemap_promote(path, p, size, NULL, NULL));  // once is enough
  munmap(p, size);
  unlink(path);
}

// A file system whose page cache keeps small folios (tmpfs) is left alone:
// a second read there would cost without giving huge pages.
static void test_no_promote_on_tmpfs(void) {
  const char *path = "/dev/shm/llmux_filemap_test.bin";
  size_t size = 65 * MIB;
  uint8_t *p = map_new_file(path, size);
  if (!p) return;
  filemap_touch(p, size, NULL, NULL);
  CHECK(!filemap_promote(path, p, size, NULL, NULL));
  CHECK(reads_pattern(p, size));
  munmap(p, size);
  unlink(path);
}

int main(void) {
  test_map();
  test_promote();
  test_no_promote_on_tmpfs();
  return tu_finish();
}
