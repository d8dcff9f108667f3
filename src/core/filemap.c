// filemap: see filemap.h.
#include "core/filemap.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "core/log.h"

#define HUGE_PAGE ((size_t)2 << 20)
#define PROMOTE_MIN ((size_t)64 << 20)  // smaller files: a few hundred walks, not worth a second read
#define EXT4_MAGIC 0xEF53
#define XFS_MAGIC 0x58465342

// A 2 MiB-aligned start for len bytes: reserves len + 2 MiB, keeps the
// aligned part (PROT_NONE, to be mapped over), gives the rest back.
static uint8_t *reserve_aligned(size_t len) {
  size_t total = len + HUGE_PAGE;
  uint8_t *res = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (res == MAP_FAILED) return NULL;
  uint8_t *at = (uint8_t *)(((uintptr_t)res + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
  if (at > res) munmap(res, (size_t)(at - res));
  munmap(at + len, (size_t)(res + total - (at + len)));
  return at;
}

static size_t page_round(size_t size) { return (size + 4095) & ~(size_t)4095; }

void *filemap_alloc_anon(size_t size) {
  size_t len = page_round(size);
  uint8_t *at = reserve_aligned(len);
  if (!at) return NULL;
  void *p = mmap(at, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  if (p == MAP_FAILED) {
    munmap(at, len);
    return NULL;
  }
  madvise(p, len, MADV_HUGEPAGE);
  return p;
}

void filemap_free_anon(void *p, size_t size) {
  if (p) munmap(p, page_round(size));
}

void filemap_release(const void *p, size_t size) {
  uintptr_t a = ((uintptr_t)p + 4095) & ~(uintptr_t)4095, b = ((uintptr_t)p + size) & ~(uintptr_t)4095;
  if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
}

void *filemap_map(int fd, size_t size) {
  size_t len = page_round(size);
  uint8_t *at = reserve_aligned(len);
  if (!at) return NULL;
  void *map = mmap(at, size, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0);
  if (map == MAP_FAILED) {
    int e = errno;  // the caller reports why the file would not map
    munmap(at, len);
    errno = e;
    return NULL;
  }
  madvise(map, size, MADV_HUGEPAGE);  // a hint: where it is refused, the mapping still works
  return map;
}

void filemap_touch(const void *base, size_t size, void (*progress)(float, void *), void *user) {
  const volatile uint8_t *p = base;
  size_t chunk = (size_t)64 << 20;
  madvise((void *)((uintptr_t)p & ~(uintptr_t)4095), size, MADV_WILLNEED);
  uint8_t sink = 0;
  for (size_t off = 0; off < size; off += chunk) {
    size_t end = off + chunk < size ? off + chunk : size;
    for (size_t i = off; i < end; i += 4096) sink ^= p[i];
    if (progress) progress((float)end / (float)size, user);
  }
  (void)sink;
}

size_t filemap_huge_bytes(const void *base) {
  FILE *f = fopen("/proc/self/smaps", "r");
  if (!f) return 0;
  char line[4352], want[32];  // a header line holds a path of up to PATH_MAX
  snprintf(want, sizeof want, "%" PRIxPTR "-", (uintptr_t)base);
  size_t kb = 0;
  bool in = false;
  while (fgets(line, sizeof line, f)) {
    if (strchr(line, '-') && strchr(line, ' ') > strchr(line, '-')) {  // a mapping's header line
      if (in) break;
      in = strncmp(line, want, strlen(want)) == 0;
    } else if (in && sscanf(line, "FilePmdMapped: %zu kB", &kb) == 1) {
      break;
    }
  }
  fclose(f);
  return kb * 1024;
}

size_t filemap_resident_bytes(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  size_t kb = 0;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %zu kB", &kb) == 1) break;
  fclose(f);
  return kb * 1024;
}

// The file systems whose page cache holds large folios (XFS; ext4 from 6.16).
static bool fs_gives_huge_pages(int fd) {
  struct statfs s;
  if (fstatfs(fd, &s) != 0) return false;
  if ((unsigned long)s.f_type == XFS_MAGIC) return true;
  if ((unsigned long)s.f_type != EXT4_MAGIC) return false;
  struct utsname u;
  int major = 0, minor = 0;
  if (uname(&u) != 0 || sscanf(u.release, "%d.%d", &major, &minor) != 2) return false;
  return major > 6 || (major == 6 && minor >= 16);
}

static bool thp_enabled(void) {
  FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
  if (!f) return false;
  char buf[128] = {0};
  bool on = fgets(buf, sizeof buf, f) && !strstr(buf, "[never]");
  fclose(f);
  return on;
}

bool filemap_promote(const char *path, const void *base, size_t size, void (*progress)(float, void *), void *user) {
  const char *off = getenv("LLMUX_NO_HUGEPAGES");
  if ((off && *off && strcmp(off, "0") != 0) || size < PROMOTE_MIN || !thp_enabled()) return false;
  if (access("/proc/self/smaps", R_OK) != 0) return false;  // no way to tell; never read the file twice blind
  if (filemap_huge_bytes(base) >= size / 2) return false;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool can = fs_gives_huge_pages(fd);
  if (can) {
    log_info("%s: cached in 4 KiB pages; reading it again to map it in 2 MiB pages", path);
    madvise((void *)base, size, MADV_DONTNEED);  // our page-table entries; the cache keeps the data
    (void)fdatasync(fd);                         // pages still dirty (a file just written) would stay
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  }
  close(fd);
  if (!can) return false;
  filemap_touch(base, size, progress, user);
  size_t huge = filemap_huge_bytes(base);
  if (huge < size / 2)  // another process maps it, or memory is too fragmented for 2 MiB folios
    log_warn("%s: read twice but only %.0f%% came in 2 MiB pages; LLMUX_NO_HUGEPAGES=1 skips the second read", path,
             100.0 * (double)huge / (double)size);
  else
    log_info("%s: %.0f%% in 2 MiB pages", path, 100.0 * (double)huge / (double)size);
  return true;
}
