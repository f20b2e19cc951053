//! Counts a process's heap allocations for the load benchmark (LD_PRELOAD): every malloc, calloc, realloc and aligned
//! allocation adds one to a counter (and its size to a byte total) kept in a file the benchmark maps too, so it reads
//! the counts of the bot under test at any moment without signals or an exit hook. The file is named by
//! MALLOC_COUNT_FILE and must exist with at least 16 bytes; without it the counts go nowhere and nothing else changes.
//! Build: gcc -O2 -shared -fPIC -o malloc_count.so host/benches/malloc_count.c (scripts/bench-reference.sh does).
#define _GNU_SOURCE
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* glibc's own entry points: no dlsym (which itself allocates) needed to reach the real allocator. */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

/* [0]: allocations, [1]: bytes asked for. Before the file is mapped (or without one) they count here. */
static uint64_t fallback[2];
static uint64_t *counts = fallback;

__attribute__((constructor)) static void malloc_count_init(void) {
    const char *path = getenv("MALLOC_COUNT_FILE");
    if (path == NULL) {
        return;
    }
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        return;
    }
    void *map = mmap(NULL, 2 * sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (map != MAP_FAILED) {
        counts = map;
    }
}

static inline void note(size_t size) {
    __atomic_fetch_add(&counts[0], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&counts[1], size, __ATOMIC_RELAXED);
}

void *malloc(size_t size) {
    note(size);
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size) {
    note(n * size);
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size) {
    note(size);
    return __libc_realloc(p, size);
}

void free(void *p) { __libc_free(p); }

int posix_memalign(void **out, size_t align, size_t size) {
    note(size);
    void *p = __libc_memalign(align, size);
    if (p == NULL) {
        return 12; /* ENOMEM */
    }
    *out = p;
    return 0;
}

void *aligned_alloc(size_t align, size_t size) {
    note(size);
    return __libc_memalign(align, size);
}

void *memalign(size_t align, size_t size) {
    note(size);
    return __libc_memalign(align, size);
}
